"""recorder node: writes the loop's topics to an MCAP rosbag2 with `rosbags` (no ``ros2 bag``
needed). Raw subscriptions hand CDR bytes straight to the writer; the log time is the receive time.

Every ``status_s`` seconds in which something new was recorded it logs ``recorded N messages: {topic: n}``
(shows the recording is alive; tests wait on it).

Parameters: ``bag_path`` (required; must not exist), ``topics`` (default: every topic of the loop),
``status_s`` (5.0).
"""

from __future__ import annotations

from rclpy.node import Node

from spec_decode_ros import topics
from spec_decode_ros.analysis.bag import BagWriter
from spec_decode_ros.nodes.common import RELIABLE_QOS, SENSOR_QOS, message_class, run_node


class Recorder(Node):
    def __init__(self) -> None:
        super().__init__("recorder")
        path = self.declare_parameter("bag_path", "").value
        wanted = self.declare_parameter("topics", list(topics.TYPES)).value
        status_s = float(self.declare_parameter("status_s", 5.0).value)
        if not path:
            raise ValueError("parameter bag_path is required")
        unknown = [t for t in wanted if t not in topics.TYPES]
        if unknown:
            raise ValueError(f"no known message type for topics {unknown}")
        if not status_s > 0:
            raise ValueError(f"status_s must be positive, got {status_s}")
        self.writer = BagWriter(path, {t: topics.TYPES[t] for t in wanted})
        for topic in wanted:
            qos = SENSOR_QOS if topic == topics.CAMERA_IMAGE else RELIABLE_QOS
            self.create_subscription(message_class(topics.TYPES[topic]), topic,
                                     lambda raw, topic=topic: self._on_message(topic, raw), qos, raw=True)
        self.logged_total = 0
        self.create_timer(status_s, self._log_status)
        self.get_logger().info(f"recording {len(wanted)} topics to {path}")

    def _on_message(self, topic: str, raw: bytes) -> None:
        self.writer.write(topic, self.get_clock().now().nanoseconds, raw)

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
