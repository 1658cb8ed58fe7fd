"""Helpers for tests that talk over real DDS: an rclpy context and waiting on conditions."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


@contextmanager
def ros_node(name: str) -> Iterator[tuple[Node, SingleThreadedExecutor]]:
    """A node in a private rclpy context with its own executor; shut down on exit."""
    context = Context()
    rclpy.init(context=context)
    node = Node(name, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield node, executor
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


def spin_until(executor: SingleThreadedExecutor, condition: Callable[[], bool], timeout: float) -> bool:
    """Spin ``executor`` until ``condition()`` holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        executor.spin_once(timeout_sec=0.05)
    return condition()
