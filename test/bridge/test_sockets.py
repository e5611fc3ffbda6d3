"""bind_with_retry: waits for a port that is being released, and still fails clearly when it stays taken."""

from __future__ import annotations

import threading

import pytest
import zmq

from spec_decode_ros.bridge.sockets import bind_with_retry


def test_bind_waits_for_a_closing_socket_and_gives_up_on_a_held_one():
    ctx = zmq.Context()
    holder = ctx.socket(zmq.ROUTER)
    holder.linger = 0
    port = holder.bind_to_random_port("tcp://127.0.0.1")
    endpoint = f"tcp://127.0.0.1:{port}"
    second = ctx.socket(zmq.ROUTER)
    second.linger = 0
    with pytest.raises(zmq.ZMQError):
        bind_with_retry(second, endpoint, timeout_s=0.2)
    threading.Timer(0.3, holder.close).start()
    assert bind_with_retry(second, endpoint, timeout_s=5) == endpoint
    second.close(0)
    ctx.term()
