"""What the recorder adds for lab tools (camera as JPEG, answers, /tf from odometry), and a bag of it
that an independent reader (the ``mcap`` + ``mcap-ros2-support`` libraries, which know nothing of this
package) decodes channel by channel from the definitions embedded in it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image
from support.loop_bag import write_loop_bag

from spec_decode_ros import topics
from spec_decode_ros.analysis.derived import DerivedStreams, absolute, message_definition
from spec_decode_ros.msg import TokenStream


def test_camera_becomes_a_jpeg_that_decodes_to_the_same_picture():
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:, :32] = (250, 10, 10)  # left half red, right half black
    img = Image(height=48, width=64, encoding="rgb8", step=64 * 3, data=rgb.tobytes())
    img.header.frame_id = "front_camera"
    [(topic, cdr)] = DerivedStreams("jpeg").feed(topics.CAMERA_IMAGE, serialize_message(img))
    assert topic == topics.CAMERA_JPEG
    from spec_decode_ros.analysis.typestore import typestore

    msg = typestore().deserialize_cdr(cdr, "sensor_msgs/msg/CompressedImage")
    assert msg.format == "jpeg" and msg.header.frame_id == "front_camera"
    bgr = cv2.imdecode(np.asarray(msg.data, np.uint8), cv2.IMREAD_COLOR)
    assert bgr.shape == (48, 64, 3)
    assert bgr[24, 10, 2] > 200 and bgr[24, 10, 0] < 60 and bgr[24, 50].max() < 40
    assert DerivedStreams("raw").feed(topics.CAMERA_IMAGE, b"raw") == [(topics.CAMERA_IMAGE, b"raw")]


def test_answer_is_the_whole_text_once_the_last_token_is_final():
    derived = DerivedStreams()
    pieces = [TokenStream(request_id=7, text="turn left "), TokenStream(request_id=8, text="stop"),
              TokenStream(request_id=7, text="30.", final=True)]
    outs = [derived.feed(topics.TOKENS, serialize_message(m)) for m in pieces]
    assert [len(o) for o in outs] == [1, 1, 2]  # the token stream always passes through
    from spec_decode_ros.analysis.typestore import typestore

    assert typestore().deserialize_cdr(outs[2][1][1], "std_msgs/msg/String").data == "turn left 30."


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="camera format"):
        DerivedStreams("png")
    with pytest.raises(ValueError, match="do not decode as sensor_msgs/msg/Image"):
        DerivedStreams().feed(topics.CAMERA_IMAGE, b"\x00\x01\x00\x00\x05")
    bad = Image(height=2, width=2, encoding="32FC1", step=8, data=bytes(16))
    with pytest.raises(ValueError, match="32FC1"):
        DerivedStreams().feed(topics.CAMERA_IMAGE, serialize_message(bad))


def test_names_are_absolute_as_ros2_bag_writes_them():
    assert absolute("odom") == "/odom" and absolute("/tf", "/robot1") == "/tf"
    assert absolute("camera/image_raw", "/robot1") == "/robot1/camera/image_raw"


def test_custom_definitions_are_complete_with_nested_types():
    text = message_definition("spec_decode_ros/msg/TokenStream")
    assert "token_ids" in text and "image_stamp" in text
    assert "MSG: std_msgs/Header" in text and "MSG: builtin_interfaces/Time" in text


def test_an_independent_mcap_reader_decodes_every_channel(tmp_path: Path):
    bag = write_loop_bag(tmp_path / "demo_like", requests=3)
    [mcap_file] = bag.glob("*.mcap")
    decoded: dict[str, list] = {}
    with open(mcap_file, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        schemas = {s.id: s for s in summary.schemas.values()}
        for channel in summary.channels.values():
            schema = schemas[channel.schema_id]
            assert schema.encoding == "ros2msg" and channel.message_encoding == "cdr"
            if schema.name.startswith("spec_decode_ros/"):  # our own types travel with their full text
                own = (Path(__file__).resolve().parents[2] / "msg" / (schema.name.rsplit("/", 1)[1] + ".msg"))
                first_field = next(ln for ln in own.read_text().splitlines() if ln and not ln.startswith("#"))
                assert first_field.split("#")[0].strip().split()[-1] in schema.data.decode()
                assert "MSG: std_msgs/Header" in schema.data.decode()
        for _schema, channel, _message, msg in reader.iter_decoded_messages():
            decoded.setdefault(channel.topic, []).append(msg)
    expected = {absolute(t) for t in DerivedStreams("jpeg").types(topics.TYPES)}
    written = {absolute(t) for t in [*topics.TYPES, *topics.DERIVED_TYPES] if t != topics.CAMERA_IMAGE}
    assert expected == written
    present = set(decoded)
    assert {"/odom", "/tf", "/decoder/answer", "/camera/image_raw/compressed", "/decoder/tokens",
            "/decoder/stats", "/motion/command", "/go2/executed"} <= present
    assert "/camera/image_raw" not in present  # jpeg by default: no raw copy
    odom = decoded["/odom"][-1]
    assert odom.header.frame_id == "odom" and odom.child_frame_id == "base_link" and odom.pose.pose.position.x > 1.0
    tf = decoded["/tf"][-1].transforms[0]
    assert (tf.header.frame_id, tf.child_frame_id) == ("odom", "base_link")
    assert tf.transform.translation.x == pytest.approx(odom.pose.pose.position.x)
    assert tf.transform.rotation.z == pytest.approx(odom.pose.pose.orientation.z)
    assert [a.data for a in decoded["/decoder/answer"]] == ["turn left 30."] * 3
    assert decoded["/decoder/stats"][0].mode == "sd_ee_predraft"
    assert decoded["/go2/executed"][0].text == "turn left 30"
    assert decoded["/camera/image_raw/compressed"][0].format == "jpeg"
    assert len(decoded["/odom"]) == len(decoded["/tf"]) == 60
