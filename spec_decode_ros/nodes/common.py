"""Small rclpy helpers shared by the nodes: message classes by name, stamps, the control clock, running a node."""

from __future__ import annotations

import importlib
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import rclpy
from builtin_interfaces.msg import Time
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from spec_decode_ros.nodes.qos import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS

__all__ = ["LATCHED_QOS", "RELIABLE_QOS", "SENSOR_QOS", "control_clock", "message_class", "now_stamp", "run_node",
           "time_to_ns"]  # the QoS profiles live in nodes/qos.py; re-exported for the nodes that import them here


def message_class(type_name: str) -> type:
    """``pkg/msg/Type`` -> the generated rclpy message class."""
    pkg, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def now_stamp(node: Node) -> Time:
    """The node's clock now, as a message stamp (every header stamp of the loop)."""
    return node.get_clock().now().to_msg()


def control_clock(node: Node) -> Callable[[], float]:
    """Seconds for the node's timing decisions (deadman, motion durations): the node's ROS clock under
    ``use_sim_time`` (a 2 s walk lasts 2 simulated seconds, and the deadman counts simulated time, as the node's
    timers do), otherwise the monotonic clock (on the robot, a wall-clock step must not end or stretch a motion)."""
    if node.get_parameter("use_sim_time").value:
        return lambda: node.get_clock().now().nanoseconds / 1e9
    return time.monotonic


def time_to_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """The standard ``main()`` body: init, spin until SIGINT/SIGTERM or until the node sets
    ``finished = True``, then shut down in the safe order (the node's ``close()`` first, while the
    context is still up, so ``close()`` can still publish a stop: rclpy's own SIGINT handler, which
    would shut the context down first, is not installed)."""
    rclpy.init(args=sys.argv if args is None else args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    node = factory()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and not getattr(node, "finished", False) and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        close = getattr(node, "close", None)
        if close is not None:
            close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
