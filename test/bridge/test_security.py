"""CURVE with an allow-list over real sockets: an allowed robot talks, a stranger or a plain client gets nothing."""

from __future__ import annotations

import pytest
import zmq

from spec_decode_ros.bridge.keys import create_keypair
from spec_decode_ros.bridge.security import (
    ClientSecurity,
    ServerSecurity,
    make_curve_client,
    make_curve_server,
    start_authenticator,
)


@pytest.fixture
def curve_server(tmp_path):
    create_keypair(tmp_path, "cloud")
    create_keypair(tmp_path / "allowed", "robot")
    create_keypair(tmp_path, "stranger")
    ctx = zmq.Context()
    auth = start_authenticator(ctx, tmp_path / "allowed")
    server = ctx.socket(zmq.ROUTER)
    server.linger = 0
    make_curve_server(server, ServerSecurity(tmp_path / "cloud.key_secret", tmp_path / "allowed"))
    port = server.bind_to_random_port("tcp://127.0.0.1")
    yield tmp_path, ctx, server, f"tcp://127.0.0.1:{port}"
    server.close(0)
    auth.stop()
    ctx.term()


def _client(ctx: zmq.Context, endpoint: str, security: ClientSecurity | None) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    if security is not None:
        make_curve_client(sock, security)
    sock.connect(endpoint)
    return sock


def test_allowed_robot_is_heard_and_authenticated_by_its_key(curve_server):
    keys, ctx, server, endpoint = curve_server
    client = _client(ctx, endpoint, ClientSecurity(keys / "allowed" / "robot.key_secret", keys / "cloud.key"))
    client.send(b"hello")
    assert server.poll(5000), "allowed robot was not heard"
    frames = server.recv_multipart(copy=False)
    assert frames[-1].bytes == b"hello"
    user = frames[-1].get("User-Id")
    assert user == (keys / "allowed" / "robot.key").read_text().split('public-key = "')[1].split('"')[0]
    server.send_multipart([frames[0].bytes, b"reply"])
    assert client.poll(5000) and client.recv() == b"reply"
    client.close(0)


@pytest.mark.parametrize("who", ["stranger", "plain", "wrong_server_key"])
def test_unauthorised_client_gets_nothing(curve_server, who):
    keys, ctx, server, endpoint = curve_server
    security = {"stranger": ClientSecurity(keys / "stranger.key_secret", keys / "cloud.key"),
                "plain": None,
                "wrong_server_key": ClientSecurity(keys / "allowed" / "robot.key_secret", keys / "stranger.key")}[who]
    client = _client(ctx, endpoint, security)
    client.send(b"let me in")
    assert not server.poll(1000), "the server received a frame from an unauthorised client"
    assert not client.poll(200), "the unauthorised client received something"
    client.close(0)


def test_empty_allow_list_is_a_clear_error(tmp_path):
    ctx = zmq.Context()
    with pytest.raises(ValueError, match="no \\*.key"):
        start_authenticator(ctx, tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        start_authenticator(ctx, tmp_path / "nope")
    ctx.term()
