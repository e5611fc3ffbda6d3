"""The draft node's view of the cloud link: which link status to report, and when.

Pure logic with an injected clock (no ROS: the node turns each ``LinkUpdate`` into a ``LinkStatus``).
The motion and Go2 bridge nodes stop the robot on UNREACHABLE and re-arm only on CONNECTED, and their
deadman stops it when CONNECTED stops coming, so the rules are:

- every heartbeat ping reports its result (CONNECTED with the round trip, or UNREACHABLE);
- a verdict is a heartbeat too, reported at most once per ``heartbeat_s``;
- a committed token reports CONNECTED only when the last report was something else;
- the transport's own "unreachable" / "connected" and a request that failed for want of the cloud are
  reported at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

CONNECTED = "connected"
UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class LinkUpdate:
    """One link status to publish: CONNECTED or UNREACHABLE, a readable detail, the round trip (NaN: unknown)."""

    state: str
    detail: str
    rtt_ms: float = math.nan


class LinkMonitor:
    def __init__(self, heartbeat_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not (heartbeat_s > 0 and math.isfinite(heartbeat_s)):
            raise ValueError(f"heartbeat_s must be a positive number of seconds, got {heartbeat_s!r}")
        self.heartbeat_s = heartbeat_s
        self._clock = clock
        self.state: str | None = None  # nothing reported yet
        self._reported_at = -math.inf

    @property
    def unreachable(self) -> bool:
        return self.state == UNREACHABLE

    def _report(self, state: str, detail: str, rtt_ms: float = math.nan) -> LinkUpdate:
        self.state, self._reported_at = state, self._clock()
        return LinkUpdate(state, detail, rtt_ms)

    def ping(self, ok: bool, rtt_ms: float, timeout_s: float) -> LinkUpdate:
        """A heartbeat ping's result."""
        if ok:
            return self._report(CONNECTED, "pong", rtt_ms)
        return self._report(UNREACHABLE, f"no pong within {timeout_s:.1f} s")

    def no_cloud(self) -> LinkUpdate:
        """edge_only mode: there is no cloud to lose."""
        return self._report(CONNECTED, "edge_only: no cloud", 0.0)

    def verdict(self, verify_ms: float) -> LinkUpdate | None:
        """A verdict arrived: a heartbeat, if the last report is ``heartbeat_s`` old."""
        if self._clock() - self._reported_at > self.heartbeat_s:
            return self._report(CONNECTED, "verdicts arriving", verify_ms)
        return None

    def token(self) -> LinkUpdate | None:
        """A token was committed: the cloud answers, which is news only if the last report said otherwise."""
        return None if self.state == CONNECTED else self._report(CONNECTED, "tokens arriving")

    def transport(self, status: str) -> LinkUpdate | None:
        """The transport's own status change ("unreachable" or "connected"; anything else is not news)."""
        if status == UNREACHABLE:
            return self._report(UNREACHABLE, "cloud stopped answering mid-request")
        if status == CONNECTED:
            return self._report(CONNECTED, "cloud back")
        return None

    def lost(self, detail: str) -> LinkUpdate:
        """A request failed because the cloud could not be reached."""
        return self._report(UNREACHABLE, detail)
