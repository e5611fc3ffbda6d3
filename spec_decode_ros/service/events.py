"""What the verifier reports about itself: each event is one call here, which logs one line and moves the
metrics (``VerifierEvents``); the server calls it, the formatting lives here.

Per session it keeps a small tally (rounds, drafted, accepted, early verdicts and hits) for the line logged
when the session closes. ERROR lines are budgeted per peer (``LineBudget``: every ERROR is counted in the
metrics, but a peer that sends malformed frames on purpose gets 20 lines per 10 s and then one summary). Peers are named by their key's file name in ``allowed/`` when CURVE is on, else by
their address. No token text or image bytes are ever logged.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from spec_decode_ros.service.logs import event
from spec_decode_ros.service.metrics import VerifierMetrics

log = logging.getLogger("spec_decode_ros.cloud.verifier")
MAX_PEERS_SEEN = 4096  # connections remembered to log each one once
ERROR_LINES_PER_WINDOW = 20  # error_sent lines per peer per window; the rest are counted, then summarised
ERROR_LINE_WINDOW_S = 10.0


class LineBudget:
    """At most ``lines`` log lines per peer per ``window_s`` (a peer sending malformed frames on purpose must
    not fill the disk): ``take`` says whether to log, and how many lines the peer's last window suppressed."""

    def __init__(self, lines: int = ERROR_LINES_PER_WINDOW, window_s: float = ERROR_LINE_WINDOW_S) -> None:
        self.lines, self.window_s = lines, window_s
        self._peers: OrderedDict[str, list[float]] = OrderedDict()  # peer -> [window start, used, suppressed]

    def take(self, peer: str, now: float) -> tuple[bool, int]:
        rec = self._peers.get(peer)
        reported = 0
        if rec is None or now - rec[0] > self.window_s:
            reported = int(rec[2]) if rec is not None else 0
            rec = self._peers[peer] = [now, 0.0, 0.0]
        self._peers.move_to_end(peer)
        while len(self._peers) > MAX_PEERS_SEEN:
            self._peers.popitem(last=False)
        if rec[1] < self.lines:
            rec[1] += 1
            return True, reported
        rec[2] += 1
        return False, reported


@dataclass
class SessionTally:
    peer: str
    opened: float = field(default_factory=time.monotonic)
    rounds: int = 0
    committed: int = 0
    drafted: int = 0
    accepted: int = 0
    early: int = 0
    early_hits: int = 0


class VerifierEvents:
    """The verifier's logging and metrics hooks. ``name_of(owner)`` turns a CURVE key into its allow-list name."""

    def __init__(self, sessions: Callable[[], int], name_of: Callable[[str], str | None] | None = None,
                 label: str = "") -> None:
        self.metrics = VerifierMetrics(sessions)
        self.name_of = name_of or (lambda owner: None)
        self.label = label  # e.g. "replica 1"
        self._seen: OrderedDict[tuple[bytes, ...], None] = OrderedDict()
        self._tallies: dict[str, SessionTally] = {}
        self._error_lines = LineBudget()

    def peer(self, owner: str | None, address: str | None) -> str:
        """How a peer is named in the logs: its key's allow-list name, else its address, else its key."""
        if owner and not owner.startswith("conn:"):
            name = self.name_of(owner)
            if name:
                return name
        return address or (owner or "?")[:48]

    def frame(self, route: tuple[bytes, ...], owner: str | None, address: str | None) -> None:
        """A frame arrived; the first one of a connection logs ``robot_connected``."""
        if route in self._seen:
            self._seen.move_to_end(route)
            return
        self._seen[route] = None
        while len(self._seen) > MAX_PEERS_SEEN:
            self._seen.popitem(last=False)
        self.metrics.connections.inc()
        event(log, logging.INFO, "robot_connected", peer=self.peer(owner, address), address=address or "",
              **self._where())

    def opened(self, sid: str, peer: str, *, resumed: int, prefill_s: float, autoregressive: bool,
               early_exit: bool) -> None:
        self._tallies[sid] = SessionTally(peer=peer)
        self.metrics.opens.labels(kind="resume" if resumed else "fresh").inc()
        self.metrics.prefill.observe(prefill_s)
        event(log, logging.INFO, "session_opened", session=sid, peer=peer, resumed=resumed,
              prefill_s=round(prefill_s, 4), mode="cloud_ar" if autoregressive else
              ("early_exit" if early_exit else "speculative"), **self._where())

    def verified(self, rows: int, forward_s: float) -> None:
        self.metrics.forward.observe(forward_s)
        self.metrics.batch_rows.observe(rows)

    def row(self, sid: str, *, drafted: int, accepted: int, early: tuple[int, int] | None, final: tuple[int, int],
            queue_wait_s: float, round_s: float) -> None:
        """One FINAL: ``early``/``final`` are the (n accepted, next token) of the two verdicts."""
        hit = early is not None and early == final
        committed = final[0] + 1
        self.metrics.row(drafted=drafted, accepted=accepted, committed=committed, early=early is not None,
                         early_hit=hit, queue_wait_s=queue_wait_s, round_s=round_s)
        t = self._tallies.get(sid)
        if t is not None:
            t.rounds += 1
            t.committed += committed
            t.drafted += drafted
            t.accepted += accepted
            t.early += int(early is not None)
            t.early_hits += int(hit)

    def closed(self, sid: str, reason: str) -> None:
        t = self._tallies.pop(sid, None)
        if t is None:
            return
        event(log, logging.INFO, "session_closed", session=sid, peer=t.peer, reason=reason, tokens=t.committed,
              rounds=t.rounds, acceptance=round(t.accepted / t.drafted, 3) if t.drafted else 0.0,
              early_hit_rate=round(t.early_hits / t.early, 3) if t.early else 0.0,
              duration_s=round(time.monotonic() - t.opened, 3), **self._where())

    def error_sent(self, code: str, reason: str, peer: str, session: str = "") -> None:
        """Every ERROR is counted; its line is logged within the peer's line budget."""
        self.metrics.errors.labels(code=code).inc()
        log_it, suppressed = self._error_lines.take(peer, time.monotonic())
        if suppressed:
            event(log, logging.WARNING, "error_lines_suppressed", peer=peer, lines=suppressed, **self._where())
        if log_it:
            event(log, logging.WARNING, "error_sent", code=code, reason=reason[:200], peer=peer, session=session,
                  **self._where())

    def unanswerable(self, peer: str, why: str) -> None:
        """A frame that cannot be answered (its routing envelope is not a robot's): counted, logged in budget."""
        self.metrics.errors.labels(code="unanswerable").inc()
        if self._error_lines.take(peer, time.monotonic())[0]:
            event(log, logging.WARNING, "frame_dropped", peer=peer, reason=why, **self._where())

    def flood_penalty(self, peer: str, backoff_s: float) -> None:
        self.metrics.flood_penalties.inc()
        event(log, logging.WARNING, "flood_penalty", peer=peer, backoff_s=backoff_s, **self._where())

    def revoked(self, peer: str, sessions: int) -> None:
        self.metrics.revoked.inc(sessions)
        event(log, logging.WARNING, "key_revoked", peer=peer, sessions_cut=sessions, **self._where())

    def keys_reloaded(self, allowed: int) -> None:
        event(log, logging.INFO, "keys_reloaded", allowed=allowed, **self._where())

    def _where(self) -> dict[str, str]:
        return {"replica": self.label} if self.label else {}
