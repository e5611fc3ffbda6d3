"""The cloud's session table: who holds which target session, its limits, and the per-session checks of a frame.

One ``SessionEntry`` per robot session: the routing envelope to answer on, its owner (the CURVE public key
when CURVE is on, else the connection, i.e. the routing envelope, that opened it), the engine's target session (KV cache + committed tokens), the next
expected round and whether a round is in flight. ``SessionTable`` bounds the table (session count, idle
expiry, KV memory cap, sessions per client) and turns every stateful check of a DRAFT (known session, owner, round order,
committed length, vocabulary range, finished) into a ``ProtocolError`` with its code. An OPEN is admitted once, on
arrival (``admit``): from then until its session is added (``add``) or the OPEN fails (``withdraw``) it counts
against the limits, and the sessions it will displace (the same id's, its client's oldest idle one over the
per-client limit) are claimed for it, so that no other OPEN counts or claims them again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from spec_decode_ros.bridge.protocol import Draft, ErrorCode, Open, ProtocolError
from spec_decode_ros.decoding.vocab import first_outside


class TargetSessionLike(Protocol):
    """What the table needs of the engine's ``TargetSession``."""

    generated: list[int]
    finished: bool

    def memory_bytes(self) -> int: ...


@dataclass(frozen=True)
class Limits:
    """Server bounds: at most ``max_sessions``; a session idle for ``idle_timeout_s`` is dropped; the KV caches
    of all sessions together stay under ``memory_cap_bytes`` (least recently used sessions are evicted); one
    client (key or connection) holds at most ``max_sessions_per_client`` (a new one replaces its least
    recently used idle session)."""

    max_sessions: int = 64
    idle_timeout_s: float = 300.0
    memory_cap_bytes: int = 4 * 1024**3
    max_sessions_per_client: int = 4

    def __post_init__(self) -> None:
        if (self.max_sessions < 1 or self.idle_timeout_s <= 0 or self.memory_cap_bytes <= 0
                or self.max_sessions_per_client < 1):
            raise ValueError(f"limits must be positive, got {self}")


@dataclass
class SessionEntry:
    sid: str
    route: list[bytes]
    owner: str | None
    target: TargetSessionLike
    request: Open
    last_active: float = field(default_factory=time.monotonic)
    next_round: int = 0
    in_flight: bool = False

    @property
    def committed(self) -> int:
        return len(self.target.generated)

    @property
    def done(self) -> bool:
        return self.target.finished or self.committed >= self.request.max_new_tokens


@dataclass(frozen=True, eq=False)
class Admission:
    """An OPEN the table admitted: its session id and owner, and the sessions its session will displace (claimed
    for it): ``replaces``, the same id's; ``victim``, its client's least recently used idle one, over the limit."""

    sid: str
    owner: str | None
    replaces: SessionEntry | None
    victim: SessionEntry | None


class SessionTable:
    """Sessions by id, with the limits of ``Limits``."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._entries: dict[str, SessionEntry] = {}
        self._admitted: dict[str, Admission] = {}  # OPENs admitted, their sessions not made yet, by session id

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[SessionEntry]:
        return iter(list(self._entries.values()))

    def __contains__(self, sid: str) -> bool:
        return sid in self._entries

    def memory_bytes(self) -> int:
        return sum(e.target.memory_bytes() for e in self._entries.values())

    def get(self, sid: str, owner: str | None, round: int = -1) -> SessionEntry:
        entry = self._entries.get(sid)
        if entry is None:
            raise ProtocolError(ErrorCode.UNKNOWN_SESSION, f"no session {sid!r} on this server (re-open to resume)",
                                session=sid, round=round)
        if entry.owner != owner:
            raise ProtocolError(ErrorCode.NOT_OWNER, f"session {sid!r} belongs to another client", session=sid,
                                round=round)
        return entry

    def admit(self, msg: Open, owner: str | None) -> Admission:
        """Every check the table makes of an OPEN, once (``ProtocolError``: refused): no other OPEN of its id under
        way, ``check_open``, ``client_victim``. The admission counts against the limits until ``add`` or
        ``withdraw``."""
        rival = self._admitted.get(msg.session)
        if rival is not None:
            raise ProtocolError(ErrorCode.NOT_OWNER if rival.owner != owner else ErrorCode.BUSY,
                                f"session {msg.session!r} is being opened by another connection", session=msg.session)
        admission = Admission(msg.session, owner, self.check_open(msg, owner), self.client_victim(msg, owner))
        self._admitted[msg.session] = admission
        return admission

    def withdraw(self, admission: Admission) -> None:
        """An admitted OPEN that failed: it no longer counts, and what it claimed is free again."""
        if self._admitted.get(admission.sid) is admission:
            del self._admitted[admission.sid]

    def displaced(self, admission: Admission) -> list[SessionEntry]:
        """The sessions ``admission`` claimed that are still in the table (one may have gone meanwhile): the caller
        drops them when it makes the admitted session."""
        return [e for e in (admission.replaces, admission.victim) if e is not None and self._entries.get(e.sid) is e]

    def check_open(self, msg: Open, owner: str | None) -> SessionEntry | None:
        """May ``msg`` open a session (the admitted OPENs count as sessions)? Returns the entry it replaces (same id,
        same owner), if any."""
        old = self._entries.get(msg.session)
        if old is not None and old.owner != owner:
            raise ProtocolError(ErrorCode.NOT_OWNER, f"session {msg.session!r} belongs to another client",
                                session=msg.session)
        if old is None and len(self._entries) + len(self._admitted) >= self.limits.max_sessions:
            raise ProtocolError(ErrorCode.SESSION_LIMIT, f"server holds its limit of {self.limits.max_sessions} sessions",
                                session=msg.session)
        if self.memory_bytes() >= self.limits.memory_cap_bytes and not self._evictable(exclude=msg.session):
            raise ProtocolError(ErrorCode.MEMORY_LIMIT, f"KV caches use {self.memory_bytes()} bytes, the cap is "
                                f"{self.limits.memory_cap_bytes}, and every session is busy", session=msg.session)
        return old

    def client_victim(self, msg: Open, owner: str | None) -> SessionEntry | None:
        """The session ``msg`` must replace so that its client stays within ``max_sessions_per_client``, counting
        the client's admitted OPENs and leaving out the sessions they claimed: its least recently used idle one, or
        None when there is room; ``SESSION_LIMIT`` when every one of them is busy."""
        if msg.session in self._entries:
            return None  # a re-open replaces itself
        claimed = {e.sid for a in self._admitted.values() for e in (a.replaces, a.victim) if e is not None}
        mine = [e for e in self._entries.values() if e.owner == owner and e.sid not in claimed]
        if len(mine) + sum(a.owner == owner for a in self._admitted.values()) < self.limits.max_sessions_per_client:
            return None
        idle = sorted((e for e in mine if not e.in_flight), key=lambda e: e.last_active)
        if not idle:
            raise ProtocolError(ErrorCode.SESSION_LIMIT, f"this client holds its limit of "
                                f"{self.limits.max_sessions_per_client} sessions, all busy", session=msg.session)
        return idle[0]

    def add(self, entry: SessionEntry) -> None:
        """A session made: it joins the table and its admission (if any) ends."""
        self._entries[entry.sid] = entry
        self._admitted.pop(entry.sid, None)

    def remove(self, sid: str) -> SessionEntry | None:
        return self._entries.pop(sid, None)

    def check_draft(self, msg: Draft, owner: str | None, vocab_size: int) -> SessionEntry:
        """Every stateful check of a DRAFT; returns the session's entry."""
        entry = self.get(msg.session, owner, msg.round)

        def refuse(code: ErrorCode, reason: str) -> ProtocolError:
            return ProtocolError(code, reason, session=msg.session, round=msg.round)

        if entry.request.autoregressive:
            raise refuse(ErrorCode.UNSUPPORTED, "session was opened autoregressive: the cloud generates, send no DRAFT")
        if entry.in_flight:
            raise refuse(ErrorCode.BAD_ROUND, f"round {entry.next_round - 1} is still being verified")
        if msg.round != entry.next_round:
            raise refuse(ErrorCode.BAD_ROUND, f"expected round {entry.next_round}, got {msg.round}")
        if entry.done:
            raise refuse(ErrorCode.FINISHED, f"session ended after {entry.committed} tokens")
        if msg.committed != entry.committed:
            raise refuse(ErrorCode.BAD_LENGTH, f"robot says {msg.committed} committed tokens, server has {entry.committed}")
        bad = first_outside(msg.tokens, vocab_size)
        if bad is not None:
            raise refuse(ErrorCode.BAD_TOKEN, f"token id {bad} is outside the target's vocabulary of {vocab_size}")
        bad = None if msg.prob_ids is None else first_outside(msg.prob_ids, vocab_size)
        if bad is not None:
            raise refuse(ErrorCode.BAD_TOKEN, f"probability table names token {bad}, outside the vocabulary of {vocab_size}")
        return entry

    def expired(self, now: float) -> list[SessionEntry]:
        """Sessions idle longer than the limit (never one in flight)."""
        cutoff = now - self.limits.idle_timeout_s
        return [e for e in self._entries.values() if not e.in_flight and e.last_active < cutoff]

    def over_memory(self, keep: frozenset[str] | set[str] = frozenset()) -> list[SessionEntry]:
        """Least recently used sessions to evict so that the KV caches fit the cap (never one in flight or kept)."""
        total = self.memory_bytes()
        victims: list[SessionEntry] = []
        for e in sorted(self._entries.values(), key=lambda e: e.last_active):
            if total <= self.limits.memory_cap_bytes:
                break
            if e.in_flight or e.sid in keep:
                continue
            victims.append(e)
            total -= e.target.memory_bytes()
        return victims

    def _evictable(self, exclude: str) -> bool:
        return any(not e.in_flight and e.sid != exclude for e in self._entries.values())
