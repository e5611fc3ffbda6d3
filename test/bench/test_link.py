"""Link emulation against real sockets: frames arrive in order, each direction adds at least its delay,
bandwidth adds transmission time, and the robot's identity survives the proxy both ways."""

from __future__ import annotations

import time

import pytest
import zmq

from spec_decode_ros.bench.link import LinkEmulator, LinkProcess, LinkProfile


@pytest.fixture
def cloud():
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.linger = 0
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    yield ctx, sock, f"tcp://127.0.0.1:{port}"
    sock.close(0)
    ctx.term()


def _robot(ctx: zmq.Context, endpoint: str) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoint)
    return sock


def _echo_until(cloud_sock: zmq.Socket, robot: zmq.Socket, n: int) -> list[tuple[float, bytes]]:
    """Cloud echoes every frame; returns (arrival time at the robot, payload) in arrival order."""
    got: list[tuple[float, bytes]] = []
    poller = zmq.Poller()
    poller.register(cloud_sock, zmq.POLLIN)
    poller.register(robot, zmq.POLLIN)
    deadline = time.monotonic() + 20
    while len(got) < n and time.monotonic() < deadline:
        for sock, _ in poller.poll(100):
            if sock is cloud_sock:
                cloud_sock.send_multipart(cloud_sock.recv_multipart())
            else:
                got.append((time.monotonic(), robot.recv()))
    return got


def test_round_trip_adds_at_least_twice_the_delay_and_keeps_order(cloud):
    ctx, cloud_sock, endpoint = cloud
    profile = LinkProfile(delay_s=0.03, jitter_s=0.01, seed=1)
    with LinkEmulator("tcp://127.0.0.1:0", endpoint, profile, context=ctx) as link:
        robot = _robot(ctx, link.front_endpoint)
        sent = {}
        for i in range(40):
            sent[i] = time.monotonic()
            robot.send(i.to_bytes(2, "big"))
        got = _echo_until(cloud_sock, robot, 40)
        robot.close(0)
    order = [int.from_bytes(b, "big") for _, b in got]
    assert order == list(range(40)), "the link reordered frames"
    rtts = [t - sent[i] for (t, _), i in zip(got, order, strict=True)]
    assert min(rtts) >= 2 * (profile.delay_s - profile.jitter_s)


def test_cloud_sees_the_robot_identity_as_an_envelope_and_replies_reach_the_right_robot(cloud):
    ctx, cloud_sock, endpoint = cloud
    with LinkEmulator("tcp://127.0.0.1:0", endpoint, LinkProfile(delay_s=0.001), context=ctx) as link:
        a, b = _robot(ctx, link.front_endpoint), _robot(ctx, link.front_endpoint)
        a.send(b"from a")
        b.send(b"from b")
        routes = {}
        for _ in range(2):
            assert cloud_sock.poll(5000)
            frames = cloud_sock.recv_multipart()
            assert len(frames) == 3  # proxy identity, robot identity, payload
            routes[frames[-1]] = frames[:-1]
        cloud_sock.send_multipart(routes[b"from b"] + [b"to b"])
        cloud_sock.send_multipart(routes[b"from a"] + [b"to a"])
        assert a.poll(5000) and a.recv() == b"to a"
        assert b.poll(5000) and b.recv() == b"to b"
        a.close(0)
        b.close(0)


def test_bandwidth_adds_transmission_time_per_byte(cloud):
    ctx, cloud_sock, endpoint = cloud
    profile = LinkProfile(bandwidth_bps=8e6)  # 1 MB/s: a 100 kB frame takes >= 0.1 s each way
    with LinkEmulator("tcp://127.0.0.1:0", endpoint, profile, context=ctx) as link:
        robot = _robot(ctx, link.front_endpoint)
        t0 = time.monotonic()
        robot.send(b"\0" * 100_000)
        got = _echo_until(cloud_sock, robot, 1)
        robot.close(0)
    assert got and got[0][0] - t0 >= 0.2


def test_link_process_forwards_with_delay(cloud):
    ctx, cloud_sock, endpoint = cloud
    with zmq.Context() as tmp:  # find a free port for the process to bind
        s = tmp.socket(zmq.ROUTER)
        port = s.bind_to_random_port("tcp://127.0.0.1")
        s.close(0)
    with LinkProcess(f"tcp://127.0.0.1:{port}", endpoint, LinkProfile(delay_s=0.02)) as link:
        robot = _robot(ctx, link.front_endpoint)
        t0 = time.monotonic()
        robot.send(b"x")
        got = _echo_until(cloud_sock, robot, 1)
        robot.close(0)
    assert got and got[0][1] == b"x" and got[0][0] - t0 >= 0.04


def test_bad_profiles_are_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        LinkProfile(delay_s=-1)
    with pytest.raises(ValueError, match="must not exceed"):
        LinkProfile(delay_s=0.01, jitter_s=0.02)
    assert LinkProfile.from_rtt_ms(80).delay_s == pytest.approx(0.04)


@pytest.mark.slow  # starts a process
def test_the_link_command_delays_both_ways_and_stops_on_sigterm(cloud):
    """``python -m spec_decode_ros.bench.link`` (what the demo starts between robot and cloud)."""
    import signal
    import subprocess
    import sys

    from spec_decode_ros.process_group import free_port

    ctx, cloud_sock, endpoint = cloud
    front = f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([sys.executable, "-m", "spec_decode_ros.bench.link", "--front", front, "--back", endpoint,
                             "--rtt-ms", "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert "READY" in proc.stdout.readline()
        robot = _robot(ctx, front)
        sent = time.monotonic()
        robot.send(b"ping")
        got = _echo_until(cloud_sock, robot, 1)
        assert got and got[0][1] == b"ping" and got[0][0] - sent >= 0.06
        robot.close(0)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
