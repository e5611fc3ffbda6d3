"""live_view node: the loop's topics, live, over the Foxglove WebSocket protocol (``foxglove-sdk``).

Open Foxglove, "Open connection", ``ws://127.0.0.1:8765``, and load ``config/foxglove/spec_decode.json``.
Each topic becomes a channel with its ROS 2 schema (``ros2msg``, the full definition) and CDR payloads
straight from raw subscriptions, under the same absolute names and with the same derived streams as the
recorder's bags (``analysis.derived``: camera as JPEG, ``decoder/answer``, ``/tf`` from ``odom``), so
one layout serves both. The server listens on loopback unless told otherwise.

Parameters: ``host`` (default ``127.0.0.1``), ``port`` (default 8765), ``topics`` (default: every topic
of the loop), ``camera_format`` (``jpeg``, the default, or ``raw``), ``jpeg_quality`` (default 80).
"""

from __future__ import annotations

import foxglove
from rclpy.node import Node

from spec_decode_ros import topics
from spec_decode_ros.analysis.derived import DerivedStreams, absolute, message_definition
from spec_decode_ros.nodes.common import message_class, run_node
from spec_decode_ros.nodes.qos import subscription_qos


class LiveView(Node):
    def __init__(self) -> None:
        super().__init__("live_view")
        host = self.declare_parameter("host", "127.0.0.1").value
        port = int(self.declare_parameter("port", 8765).value)
        wanted = self.declare_parameter("topics", list(topics.TYPES)).value
        camera = self.declare_parameter("camera_format", "jpeg").value
        quality = int(self.declare_parameter("jpeg_quality", 80).value)
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        unknown = [t for t in wanted if t not in topics.TYPES]
        if unknown:
            raise ValueError(f"no known message type for topics {unknown}")
        self.derived = DerivedStreams(camera, quality)
        namespace = self.get_namespace()
        self.channels = {
            topic: foxglove.Channel(absolute(topic, namespace), message_encoding="cdr",
                                    schema=foxglove.Schema(name=msgtype, encoding="ros2msg",
                                                           data=message_definition(msgtype).encode()))
            for topic, msgtype in self.derived.types(wanted).items()}
        self.server = foxglove.start_server(name="spec_decode_ros", host=host, port=port)
        for topic in wanted:
            self.create_subscription(message_class(topics.TYPES[topic]), topic,
                                     lambda raw, topic=topic: self._on_message(topic, raw), subscription_qos(topic),
                                     raw=True)
        self.get_logger().info(f"live view on ws://{host}:{self.server.port} ({len(self.channels)} channels)")

    def _on_message(self, topic: str, raw: bytes) -> None:
        now = self.get_clock().now().nanoseconds
        try:
            out = self.derived.feed(topic, raw)
        except ValueError as err:
            self.get_logger().error(f"{topic}: {err}")
            return
        for name, cdr in out:
            self.channels[name].log(cdr, log_time=now)

    def close(self) -> None:
        self.server.stop()


def main(args: list[str] | None = None) -> int:
    return run_node(LiveView, args)


if __name__ == "__main__":
    main()
