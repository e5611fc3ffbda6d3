"""CURVE on the sockets: the cloud's server side with an allow-list authenticator, the robot's client side.

The cloud runs a ``ThreadAuthenticator`` (ZAP handler) in its own context that admits only the public keys
found in the allow-list folder; a client with any other key (or none) completes no handshake and so gets
nothing at all, not even an ERROR.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.auth.thread import ThreadAuthenticator

from spec_decode_ros.bridge.keys import load_keypair, load_secret


@dataclass(frozen=True)
class ServerSecurity:
    """Cloud side: its own key pair file and the folder of allowed robot public keys."""

    secret_file: Path
    allow_dir: Path


@dataclass(frozen=True)
class ClientSecurity:
    """Robot side: its own key pair file and the cloud's public key file."""

    secret_file: Path
    server_public_file: Path


def start_authenticator(context: zmq.Context, allow_dir: str | Path) -> ThreadAuthenticator:
    """Start a ZAP authenticator on ``context`` admitting exactly the ``*.key`` public keys in ``allow_dir``."""
    allow_dir = Path(allow_dir)
    if not allow_dir.is_dir():
        raise FileNotFoundError(f"CURVE allow-list folder {allow_dir} does not exist")
    if not any(allow_dir.glob("*.key")):
        raise ValueError(f"CURVE allow-list folder {allow_dir} holds no *.key public keys: nobody could connect")
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=str(allow_dir))
    return auth


def make_curve_server(socket: zmq.Socket, security: ServerSecurity) -> None:
    """Make ``socket`` a CURVE server with the cloud's key pair (call before bind)."""
    pair = load_secret(security.secret_file)
    socket.curve_secretkey = pair.secret
    socket.curve_publickey = pair.public
    socket.curve_server = True


def make_curve_client(socket: zmq.Socket, security: ClientSecurity) -> None:
    """Make ``socket`` a CURVE client of the cloud (call before connect)."""
    pair = load_secret(security.secret_file)
    socket.curve_secretkey = pair.secret
    socket.curve_publickey = pair.public
    socket.curve_serverkey = load_keypair(security.server_public_file).public
