"""The fleet's front: the robots' one endpoint, forwarding frames to N verifier replicas over loopback ZeroMQ.

One ROUTER faces the robots (CURVE as on a single ``spec-decode cloud``); one DEALER per replica faces that
replica's ``VerifierServer`` ROUTER. The front decodes each robot frame (a bad one gets an ERROR here and goes
no further), and keeps the session → replica map:

- OPEN: a new session goes to the least-loaded live replica (fewest sessions); it stays there (its KV cache
  is there). The session belongs to whoever opened it: its CURVE key, or without CURVE its routing envelope.
- DRAFT / CLOSE: to the session's replica, if the sender owns the session (else ERROR ``not_owner``; an
  unknown session gets ERROR ``unknown_session``, which robots resume from).
- PING: answered here while some replica is live (none live: no answer, so robots wait as for a lost cloud).
- STATS: asked of every live replica, summed, answered when all have replied.

Replies from replicas go back at once, frame by frame (EARLY leaves the replica mid-forward and the front
forwards it without waiting for anything). A replica whose connection drops (its process died) is marked
down and every session on it gets ERROR ``evicted``: its robot re-opens with its committed tokens and lands
on a live replica. A socket monitor per DEALER says when a replica is (again) connected; ``set_endpoint``
moves a replica (restarted elsewhere). Every replica-bound frame carries a marker frame first (``R``: a
robot's, ``S``: the front's own STATS request) so that a robot cannot forge the front's envelopes.

The hop to a replica is CURVE when the replica gives a public key (``ReplicaAddress.public``; every Ray replica
does), the front authenticating with the fleet's own key pair (``hop_keys``); a plaintext hop is refused off
loopback. Robots are admitted here (their allow-list is re-read when it changes, or on ``reload_keys``): a key
removed from it loses its sessions (CLOSE to their replicas) and connections at once and is refused at its next
handshake. Connections, ERRORs the front sends, replica deaths and revocations are logged and counted
(``service.metrics.FrontMetrics``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

import zmq
from zmq.utils.monitor import recv_monitor_message

from spec_decode_ros.bridge import protocol as p
from spec_decode_ros.bridge.connections import ConnectionBook, cut_connection, peer_address
from spec_decode_ros.bridge.keys import KeyPair
from spec_decode_ros.bridge.router import RobotRouter
from spec_decode_ros.bridge.security import (
    ServerSecurity,
    check_connect_security,
)
from spec_decode_ros.bridge.sockets import dealer
from spec_decode_ros.fleet.replica import ReplicaAddress
from spec_decode_ros.service.events import LineBudget
from spec_decode_ros.service.logs import event
from spec_decode_ros.service.metrics import FrontMetrics

log = logging.getLogger("spec_decode_ros.cloud.front")

ROBOT = b"R"
FRONT_STATS = b"S"
MAX_ROUTE = 2  # routing frames a robot may bring (itself, plus one proxy such as the link emulator)
UP_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED if hasattr(zmq, "EVENT_HANDSHAKE_SUCCEEDED") else zmq.EVENT_CONNECTED
DOWN_EVENTS = zmq.EVENT_DISCONNECTED
# to a replica: deep queues (it carries many robots), fast reconnects (replicas restart)
REPLICA_OPTIONS = {zmq.SNDHWM: 10_000, zmq.RCVHWM: 10_000, zmq.RECONNECT_IVL: 50, zmq.RECONNECT_IVL_MAX: 500}


@dataclass
class _Session:
    replica: int
    owner: bytes
    route: list[bytes]
    last_active: float = field(default_factory=time.monotonic)


@dataclass
class _Replica:
    address: ReplicaAddress
    sock: zmq.Socket
    monitor: zmq.Socket
    up: bool = False
    sessions: set[str] = field(default_factory=set)
    downs: int = 0


@dataclass
class _StatsCall:
    route: list[bytes]
    waiting: set[int]
    reset: bool
    total: dict[str, float] = field(default_factory=dict)
    deadline: float = 0.0


class FleetFront:
    """Binds ``bind`` for the robots and connects one DEALER to each replica endpoint. ``serve_forever()`` in a
    thread until ``stop()``; ``set_endpoint`` and the read-only views are safe from other threads."""

    def __init__(self, bind: str, replica_endpoints: Sequence[str | ReplicaAddress], *,
                 security: ServerSecurity | None = None, idle_timeout_s: float = 300.0,
                 context: zmq.Context | None = None, hop_keys: KeyPair | None = None) -> None:
        if not replica_endpoints:
            raise ValueError("a fleet front needs at least one replica endpoint")
        self.hop_keys = hop_keys
        self._ctx = context or zmq.Context()
        self._own_ctx = context is None
        self.security = security
        self.idle_timeout_s = idle_timeout_s
        self._robots: ConnectionBook[bytes] = ConnectionBook()
        self._reload_keys = threading.Event()
        self._error_lines = LineBudget()
        # a robot gets the few queued frames one cloud gives it (the router's RCVHWM); replies queue deeper
        self._router = RobotRouter(self._ctx, bind, security, sndhwm=10_000)
        self.sock = self._router.sock
        self._allow = self._router.allow
        self.endpoint: str = self._router.endpoint
        self.replicas = [self._connect(_address(ep)) for ep in replica_endpoints]
        self.sessions: dict[str, _Session] = {}
        self.metrics = FrontMetrics(self.live, lambda: len(self.sessions))
        self._stats_calls: dict[int, _StatsCall] = {}
        self._next_call = 0
        self._commands: queue.Queue[tuple[int, str]] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards what other threads read: replica up flags, session placement
        self._next_housekeeping = 0.0
        self.evicted = 0  # sessions evicted because their replica went down

    # ------------------------------------------------------------------------------------------ public
    def serve_forever(self) -> None:
        try:
            while not self._stop.is_set():
                self.step()
        finally:
            self.close()

    def stop(self) -> None:
        self._stop.set()

    def set_endpoint(self, index: int, endpoint: str | ReplicaAddress) -> None:
        """Point replica ``index`` at ``endpoint`` (a replica restarted on another port or node)."""
        self._commands.put((index, _address(endpoint)))

    def address(self, index: int) -> ReplicaAddress:
        return self.replicas[index].address

    def reload_keys(self) -> None:
        """Re-read the robots' allow-list at the next housekeeping tick (SIGHUP; safe from any thread)."""
        self._reload_keys.set()

    def live(self) -> list[bool]:
        with self._lock:
            return [r.up for r in self.replicas]

    def placement(self) -> dict[str, int]:
        """Session id → replica index, a snapshot."""
        with self._lock:
            return {sid: s.replica for sid, s in self.sessions.items()}

    def close(self) -> None:
        for r in self.replicas:
            r.sock.disable_monitor()
            r.monitor.close(0)
            r.sock.close(0)
        self._router.close()
        if self._own_ctx:
            self._ctx.term()

    # ------------------------------------------------------------------------------------------ loop
    def step(self, max_block_s: float = 0.05) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        for r in self.replicas:
            poller.register(r.sock, zmq.POLLIN)
            poller.register(r.monitor, zmq.POLLIN)
        events = dict(poller.poll(int(max_block_s * 1000)))
        for k, r in enumerate(self.replicas):
            if r.monitor in events:
                self._monitor(k, r)
        for k, r in enumerate(self.replicas):
            if r.sock in events:
                self._drain(r.sock, lambda frames, k=k: self._from_replica(k, frames))
        if self.sock in events:
            self._drain(self.sock, self._from_robot)
        while not self._commands.empty():
            self._move(*self._commands.get_nowait())
        if time.monotonic() >= self._next_housekeeping:
            self._housekeeping()

    @staticmethod
    def _drain(sock: zmq.Socket, handle: Callable[[list[zmq.Frame]], None], limit: int = 1000) -> None:
        for _ in range(limit):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            handle(frames)

    # ------------------------------------------------------------------------------------------ replicas
    def _connect(self, address: ReplicaAddress) -> _Replica:
        """A DEALER to a replica: CURVE (the fleet's key pair, the replica's key pinned) when the replica has a
        key; plaintext only on loopback."""
        sock = dealer(self._ctx, REPLICA_OPTIONS)
        if address.public is not None:
            if self.hop_keys is None or self.hop_keys.secret is None:
                raise ValueError("a CURVE replica needs the front's hop key pair (hop_keys)")
            sock.curve_secretkey = self.hop_keys.secret
            sock.curve_publickey = self.hop_keys.public
            sock.curve_serverkey = address.public
        else:
            check_connect_security(address.endpoint, secure=False, insecure_ok=False)
        monitor = sock.get_monitor_socket(UP_EVENTS | DOWN_EVENTS)
        sock.connect(address.endpoint)
        return _Replica(address=address, sock=sock, monitor=monitor)

    def _move(self, k: int, endpoint: ReplicaAddress) -> None:
        r = self.replicas[k]
        if endpoint == r.address:
            return
        self._down(k)
        r.sock.disable_monitor()
        r.monitor.close(0)
        r.sock.close(0)
        self.replicas[k] = self._connect(endpoint)

    def _monitor(self, k: int, r: _Replica) -> None:
        while r.monitor.poll(0):
            event = recv_monitor_message(r.monitor)["event"]
            if event & UP_EVENTS:
                with self._lock:
                    r.up = True
            elif event & DOWN_EVENTS:
                self._down(k)

    def _down(self, k: int) -> None:
        """Replica ``k`` is gone: its sessions are evicted (robots resume elsewhere), STATS stop waiting on it."""
        r = self.replicas[k]
        with self._lock:
            was_up, r.up = r.up, False
            lost = [(sid, self.sessions.pop(sid)) for sid in r.sessions if sid in self.sessions]
            r.sessions.clear()
        if was_up:
            r.downs += 1
            self.metrics.replica_downs.inc()
            self.metrics.evicted.inc(len(lost))
            event(log, logging.WARNING, "replica_down", replica=k, endpoint=r.address.endpoint,
                  sessions_evicted=len(lost))
        for sid, s in lost:
            self.evicted += 1
            self._send(s.route, p.Error(session=sid, round=-1, code=p.ErrorCode.EVICTED.value,
                                        reason="its verifier replica went down; re-open with the committed tokens "
                                               "to resume"))
        for call_id, call in list(self._stats_calls.items()):
            call.waiting.discard(k)
            self._maybe_answer_stats(call_id)

    def _least_loaded(self) -> int | None:
        live = [(len(r.sessions), k) for k, r in enumerate(self.replicas) if r.up]
        return min(live)[1] if live else None

    # ------------------------------------------------------------------------------------------ robot → replica
    def _send(self, route: Sequence[bytes], msg: p.Message) -> None:
        self._router.send(route, msg)

    def _owner(self, route: list[bytes], payload: zmq.Frame) -> bytes:
        if self.security is not None:
            try:
                user = payload.get("User-Id")
            except zmq.ZMQError:
                user = None
            if user:
                return str(user).encode()
        return b"\x00".join(route)

    def _refuse(self, route: list[bytes], err: p.ProtocolError) -> None:
        peer = self._robots.peer(route)
        self.metrics.errors.labels(code=err.code.value).inc()
        log_it, suppressed = self._error_lines.take(peer, time.monotonic())
        if suppressed:
            event(log, logging.WARNING, "error_lines_suppressed", peer=peer, lines=suppressed)
        if log_it:
            event(log, logging.WARNING, "error_sent", code=err.code.value, reason=err.reason[:200], peer=peer,
                  session=err.session)
        self._send(route, p.Error.from_error(err))

    def _from_robot(self, frames: list[zmq.Frame]) -> None:
        route = [f.bytes for f in frames[:-1]]
        payload = frames[-1]
        if not route or len(route) > MAX_ROUTE or any(len(x) > 256 for x in route):
            return  # cannot be answered safely
        owner = self._owner(route, payload)
        if self._revoked(owner):
            cut_connection(payload)  # a key revoked since its handshake: unread, unanswered
            return
        if route not in self._robots:
            self._connected(tuple(route), owner, payload)
        data = payload.bytes
        try:
            self._route(p.decode_to_answer(data), route, owner, data)
        except p.ProtocolError as e:
            self._refuse(route, e)

    def _connected(self, key: tuple[bytes, ...], owner: bytes, payload: zmq.Frame) -> None:
        address = peer_address(payload)
        name = self._allow.name(owner) if self._allow is not None and self.security is not None else None
        robot = self._robots.add(key, owner, name or address or "?", payload)
        self.metrics.connections.inc()
        event(log, logging.INFO, "robot_connected", peer=robot.peer, address=address or "")

    def _revoked(self, owner: bytes) -> bool:
        return self._allow is not None and self.security is not None and not self._allow.allows(owner)

    def _cut_revoked(self) -> None:
        """Close the sessions of keys no longer allowed (on their replicas) and cut their connections."""
        gone: dict[bytes, int] = {}
        for sid, s in list(self.sessions.items()):
            if self._revoked(s.owner):
                try:
                    self.replicas[s.replica].sock.send_multipart([ROBOT, *s.route, p.encode(p.Close(session=sid))],
                                                                 zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass  # the replica expires it
                self._forget(sid)
                gone[s.owner] = gone.get(s.owner, 0) + 1
        for owner in self._robots.cut(self._revoked):
            gone.setdefault(owner, 0)
        for owner, n in gone.items():
            self.metrics.revoked.inc(n)
            name = self._allow.name(owner) if self._allow is not None else None
            event(log, logging.WARNING, "key_revoked", peer=name or owner.decode(errors="replace")[:48], sessions_cut=n)

    def _route(self, msg: p.Message, route: list[bytes], owner: bytes, data: bytes) -> None:
        if isinstance(msg, p.Ping):
            if any(r.up for r in self.replicas):
                self._send(route, p.Pong(sent=msg.sent, sessions=len(self.sessions)))
            return
        if isinstance(msg, p.StatsRequest):
            self._ask_stats(route, msg)
            return
        sid = getattr(msg, "session", "")
        s = self.sessions.get(sid)
        if isinstance(msg, p.Open):
            if s is not None and s.owner != owner:
                raise p.ProtocolError(p.ErrorCode.NOT_OWNER, "session belongs to another robot", session=sid)
            if s is None:
                k = self._least_loaded()
                if k is None:
                    return  # no replica live: silence, the robot waits as for a lost cloud
                s = _Session(replica=k, owner=owner, route=route)
                with self._lock:
                    self.sessions[sid] = s
                    self.replicas[k].sessions.add(sid)
        elif isinstance(msg, p.Draft | p.Close):
            if s is None:
                raise p.ProtocolError(p.ErrorCode.UNKNOWN_SESSION, f"no open session {sid!r}", session=sid,
                                      round=getattr(msg, "round", -1))
            if s.owner != owner:
                raise p.ProtocolError(p.ErrorCode.NOT_OWNER, "session belongs to another robot", session=sid)
            if isinstance(msg, p.Close):
                self._forget(sid)
        else:
            raise p.ProtocolError(p.ErrorCode.UNSUPPORTED, f"'{msg.TAG}' is sent by the cloud, not to it",
                                  session=sid)
        s.route, s.last_active = route, time.monotonic()
        try:
            self.replicas[s.replica].sock.send_multipart([ROBOT, *route, data], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # replica queue full: the robot times out and resumes

    def _forget(self, sid: str) -> None:
        with self._lock:
            s = self.sessions.pop(sid, None)
            if s is not None:
                self.replicas[s.replica].sessions.discard(sid)

    # ------------------------------------------------------------------------------------------ replica → robot
    def _from_replica(self, k: int, frames: list[zmq.Frame]) -> None:
        if len(frames) < 2:
            return
        kind = frames[0].bytes
        if kind == FRONT_STATS and len(frames) == 3:
            self._got_stats(k, frames[1].bytes, frames[2].bytes)
            return
        if kind != ROBOT:
            return
        route = [f.bytes for f in frames[1:-1]]
        data = frames[-1].bytes
        try:
            msg = p.decode(data)
        except p.ProtocolError:
            msg = None
        if isinstance(msg, p.Closed) or (isinstance(msg, p.Error) and msg.code in (
                p.ErrorCode.EVICTED.value, p.ErrorCode.FINISHED.value, p.ErrorCode.UNKNOWN_SESSION.value)):
            s = self.sessions.get(msg.session)
            if s is not None and s.replica == k:
                self._forget(msg.session)
        try:
            self.sock.send_multipart([*route, data], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    # ------------------------------------------------------------------------------------------ stats
    def _ask_stats(self, route: list[bytes], msg: p.StatsRequest) -> None:
        live = {k for k, r in enumerate(self.replicas) if r.up}
        if not live:
            return
        call_id = self._next_call
        self._next_call += 1
        self._stats_calls[call_id] = _StatsCall(route=route, waiting=live, reset=msg.reset,
                                                deadline=time.monotonic() + 30.0)
        for k in live:
            self.replicas[k].sock.send_multipart([FRONT_STATS, str(call_id).encode(), p.encode(msg)], zmq.NOBLOCK)

    def _got_stats(self, k: int, call: bytes, data: bytes) -> None:
        try:
            call_id = int(call)
            msg = p.decode(data)
        except (ValueError, p.ProtocolError):
            return
        c = self._stats_calls.get(call_id)
        if c is None or not isinstance(msg, p.Stats):
            return
        for f in fields(p.Stats):
            c.total[f.name] = c.total.get(f.name, 0) + getattr(msg, f.name)
        c.waiting.discard(k)
        self._maybe_answer_stats(call_id)

    def _maybe_answer_stats(self, call_id: int) -> None:
        c = self._stats_calls[call_id]
        if c.waiting and time.monotonic() < c.deadline:
            return
        del self._stats_calls[call_id]
        kinds = {f.name: f.type for f in fields(p.Stats)}
        values = {name: (float(c.total.get(name, 0.0)) if kinds[name] in (float, "float")
                         else int(c.total.get(name, 0))) for name in kinds}
        values["sessions"] = len(self.sessions)
        self._send(c.route, p.Stats(**values))

    # ------------------------------------------------------------------------------------------ upkeep
    def _housekeeping(self) -> None:
        now = time.monotonic()
        self._next_housekeeping = now + 0.5
        if self._allow is not None:
            reload = self._reload_keys.is_set()
            self._reload_keys.clear()
            if self._allow.reload() if reload else self._allow.refresh():
                event(log, logging.INFO, "keys_reloaded", allowed=len(self._allow.keys))
                self._cut_revoked()
        for sid in [sid for sid, s in self.sessions.items() if now - s.last_active > self.idle_timeout_s]:
            self._forget(sid)  # the replica expires it too (and its ERROR finds no mapping)
        for call_id in [c for c, call in self._stats_calls.items() if now >= call.deadline]:
            self._maybe_answer_stats(call_id)


def _address(endpoint: str | ReplicaAddress) -> ReplicaAddress:
    return endpoint if isinstance(endpoint, ReplicaAddress) else ReplicaAddress(endpoint)
