"""CURVE on the sockets: the cloud's server side with an allow-list authenticator, the robot's client side.

The cloud runs a ``ThreadAuthenticator`` (ZAP handler) in its own context whose credentials callback
(``AllowList``) admits only the public keys found in the allow-list folder, and of those none that the caller's
``refuse`` hook names (the verifier's flood guard: a key under penalty); a client with any other key (or none)
completes no handshake and so gets nothing at all, not even an ERROR, and the cloud reads none of its frames.
The folder is read again when it changes (``AllowList.refresh``, which the verifier calls twice a second, or
``reload`` on SIGHUP): a key removed from it is refused at its next handshake, and the verifier cuts the
sessions and connections it still holds (revocation without a restart).

A fleet's replicas are CURVE servers too, with key pairs made in memory at start (``ServerSecurity.keypair``)
admitting only the fleet front's public key (``allowed_keys``); the front relays many robots over that one
key, so there a session belongs to its routing envelope (``relay``), as without CURVE.

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
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from spec_decode_ros.bridge.keys import KeyPair, load_keypair, load_secret

CLOUD_KEY_NAME = "cloud"  # DIR/cloud.key (give it to the robots) and DIR/cloud.key_secret (stays on the cloud)
ALLOW_DIR_NAME = "allowed"  # DIR/allowed/*.key: the robots' public keys the cloud admits


class InsecureBindError(ValueError):
    """A plaintext (no CURVE) bind on an address other than loopback, without the explicit insecure opt-in."""


@dataclass(frozen=True)
class ServerSecurity:
    """Cloud side: its own key pair file and the folder of allowed robot public keys; or, for a fleet replica,
    a key pair and the allowed public keys in memory (``relay``: the one allowed peer relays many robots)."""

    secret_file: Path | None = None
    allow_dir: Path | None = None
    keypair: KeyPair | None = None
    allowed_keys: frozenset[bytes] = frozenset()
    relay: bool = False

    def __post_init__(self) -> None:
        if (self.secret_file is None) == (self.keypair is None):
            raise ValueError("ServerSecurity needs exactly one of secret_file and keypair")
        if self.allow_dir is None and not self.allowed_keys:
            raise ValueError("ServerSecurity needs an allow-list folder or allowed keys")

    @classmethod
    def in_memory(cls, keypair: KeyPair, allowed: frozenset[bytes]) -> ServerSecurity:
        """A fleet replica's: its own key pair, admitting only ``allowed`` (the front's key), relaying robots."""
        return cls(keypair=keypair, allowed_keys=allowed, relay=True)

    def server_keypair(self) -> KeyPair:
        return self.keypair if self.keypair is not None else load_secret(self.secret_file)  # type: ignore[arg-type]

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


def _read_allow_dir(allow_dir: Path) -> dict[bytes, str]:
    """Public key (z85) -> the name of its file in the allow-list folder (``robot1`` for ``robot1.key``)."""
    names: dict[bytes, str] = {}
    for path in sorted(allow_dir.glob("*.key")):
        try:
            public, _ = zmq.auth.load_certificate(path)
        except Exception:  # a half-written or foreign file admits nobody
            continue
        if public is not None:
            names[public] = path.stem
    return names


class AllowList:
    """The ZAP credentials callback: a key is admitted if it is allowed (the folder's ``*.key`` files as last read,
    or the fixed ``keys``) and ``refuse`` (called in the authenticator's thread, with the key's z85 text, the
    frames' ``User-Id``) does not name it. ``refresh``/``reload`` re-read the folder (thread-safe: the set is
    replaced whole)."""

    def __init__(self, allow_dir: str | Path | None = None, refuse: Callable[[str], bool] | None = None, *,
                 keys: frozenset[bytes] = frozenset()) -> None:
        self.allow_dir = None if allow_dir is None else check_allow_dir(allow_dir)
        self.refuse = refuse
        self.names: dict[bytes, str] = {k: "fleet-front" for k in keys}
        self.keys: frozenset[bytes] = frozenset(keys)
        self._former: dict[bytes, str] = {}
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        if self.allow_dir is not None:
            self.reload()

    @classmethod
    def of(cls, security: ServerSecurity, refuse: Callable[[str], bool] | None = None) -> AllowList:
        return cls(security.allow_dir, refuse, keys=security.allowed_keys)

    def _folder_signature(self) -> tuple[tuple[str, int, int], ...]:
        assert self.allow_dir is not None
        try:
            entries = [(p.name, p.stat()) for p in self.allow_dir.glob("*.key")]
        except OSError:
            return ()
        return tuple(sorted((name, st.st_mtime_ns, st.st_size) for name, st in entries))

    def refresh(self) -> bool:
        """Re-read the folder if a file in it changed, appeared or went; True if the allowed keys changed."""
        if self.allow_dir is None or self._folder_signature() == self._signature:
            return False
        return self.reload()

    def reload(self) -> bool:
        """Re-read the folder now (SIGHUP); True if the allowed keys changed. A folder gone admits nobody."""
        if self.allow_dir is None:
            return False
        self._signature = self._folder_signature()
        names = _read_allow_dir(self.allow_dir) if self.allow_dir.is_dir() else {}
        changed = frozenset(names) != self.keys
        self._former.update(self.names)  # a revoked key keeps its name in the logs
        self.names, self.keys = names, frozenset(names)
        return changed

    def allows(self, key: str | bytes) -> bool:
        return (key.encode("ascii") if isinstance(key, str) else key) in self.keys

    def name(self, key: str | bytes) -> str | None:
        key = key.encode("ascii") if isinstance(key, str) else key
        return self.names.get(key) or self._former.get(key)

    def callback(self, domain: str, key: bytes) -> bool:
        """pyzmq's credentials provider hook: ``key`` is the client's public key, z85-encoded."""
        return key in self.keys and not (self.refuse is not None and self.refuse(key.decode("ascii")))


def start_authenticator(context: zmq.Context, allow: AllowList | str | Path,
                        refuse: Callable[[str], bool] | None = None) -> ThreadAuthenticator:
    """Start a ZAP authenticator on ``context`` admitting, at each handshake, whom ``allow`` admits (an
    ``AllowList``, or a folder of ``*.key`` files with ``refuse(z85 key)`` saying whom to turn away)."""
    if not isinstance(allow, AllowList):
        allow = AllowList(allow, refuse)
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve_callback(domain="*", credentials_provider=allow)
    return auth


def make_curve_server(socket: zmq.Socket, security: ServerSecurity) -> None:
    """Make ``socket`` a CURVE server with the cloud's key pair (call before bind)."""
    pair = security.server_keypair()
    socket.curve_secretkey = pair.secret
    socket.curve_publickey = pair.public
    socket.curve_server = True


def make_curve_client(socket: zmq.Socket, security: ClientSecurity) -> None:
    """Make ``socket`` a CURVE client of the cloud (call before connect)."""
    pair = load_secret(security.secret_file)
    socket.curve_secretkey = pair.secret
    socket.curve_publickey = pair.public
    socket.curve_serverkey = load_keypair(security.server_public_file).public
