"""recorder node: writes the loop's topics to an MCAP rosbag2 with `rosbags` (no ``ros2 bag``
needed), under their absolute names (``/odom``, as ``ros2 bag record`` names them). Raw subscriptions
hand CDR bytes to ``analysis.derived.DerivedStreams``, which adds what lab tools want (the camera as JPEG,
``decoder/answer``, ``/tf`` from ``odom``); the log time is the receive time on the node's clock (simulated time under ``use_sim_time``; what arrives
before the first ``/clock``, at most ``MAX_EARLY`` messages, is written at the clock's first reading). Every message definition
(this package's too) is embedded in the MCAP, so tools without this package decode the bag.

Every ``status_s`` seconds in which something new was recorded it logs ``recorded N messages: {topic: n}``
(shows the recording is alive; tests wait on it).

Parameters: ``bag_path`` (required; must not exist), ``topics`` (default: every topic of the loop),
``status_s`` (5.0), ``camera_format`` (``jpeg``, the default, or ``raw``),
``jpeg_quality`` (default 90).
"""

from __future__ import annotations

from rclpy.node import Node

from spec_decode_ros import topics
from spec_decode_ros.analysis.bag import BagWriter
from spec_decode_ros.analysis.derived import DerivedStreams, absolute
from spec_decode_ros.nodes.common import message_class, run_node
from spec_decode_ros.nodes.qos import subscription_qos

MAX_EARLY = 1000  # messages held while use_sim_time waits for its first /clock


class Recorder(Node):
    def __init__(self) -> None:
        super().__init__("recorder")
        path = self.declare_parameter("bag_path", "").value
        wanted = self.declare_parameter("topics", list(topics.TYPES)).value
        status_s = float(self.declare_parameter("status_s", 5.0).value)
        camera = self.declare_parameter("camera_format", "jpeg").value
        quality = int(self.declare_parameter("jpeg_quality", 90).value)
        if not path:
            raise ValueError("parameter bag_path is required")
        unknown = [t for t in wanted if t not in topics.TYPES]
        if unknown:
            raise ValueError(f"no known message type for topics {unknown}")
        if not status_s > 0:
            raise ValueError(f"status_s must be positive, got {status_s}")
        self.derived = DerivedStreams(camera, quality)
        self.namespace = self.get_namespace()
        self.writer = BagWriter(path, {absolute(t, self.namespace): ty for t, ty in self.derived.types(wanted).items()})
        for topic in wanted:
            self.create_subscription(message_class(topics.TYPES[topic]), topic,
                                     lambda raw, topic=topic: self._on_message(topic, raw), subscription_qos(topic),
                                     raw=True)
        self.logged_total = 0
        self.early: list[tuple[str, bytes]] = []  # received before the clock started (use_sim_time)
        self.create_timer(status_s, self._log_status)
        self.get_logger().info(f"recording {len(wanted)} topics to {path} (camera as {camera})")

    def _on_message(self, topic: str, raw: bytes) -> None:
        now = self.get_clock().now().nanoseconds
        if now == 0:  # use_sim_time, no /clock yet: keep it for the clock's first reading
            if len(self.early) < MAX_EARLY:
                self.early.append((topic, raw))
            else:
                self.get_logger().error(f"{topic}: no /clock yet and {MAX_EARLY} messages held: dropped",
                                        throttle_duration_sec=5.0)
            return
        if self.early:
            held, self.early = self.early, []
            for early_topic, early_raw in held:
                self._write(early_topic, early_raw, now)
        self._write(topic, raw, now)

    def _write(self, topic: str, raw: bytes, now: int) -> None:
        try:
            out = self.derived.feed(topic, raw)
        except ValueError as err:  # keep the message as it came, say why it was not derived
            self.get_logger().error(f"{topic}: {err}")
            out = [(topic, raw)] if topic != topics.CAMERA_IMAGE or self.derived.camera == "raw" else []
        for name, cdr in out:
            self.writer.write(absolute(name, self.namespace), now, cdr)

    def _log_status(self) -> None:
        counts = dict(self.writer.counts)
        total = sum(counts.values())
        if total != self.logged_total:
            self.logged_total = total
            self.get_logger().info(f"recorded {total} messages: {counts}")

    def close(self) -> None:
        self.writer.close()
        self.get_logger().info(f"bag closed: {self.writer.path} {self.writer.counts}")


def main(args: list[str] | None = None) -> int:
    return run_node(Recorder, args)


if __name__ == "__main__":
    main()
