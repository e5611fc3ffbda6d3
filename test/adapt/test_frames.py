"""Training frames from a recorded bag or an image folder: each frame with the instruction the robot had,
spread evenly under a cap, and frames that do not decode (or declare more pixels than allowed, or fewer bytes
than they claim) skipped and counted before anything is allocated for them."""

from __future__ import annotations

import argparse
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.frames_bag import write_bag

from spec_decode_ros import topics
from spec_decode_ros.adapt import frames
from spec_decode_ros.adapt.frames import decode_image, frames_from_bag, frames_from_images

RNG = np.random.default_rng(0)


def _frames(n: int, side: int = 24) -> list[np.ndarray]:
    return [np.full((side, side, 3), 20 * i, np.uint8) + RNG.integers(0, 8, (side, side, 3), dtype=np.uint8)
            for i in range(n)]


def _png(width: int, height: int, payload: bytes = b"") -> bytes:
    """A PNG signature and IHDR declaring ``width``×``height`` (then ``payload``)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + payload


def _cdr(msgtype: str, **fields: object) -> bytes:
    from spec_decode_ros.analysis.typestore import typestore

    store = typestore()
    header = store.types["std_msgs/msg/Header"](stamp=store.types["builtin_interfaces/msg/Time"](sec=1, nanosec=0),
                                                 frame_id="front_camera")
    return bytes(store.serialize_cdr(store.types[msgtype](header=header, **fields), msgtype))


def test_each_frame_gets_the_last_instruction_before_it(tmp_path: Path):
    shots = _frames(5)
    bag = write_bag(tmp_path / "bag", [("go to the red box", shots[:3]), ("turn left", shots[3:])])
    found = frames_from_bag(bag)
    assert [f.instruction for f in found.frames] == ["go to the red box"] * 3 + ["turn left"] * 2
    assert found.skipped == 0
    for frame, shot in zip(found.frames, shots, strict=True):  # JPEG in the bag: close, not equal
        assert frame.image.shape == shot.shape and np.abs(frame.image.astype(int) - shot).mean() < 6


def test_frames_before_any_instruction_take_the_first_and_a_bag_without_any_needs_one(tmp_path: Path):
    bag = write_bag(tmp_path / "bag", [(None, _frames(2)), ("find the ball", _frames(1))])
    assert [f.instruction for f in frames_from_bag(bag).frames] == ["find the ball"] * 3
    silent = write_bag(tmp_path / "silent", [(None, _frames(2))])
    with pytest.raises(ValueError, match="no instruction messages: give the instruction with --instruction"):
        frames_from_bag(silent)
    assert [f.instruction for f in frames_from_bag(silent, instruction="stop").frames] == ["stop", "stop"]


def test_at_most_max_frames_spread_over_the_bag(tmp_path: Path):
    shots = _frames(10)
    found = frames_from_bag(write_bag(tmp_path / "bag", [("walk", shots)]), max_frames=5)
    assert len(found.frames) == 5
    means = [float(f.image.mean()) for f in found.frames]
    assert means == sorted(means) and means[-1] - means[0] > 100  # every other frame, first to last


def test_frames_that_do_not_decode_or_declare_too_much_are_skipped_and_counted(tmp_path: Path):
    huge_jpeg = b"\xff\xd8\xff\xc0\x00\x11\x08" + struct.pack(">HH", 40000, 40000) + bytes(12) + b"\xff\xd9"
    bad = [(topics.CAMERA_JPEG, _cdr("sensor_msgs/msg/CompressedImage", format="jpeg",
                                     data=np.frombuffer(huge_jpeg, np.uint8))),
           (topics.CAMERA_JPEG, _cdr("sensor_msgs/msg/CompressedImage", format="jpeg",
                                     data=np.frombuffer(b"\xff\xd8not a jpeg", np.uint8)))]
    bag = write_bag(tmp_path / "bag", [("walk", _frames(2))], extra=bad)
    found = frames_from_bag(bag)
    assert len(found.frames) == 2 and found.skipped == 2
    assert "declares 40000×40000 pixels" in found.first_error and "2 skipped" in found.summary()


def test_a_raw_image_that_claims_more_bytes_than_it_holds_is_refused():
    from spec_decode_ros.analysis.typestore import typestore

    store = typestore()
    short = store.deserialize_cdr(_cdr("sensor_msgs/msg/Image", height=64, width=64, encoding="rgb8", step=192,
                                       is_bigendian=0, data=np.zeros(100, np.uint8)), "sensor_msgs/msg/Image")
    with pytest.raises(ValueError, match="holds only 100 bytes"):
        frames._raw_image(short)
    bgr = store.deserialize_cdr(_cdr("sensor_msgs/msg/Image", height=1, width=2, encoding="bgr8", step=6,
                                     is_bigendian=0, data=np.array([1, 2, 3, 4, 5, 6], np.uint8)), "sensor_msgs/msg/Image")
    assert frames._raw_image(bgr).tolist() == [[[3, 2, 1], [6, 5, 4]]]


def test_a_png_declaring_too_many_pixels_is_refused_before_decoding():
    with pytest.raises(ValueError, match="PNG declares 100000×100000 pixels"):
        decode_image(_png(100000, 100000, bytes(64)))
    ok, png = cv2.imencode(".png", np.zeros((5, 7, 3), np.uint8))
    assert decode_image(png.tobytes()).shape == (5, 7, 3)


def test_an_image_folder_takes_one_instruction_for_all_or_one_a_file(tmp_path: Path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i, shot in enumerate(_frames(3)):
        cv2.imwrite(str(folder / f"{i:03d}.png"), shot)
    (folder / "notes.txt").write_text("not an image")
    (folder / "004.jpg").write_bytes(b"\xff\xd8broken")
    one, each, wrong = tmp_path / "one.txt", tmp_path / "each.txt", tmp_path / "wrong.txt"
    one.write_text("go to the door\n")
    each.write_text("a\nb\nc\nd\n")
    wrong.write_text("a\nb\n")
    found = frames_from_images(folder, one)
    assert [f.instruction for f in found.frames] == ["go to the door"] * 3 and found.skipped == 1
    assert [f.source for f in found.frames] == ["000.png", "001.png", "002.png"]
    assert [f.instruction for f in frames_from_images(folder, each).frames] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="2 instructions for 4 images"):
        frames_from_images(folder, wrong)


def test_the_options_name_one_source_and_need_two_frames(tmp_path: Path):
    ap = argparse.ArgumentParser()
    frames.add_arguments(ap, required=False)
    assert frames.from_arguments(ap.parse_args([])) is None
    with pytest.raises(ValueError, match="--images needs --instructions"):
        frames.from_arguments(ap.parse_args(["--images", str(tmp_path)]))
    with pytest.raises(SystemExit):
        ap.parse_args(["--images", str(tmp_path), "--from-bag", str(tmp_path)])
    bag = write_bag(tmp_path / "bag", [("walk", _frames(1))])
    with pytest.raises(ValueError, match="at least 2 frames"):
        frames.from_arguments(ap.parse_args(["--from-bag", str(bag)]), say=lambda line: None)
