"""The robot's cloud connection over a real socket: a heartbeat ping that a request may cut short, and a send that
cannot hang the robot when there is no connection to queue on."""

from __future__ import annotations

import time

import pytest
import zmq

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.client import CloudClient, CloudUnreachableError
from spec_decode_ros.process_group import free_endpoint


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


@pytest.mark.timeout(30)
def test_a_frame_that_cannot_be_queued_makes_the_cloud_unreachable_instead_of_hanging_the_robot():
    # nobody listens: ZeroMQ queues frames for the connection it keeps trying to make, up to its high-water mark, and
    # past it a send would wait forever (as it also does after a refused CURVE handshake): the robot's worker thread
    # would hang. It waits SEND_TIMEOUT_S, then the cloud is unreachable, and a ping says False.
    client = CloudClient(free_endpoint())
    try:
        with pytest.raises(CloudUnreachableError, match="could not queue"):
            for _ in range(100_000):
                client.send(p.Ping(sent=0.0))
        start = time.monotonic()
        assert client.ping(5.0) is False and time.monotonic() - start < 3.0
    finally:
        client.close()
