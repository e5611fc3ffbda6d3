"""The camera node publishes frames from a real OpenCV source (a video file it can decode) as
rgb8 Images on camera/image_raw with the configured frame and size."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import Image
from support.ros import spinning_node, wait_for

from spec_decode_ros import topics
from spec_decode_ros.nodes.camera import image_to_rgb
from spec_decode_ros.nodes.common import SENSOR_QOS

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training


def write_video(path: Path, frames: int = 40) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for _ in range(frames):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, :32] = (0, 0, 255)  # BGR red on the left half
        frame[:, 32:] = (255, 0, 0)  # BGR blue on the right half
        writer.write(frame)
    writer.release()
    return path


def test_camera_node_publishes_rgb_frames_from_a_video_file(tmp_path: Path):
    video = write_video(tmp_path / "clip.avi")
    frames: list[Image] = []
    node_proc = subprocess.Popen([sys.executable, "-m", "spec_decode_ros.nodes.camera", "--ros-args",
                                  "-p", "source:=opencv", "-p", f"device:={video}", "-p", "rate_hz:=20.0",
                                  "-p", "width:=32", "-p", "height:=24"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        with spinning_node("camera_listener") as node:
            node.create_subscription(Image, topics.CAMERA_IMAGE, frames.append, SENSOR_QOS)
            wait_for(lambda: len(frames) >= 3 or node_proc.poll() is not None, 60, "three camera frames")
    finally:
        node_proc.send_signal(signal.SIGINT)
        out, _ = node_proc.communicate(timeout=20)
    assert len(frames) >= 3, out.decode()
    msg = frames[-1]
    assert (msg.encoding, msg.width, msg.height, msg.header.frame_id) == ("rgb8", 32, 24, "front_camera")
    assert msg.header.stamp.sec > 0
    rgb = image_to_rgb(msg).astype(int)
    assert rgb[12, 4, 0] > 200 and rgb[12, 4, 2] < 60, "left half should be red in RGB order"
    assert rgb[12, 28, 2] > 200 and rgb[12, 28, 0] < 60, "right half should be blue in RGB order"


def test_image_to_rgb_rejects_unknown_encodings():
    msg = Image(height=1, width=1, encoding="mono16", step=2, data=bytes(2))
    try:
        image_to_rgb(msg)
    except ValueError as err:
        assert "mono16" in str(err)
    else:
        raise AssertionError("mono16 was accepted")
