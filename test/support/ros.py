"""rclpy helpers for tests: a private context with a spinning executor, and polling waits."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from support.threads import in_thread


@contextmanager
def spinning_node(name: str) -> Iterator[Node]:
    """A node in its own context, spun by a background executor; torn down in the safe order."""
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node(name, context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    try:
        with in_thread(executor.spin, executor.shutdown):
            yield node
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until ``predicate()`` holds; fail with ``what`` after ``timeout`` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)
