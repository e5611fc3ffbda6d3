"""Child process for the DDS test: publishes each sample message on /samples/<Type> until killed."""

from __future__ import annotations

import rclpy
from rclpy.node import Node

from support.sample_messages import build_samples


def main() -> None:
    rclpy.init()
    node = Node("sample_publisher")
    samples = build_samples()
    pubs = {name: node.create_publisher(type(msg), f"/samples/{name}", 10) for name, msg in samples.items()}

    def publish() -> None:
        for name, msg in samples.items():
            pubs[name].publish(msg)

    node.create_timer(0.1, publish)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
