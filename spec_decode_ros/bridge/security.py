"""CURVE on the sockets: the cloud's server side with an allow-list authenticator, the robot's client side.

The cloud runs a ``ThreadAuthenticator`` (ZAP handler) in its own context whose credentials callback
(``AllowList``) admits only the public keys found in the allow-list folder, and of those none that the caller's
``refuse`` hook names (the verifier's flood guard: a key under penalty); a client with any other key (or none)
completes no handshake and so gets nothing at all, not even an ERROR, and the cloud reads none of its frames.

Plaintext is for loopback only: ``check_bind_security`` refuses a plaintext bind on any other address unless
the caller says, explicitly, that it accepts an insecure link. ``spec-decode keys DIR cloud robot1 …`` writes
the layout ``ServerSecurity.from_dir(DIR)`` reads: ``DIR/cloud.key_secret`` and the allow-list ``DIR/allowed/``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.auth import load_certificates
from zmq.auth.thread import ThreadAuthenticator

from spec_decode_ros.bridge.keys import load_keypair, load_secret

CLOUD_KEY_NAME = "cloud"  # DIR/cloud.key (give it to the robots) and DIR/cloud.key_secret (stays on the cloud)
ALLOW_DIR_NAME = "allowed"  # DIR/allowed/*.key: the robots' public keys the cloud admits


class InsecureBindError(ValueError):
    """A plaintext (no CURVE) bind on an address other than loopback, without the explicit insecure opt-in."""


@dataclass(frozen=True)
class ServerSecurity:
    """Cloud side: its own key pair file and the folder of allowed robot public keys."""

    secret_file: Path
    allow_dir: Path

    @classmethod
    def from_dir(cls, keys: str | Path) -> ServerSecurity:
        """The layout ``spec-decode keys`` writes: ``keys/cloud.key_secret`` and ``keys/allowed/``."""
        keys = Path(keys)
        return cls(keys / f"{CLOUD_KEY_NAME}.key_secret", keys / ALLOW_DIR_NAME)


def is_loopback(endpoint: str) -> bool:
    """Does ``endpoint`` stay on this host? ``ipc://``/``inproc://``, or TCP on 127.0.0.0/8, ::1 or localhost."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp":
        return False
    host = rest.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "*", 0.0.0.0 is handled above as an address; an interface name: not provably local


def insecure_bind_message(endpoint: str) -> str:
    return (f"refusing plaintext on {endpoint}, which is not loopback: anyone on the network could drive the robots. "
            f"Make keys with 'spec-decode keys keys {CLOUD_KEY_NAME} robot1' and pass '--keys keys' (give each robot "
            f"keys/{CLOUD_KEY_NAME}.key and its own keys/robot1.key_secret), or pass --insecure-plaintext")


def check_connect_security(endpoint: str, *, secure: bool, insecure_ok: bool) -> None:
    """The robot's side of the same rule: no plaintext link to a cloud off this host unless ``insecure_ok``."""
    if not secure and not insecure_ok and not is_loopback(endpoint):
        raise InsecureBindError(
            f"refusing a plaintext link to {endpoint}, which is not loopback: anyone on the network could read and "
            f"forge the robot's traffic. Set server_public_key (the cloud's keys/{CLOUD_KEY_NAME}.key) and "
            f"client_secret_key (this robot's keys/robot1.key_secret), or insecure_plaintext:=true")


def check_bind_security(endpoint: str, *, secure: bool, insecure_ok: bool) -> None:
    """``InsecureBindError`` for plaintext on a non-loopback endpoint unless ``insecure_ok`` (call before bind)."""
    if not secure and not insecure_ok and not is_loopback(endpoint):
        raise InsecureBindError(insecure_bind_message(endpoint))


@dataclass(frozen=True)
class ClientSecurity:
    """Robot side: its own key pair file and the cloud's public key file."""

    secret_file: Path
    server_public_file: Path


def check_allow_dir(allow_dir: str | Path) -> Path:
    """The allow-list folder, if it exists and holds at least one public ``*.key``; else a clear error."""
    allow_dir = Path(allow_dir)
    if not allow_dir.is_dir():
        raise FileNotFoundError(f"CURVE allow-list folder {allow_dir} does not exist (make it with 'spec-decode keys')")
    if not any(allow_dir.glob("*.key")):
        raise ValueError(f"CURVE allow-list folder {allow_dir} holds no *.key public keys: nobody could connect")
    return allow_dir


class AllowList:
    """The ZAP credentials callback: a key is admitted if it is in the allow-list folder (read once) and
    ``refuse`` (called in the authenticator's thread, with the key's z85 text, the frames' ``User-Id``) does not
    name it."""

    def __init__(self, allow_dir: str | Path, refuse: Callable[[str], bool] | None = None) -> None:
        self.keys: frozenset[bytes] = frozenset(load_certificates(str(check_allow_dir(allow_dir))))
        self.refuse = refuse

    def callback(self, domain: str, key: bytes) -> bool:
        """pyzmq's credentials provider hook: ``key`` is the client's public key, z85-encoded."""
        return key in self.keys and not (self.refuse is not None and self.refuse(key.decode("ascii")))


def start_authenticator(context: zmq.Context, allow_dir: str | Path,
                        refuse: Callable[[str], bool] | None = None) -> ThreadAuthenticator:
    """Start a ZAP authenticator on ``context`` admitting the ``*.key`` public keys in ``allow_dir``, except,
    at each handshake, those for which ``refuse(z85 key)`` is True (it must be thread-safe)."""
    allow = AllowList(allow_dir, refuse)
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve_callback(domain="*", credentials_provider=allow)
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
