"""The robot's cloud connection over a real socket: a heartbeat ping that a request may cut short."""

from __future__ import annotations

import time

import zmq

from spec_decode_ros.bridge.client import CloudClient


def test_a_ping_to_a_silent_cloud_fails_after_its_timeout_or_is_given_up_at_once():
    ctx = zmq.Context.instance()
    silent = ctx.socket(zmq.ROUTER)  # takes the PING, never answers
    port = silent.bind_to_random_port("tcp://127.0.0.1")
    client = CloudClient(f"tcp://127.0.0.1:{port}")
    try:
        assert client.ping(0.2) is False
        asked = []

        def give_up() -> bool:
            asked.append(time.monotonic())
            return len(asked) >= 3

        start = time.monotonic()
        assert client.ping(30.0, give_up=give_up) is None
        assert len(asked) == 3 and time.monotonic() - start < 15.0  # not the 30 s timeout
    finally:
        client.close()
        silent.close(0)
