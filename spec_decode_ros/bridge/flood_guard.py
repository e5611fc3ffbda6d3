"""The verifier's flood guard: which peers to silence and cut off because they flood it with refused frames.

A hostile frame is refused cheaply in Python, but its bytes are not free: the kernel and libzmq's I/O thread
read every one, and the sender spends as much writing them, on machines the honest robots share. So a peer
(its CURVE key; without CURVE, its connection) whose refused frames add up to more than ``refused_bytes``
within ``window_s`` is penalised for ``backoff_s``: its further frames are dropped unread, without a reply, and
its connection is cut once (``should_cut``), so that it must reconnect. With CURVE a penalised key cannot even
reconnect: the authenticator asks ``penalised`` at each handshake (``security.AllowList``) and refuses it, so
none of its frames is read while the penalty lasts; without CURVE each new connection is cut at its first frame. The threshold counts bytes, not frames: a client that sends small
malformed frames costs little and keeps getting an ERROR for each. While some peer is under penalty (an attack
is under way; without CURVE each reconnection is a new peer), the threshold is ``refused_bytes_under_attack``:
one large refused frame is enough.
The guard is thread-safe: the server's loop reports and asks, the ZAP authenticator's thread asks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

DEFAULT_REFUSED_BYTES = 16 * 2**20  # about 8 of the largest frames the cloud accepts


@dataclass(frozen=True)
class FloodLimits:
    """``refused_bytes`` of refused frames within ``window_s`` put a peer under penalty for ``backoff_s``."""

    refused_bytes: int = DEFAULT_REFUSED_BYTES
    refused_bytes_under_attack: int = 2**20  # the threshold while another peer is under penalty
    window_s: float = 2.0
    backoff_s: float = 10.0
    max_peers: int = 4096  # peers remembered at once (the oldest is forgotten first)


@dataclass
class _Peer:
    window_start: float
    refused_bytes: int = 0
    until: float = 0.0  # penalised before this time
    cut: set[Hashable] = field(default_factory=set)  # connections already cut during the penalty


class FloodGuard:
    """Per-peer refused bytes and penalties; the server asks ``penalised`` before reading a frame and reports
    each refused frame with ``refused``."""

    def __init__(self, limits: FloodLimits = FloodLimits()) -> None:
        self.limits = limits
        self._peers: OrderedDict[Hashable, _Peer] = OrderedDict()
        self._attack_until = 0.0  # some peer is under penalty before this time
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._peers)

    def penalised(self, peer: Hashable, now: float) -> bool:
        with self._lock:
            rec = self._peers.get(peer)
            return rec is not None and now < rec.until

    def refused(self, peer: Hashable, nbytes: int, now: float) -> bool:
        """Count a refused frame of ``nbytes``; True if it puts ``peer`` under penalty."""
        with self._lock:
            return self._refused(peer, nbytes, now)

    def _refused(self, peer: Hashable, nbytes: int, now: float) -> bool:
        rec = self._peers.get(peer)
        if rec is None or now - rec.window_start > self.limits.window_s:
            rec = _Peer(window_start=now, until=rec.until if rec is not None else 0.0)
            self._peers[peer] = rec
        self._peers.move_to_end(peer)
        while len(self._peers) > self.limits.max_peers:
            self._peers.popitem(last=False)
        rec.refused_bytes += nbytes
        limit = self.limits.refused_bytes_under_attack if now < self._attack_until else self.limits.refused_bytes
        if rec.refused_bytes <= limit or now < rec.until:
            return False
        rec.until, rec.refused_bytes, rec.cut = now + self.limits.backoff_s, 0, set()
        self._attack_until = rec.until
        return True

    def should_cut(self, peer: Hashable, connection: Hashable) -> bool:
        """True once per connection of a penalised peer: the caller cuts it (``connections.cut_connection``)."""
        with self._lock:
            rec = self._peers.get(peer)
            if rec is None or connection in rec.cut:
                return False
            rec.cut.add(connection)
            return True

    def expire(self, now: float) -> None:
        """Forget peers whose penalty and counting window are over."""
        with self._lock:
            for peer in [k for k, r in self._peers.items()
                         if now >= r.until and now - r.window_start > self.limits.window_s]:
                del self._peers[peer]

