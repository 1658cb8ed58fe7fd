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


def call_idempotent(executor: SingleThreadedExecutor, client, request, timeout: float, attempt_s: float = 3.0):
    """Call a service whose request may safely be repeated; the response, or None after ``timeout`` seconds.

    ``service_is_ready`` holds once the service's request reader has matched, which can be before its reply
    writer has matched this client's reply reader; Fast DDS then drops the reply (ros2/rmw_fastrtps#467,
    the race DDS-RPC 7.6.2.2 describes). On a loaded machine that discovery can take longer than Fast DDS
    waits, so a request that got no reply within ``attempt_s`` is sent again.
    """
    deadline = time.monotonic() + timeout
    if not spin_until(executor, client.service_is_ready, timeout):
        return None
    while time.monotonic() < deadline:
        future = client.call_async(request)
        if spin_until(executor, future.done, min(attempt_s, max(deadline - time.monotonic(), 0.0))):
            return future.result()
        client.remove_pending_request(future)
    return None
