"""The robot's end of the link: a DEALER socket to the cloud (CURVE optional) that can be rebuilt.

``CloudClient`` sends messages, receives validated ones with a timeout, answers "is the cloud there?"
with a PING, and ``reset()`` replaces the socket (dropping anything queued for a dead server) without
restarting the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import zmq

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.security import ClientSecurity, check_connect_security, make_curve_client
from spec_decode_ros.bridge.sockets import dealer

# ZeroMQ heartbeats notice a dead peer in 3 s; reconnects start fast and back off to 1 s. A DEALER's send waits
# while it has no connection to queue on (a refused CURVE handshake, a full queue to a cloud that stopped reading):
# the robot waits at most SEND_TIMEOUT_S, then the cloud counts as unreachable
GIVE_UP_POLL_S = 0.005  # how often a heartbeat ping asks whether a request is waiting
SEND_TIMEOUT_S = 1.0
SOCKET_OPTIONS = {zmq.HEARTBEAT_IVL: 1000, zmq.HEARTBEAT_TIMEOUT: 3000, zmq.RECONNECT_IVL: 100,
                  zmq.RECONNECT_IVL_MAX: 1000, zmq.SNDTIMEO: int(SEND_TIMEOUT_S * 1000)}


class CloudUnreachableError(TimeoutError):
    """The cloud did not answer in time (and, if reconnecting, did not come back in time)."""


class CloudError(RuntimeError):
    """The cloud refused a request with an ERROR the robot cannot recover from."""

    def __init__(self, error: p.Error) -> None:
        super().__init__(f"cloud refused: {error.code}: {error.reason}")
        self.error = error


class CloudClient:
    """A DEALER connected to ``endpoint``; ``security`` turns CURVE on. Plaintext goes only to a loopback
    endpoint unless ``insecure_plaintext`` (``InsecureBindError`` before any socket exists)."""

    def __init__(self, endpoint: str, *, security: ClientSecurity | None = None,
                 context: zmq.Context | None = None, insecure_plaintext: bool = False) -> None:
        check_connect_security(endpoint, secure=security is not None, insecure_ok=insecure_plaintext)
        self.endpoint = endpoint
        self.security = security
        self._ctx = context or zmq.Context.instance()
        self.sock = self._make_socket()
        self.dropped = 0  # frames received that failed validation

    def _make_socket(self) -> zmq.Socket:
        sock = dealer(self._ctx, SOCKET_OPTIONS)
        if self.security is not None:
            make_curve_client(sock, self.security)
        sock.connect(self.endpoint)
        return sock

    def reset(self) -> None:
        """Replace the socket: whatever was queued or in flight on the old one is gone."""
        self.sock.close(0)
        self.sock = self._make_socket()

    def close(self) -> None:
        self.sock.close(0)

    def send(self, msg: p.Message) -> None:
        """Queue ``msg``; ``CloudUnreachableError`` when it cannot be queued within ``SEND_TIMEOUT_S``."""
        try:
            self.sock.send(p.encode(msg))
        except zmq.Again:
            raise CloudUnreachableError(f"could not queue a frame for {self.endpoint} within {SEND_TIMEOUT_S} s "
                                        "(no connection)") from None

    def pending(self) -> bool:
        """Is a frame waiting (non-blocking)? Used as the drafter's ``should_stop``."""
        return bool(self.sock.poll(0))

    def recv(self, timeout_s: float) -> p.Message | None:
        """The next valid message within ``timeout_s`` (None on timeout); invalid frames are counted and skipped."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left < 0 or not self.sock.poll(max(0, int(left * 1000))):
                return None
            try:
                return p.decode(self.sock.recv(zmq.NOBLOCK))
            except zmq.Again:
                continue
            except p.ProtocolError:
                self.dropped += 1

    def ping(self, timeout_s: float = 1.0, *, give_up: Callable[[], bool] | None = None) -> bool | None:
        """True if the cloud answers a PING within ``timeout_s`` (other messages meanwhile are discarded), False
        if it does not; None once ``give_up()`` (asked every ``GIVE_UP_POLL_S``) says something more urgent came
        up. A late PONG is then skipped like any reply that belongs to nobody."""
        sent = time.time()
        try:
            self.send(p.Ping(sent=sent))
        except CloudUnreachableError:
            return False
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            if give_up is not None and give_up():
                return None
            msg = self.recv(left if give_up is None else min(left, GIVE_UP_POLL_S))
            if isinstance(msg, p.Pong) and msg.sent == sent:
                return True
        return False

    def request(self, msg: p.Message, reply: type[p.Message], timeout_s: float) -> p.Message:
        """Send and wait for a reply of type ``reply`` (or an ERROR, raised as CloudError)."""
        self.send(msg)
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            got = self.recv(left)
            if isinstance(got, reply):
                return got
            if isinstance(got, p.Error):
                raise CloudError(got)
        raise CloudUnreachableError(f"no {reply.TAG} from {self.endpoint} within {timeout_s} s")

    def stats(self, timeout_s: float) -> p.Stats:
        """The cloud's counters (STATS), as ``request`` gets them."""
        got = self.request(p.StatsRequest(), p.Stats, timeout_s)
        assert isinstance(got, p.Stats)  # request returns only the reply type asked for
        return got


def read_stats(endpoint: str, timeout_s: float) -> p.Stats:
    """The counters of the cloud at ``endpoint`` (plaintext, loopback), over a client of its own closed after."""
    client = CloudClient(endpoint)
    try:
        return client.stats(timeout_s)
    finally:
        client.close()
