"""Deadman: decides when the robot must stop because commands went stale or the cloud link was lost.

Pure logic with an injected clock (``clock() -> seconds``), so tests drive time by hand. Feed it:

- ``command(duration_s)`` on each fresh command: the robot may keep moving until the command's own
  motion ends plus ``command_timeout_s`` (a "stop" or a bare heartbeat is ``duration_s=0``);
- ``link_ok()`` whenever the cloud proves alive (a verdict, a pong); ``link_lost(reason)`` when the
  transport knows it is gone.

``check()`` says whether the robot must stop now and why (None: it may keep moving). It starts stopped;
a fresh command re-arms it (after ``link_ok`` if the link was the reason). Sending one StopMove per trip
is the caller's business (the nodes keep their own "stopped" flag).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

STALE = "stale"  # no fresh command in time
CLOUD_LOST = "cloud_lost"  # no sign of the cloud in time, or the transport reported it lost


@dataclass(frozen=True)
class StopEvent:
    """Why the robot must stop (``reason`` is STALE or CLOUD_LOST), when, and a readable detail."""

    reason: str
    at: float
    detail: str


class Deadman:
    """Stale-stream and lost-link watchdog; not thread-safe (call it from one thread or under a lock)."""

    def __init__(
        self,
        command_timeout_s: float = 1.0,
        link_timeout_s: float = 2.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (("command_timeout_s", command_timeout_s), ("link_timeout_s", link_timeout_s)):
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        self.command_timeout_s = float(command_timeout_s)
        self.link_timeout_s = float(link_timeout_s)
        self._clock = clock
        now = clock()
        self._command_deadline = -math.inf  # nothing commanded yet: the robot must not move
        self._link_deadline = now + self.link_timeout_s
        self._link_lost: str | None = None

    def command(self, duration_s: float = 0.0) -> None:
        """A fresh command arrived whose motion lasts ``duration_s`` seconds."""
        if not (duration_s >= 0 and math.isfinite(duration_s)):
            raise ValueError(f"duration_s must be a finite non-negative number, got {duration_s!r}")
        self._command_deadline = self._clock() + duration_s + self.command_timeout_s

    def link_ok(self) -> None:
        """The cloud showed it is alive."""
        self._link_lost = None
        self._link_deadline = self._clock() + self.link_timeout_s

    def link_lost(self, detail: str = "transport reported the cloud lost") -> None:
        """The transport knows the cloud is gone."""
        self._link_lost = detail

    def check(self) -> StopEvent | None:
        """The reason the robot must stop now, or None if it may keep moving."""
        return self._stop_reason(self._clock())

    def _stop_reason(self, now: float) -> StopEvent | None:
        if self._link_lost is not None:
            return StopEvent(CLOUD_LOST, now, self._link_lost)
        if now > self._link_deadline:
            late = now - self._link_deadline + self.link_timeout_s
            return StopEvent(CLOUD_LOST, now, f"no sign of the cloud for {late:.2f} s (limit {self.link_timeout_s} s)")
        if self._command_deadline == -math.inf:
            return StopEvent(STALE, now, "no command yet")
        if now > self._command_deadline:
            return StopEvent(STALE, now, f"no fresh command for {now - self._command_deadline:.2f} s past the motion")
        return None
