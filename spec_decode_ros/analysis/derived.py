"""The streams the recorder and the live view add to the loop's own, so that lab tools show a run as is.

From the raw CDR bytes of the loop's topics (no ROS needed: ``rosbags``' type store (de)serializes):

- ``camera/image_raw`` -> ``camera/image_raw/compressed`` (``sensor_msgs/CompressedImage``, JPEG) when
  ``camera="jpeg"`` (the raw image is then dropped: a 640x480 camera at 10 Hz is 9 MB/s raw);
- ``decoder/tokens`` -> ``decoder/answer`` (``std_msgs/String``): a request's whole answer text once its
  last token is final;
- ``odom`` -> ``/tf`` (``tf2_msgs/TFMessage``): odom -> base_link, the odometry's own stamp and frames.

Every other topic passes through unchanged. Names are relative, as in ``topics``; ``absolute`` gives the
name a bag or a WebSocket channel carries (``ros2 bag record`` and Foxglove use absolute names).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from spec_decode_ros import topics
from spec_decode_ros.analysis.typestore import typestore

CAMERA_FORMATS = ("jpeg", "raw")


def absolute(topic: str, namespace: str = "/") -> str:
    """``odom`` -> ``/odom`` (or ``/robot1/odom`` in namespace ``/robot1``); absolute names stay."""
    if topic.startswith("/"):
        return topic
    return namespace.rstrip("/") + "/" + topic


def message_definition(msgtype: str) -> str:
    """The full ``ros2msg`` text of a type with every nested definition, as MCAP and Foxglove carry it."""
    text, _ = typestore().generate_msgdef(msgtype, ros_version=2)
    return text


class DerivedStreams:
    """Turns the loop's messages (topic, CDR) into what a bag or a live view carries (topic, CDR)."""

    def __init__(self, camera: str = "jpeg", jpeg_quality: int = 90) -> None:
        if camera not in CAMERA_FORMATS:
            raise ValueError(f"camera format must be one of {', '.join(CAMERA_FORMATS)}, got {camera!r}")
        if not 1 <= jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1..100, got {jpeg_quality}")
        self.camera, self.jpeg_quality = camera, jpeg_quality
        self._store = typestore()
        self._answers: dict[int, str] = {}

    def types(self, sources: Iterable[str]) -> dict[str, str]:
        """Output topic -> message type, for these source topics (of ``topics.TYPES``)."""
        out: dict[str, str] = {}
        for topic in sources:
            if topic not in topics.TYPES:
                raise ValueError(f"no known message type for topic {topic!r}")
            if topic != topics.CAMERA_IMAGE or self.camera == "raw":
                out[topic] = topics.TYPES[topic]
            derived = {topics.CAMERA_IMAGE: topics.CAMERA_JPEG if self.camera == "jpeg" else None,
                       topics.TOKENS: topics.ANSWER, topics.ODOM: topics.TF}.get(topic)
            if derived is not None:
                out[derived] = topics.DERIVED_TYPES[derived]
        return out

    def feed(self, topic: str, cdr: bytes) -> list[tuple[str, bytes]]:
        """What one received message becomes; ValueError for bytes that do not decode as the topic's type."""
        if topic == topics.CAMERA_IMAGE:
            return [(topics.CAMERA_JPEG, self._jpeg(cdr))] if self.camera == "jpeg" else [(topic, cdr)]
        out = [(topic, cdr)]
        if topic == topics.TOKENS:
            answer = self._answer(cdr)
            if answer is not None:
                out.append((topics.ANSWER, answer))
        elif topic == topics.ODOM:
            out.append((topics.TF, self._tf(cdr)))
        return out

    def _decode(self, cdr: bytes, msgtype: str) -> Any:
        try:
            return self._store.deserialize_cdr(cdr, msgtype)
        except Exception as err:  # rosbags raises several kinds for truncated or foreign bytes
            raise ValueError(f"{len(cdr)} bytes do not decode as {msgtype}: {err}") from err

    def _jpeg(self, cdr: bytes) -> bytes:
        import cv2

        img = self._decode(cdr, "sensor_msgs/msg/Image")
        channels = {"rgb8": 3, "bgr8": 3, "mono8": 1}.get(img.encoding)
        if channels is None:
            raise ValueError(f"camera encoding {img.encoding!r} is not one of rgb8, bgr8, mono8")
        pixels = np.asarray(img.data, np.uint8).reshape(img.height, img.step)[:, :img.width * channels]
        pixels = pixels.reshape(img.height, img.width, channels)
        if img.encoding == "rgb8":
            pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise ValueError(f"could not JPEG-encode a {img.width}x{img.height} {img.encoding} image")
        compressed = self._store.types["sensor_msgs/msg/CompressedImage"]
        msg = compressed(header=img.header, format="jpeg", data=np.asarray(jpeg, np.uint8).reshape(-1))
        return bytes(self._store.serialize_cdr(msg, "sensor_msgs/msg/CompressedImage"))

    def _answer(self, cdr: bytes) -> bytes | None:
        msg = self._decode(cdr, topics.TYPES[topics.TOKENS])
        rid = int(msg.request_id)
        self._answers[rid] = self._answers.get(rid, "") + msg.text
        if not msg.final:
            return None
        text = self._answers.pop(rid)
        string = self._store.types["std_msgs/msg/String"](data=text)
        return bytes(self._store.serialize_cdr(string, "std_msgs/msg/String"))

    def _tf(self, cdr: bytes) -> bytes:
        odom = self._decode(cdr, topics.TYPES[topics.ODOM])
        types = self._store.types
        p = odom.pose.pose.position
        transform = types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](x=p.x, y=p.y, z=p.z), rotation=odom.pose.pose.orientation)
        stamped = types["geometry_msgs/msg/TransformStamped"](header=odom.header, child_frame_id=odom.child_frame_id,
                                                              transform=transform)
        tf = types["tf2_msgs/msg/TFMessage"](transforms=[stamped])
        return bytes(self._store.serialize_cdr(tf, "tf2_msgs/msg/TFMessage"))
