"""Runs timed motions one after another on an injected clock: the command queue behind the Go2
bridge (``SportClient.Move``) and behind the ``cmd_vel`` output, so both execute an answer alike.

A new answer (another request) replaces what is left of the old one; commands of the same answer
queue up in order. ``step(now)`` says what to do at time ``now``: which motion is active, whether
it just started (publish / log it), and whether the robot just became idle (send a stop).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from spec_decode_ros.control.primitives import Motion

Tag = TypeVar("Tag")


@dataclass(frozen=True)
class Step(Generic[Tag]):
    """What the executor should do now."""

    motion: Motion | None  # the motion to hold now (None: stand still)
    tag: Tag | None  # what the active motion came from
    started: bool  # the active motion began at this step
    stopped: bool  # the robot just became idle (queue ran out, a stop command, or stop())


class MotionSequencer(Generic[Tag]):
    def __init__(self) -> None:
        self._queue: deque[tuple[Motion, Tag]] = deque()
        self._active: tuple[Motion, Tag, float] | None = None  # motion, tag, end time
        self._moving = False
        self._stop_pending = False

    @property
    def idle(self) -> bool:
        return self._active is None and not self._queue

    def remaining_s(self, now: float) -> float:
        """Seconds of motion left at ``now``: the rest of the active motion plus everything queued."""
        active = max(0.0, self._active[2] - now) if self._active is not None else 0.0
        return active + sum(motion.duration_s for motion, _ in self._queue)

    def submit(self, motion: Motion, tag: Tag, *, replace: bool) -> None:
        """Queue a motion; ``replace`` drops the rest of the current answer first (a newer answer)."""
        if replace:
            self._queue.clear()
            self._active = None
        self._queue.append((motion, tag))

    def end_active(self, now: float) -> None:
        """The active motion is done (its goal was reached early, e.g. by odometry): the next ``step`` moves on."""
        if self._active is not None:
            self._active = (self._active[0], self._active[1], min(self._active[2], now))

    @property
    def active_tag(self) -> Tag | None:
        return self._active[1] if self._active is not None else None

    def stop(self) -> None:
        """Drop everything; the next ``step`` reports ``stopped`` if the robot was moving."""
        self._queue.clear()
        self._active = None
        self._stop_pending = self._moving

    def step(self, now: float) -> Step[Tag]:
        if self._active is not None and now >= self._active[2]:
            self._active = None
        started = False
        while self._active is None and self._queue:
            motion, tag = self._queue.popleft()
            if motion.is_stop:
                self._queue.clear()
                self._stop_pending = True
                break
            self._active = (motion, tag, now + motion.duration_s)
            started = True
        if self._active is not None:
            self._moving = True
            self._stop_pending = False
            motion, tag, _ = self._active
            return Step(motion, tag, started, False)
        stopped = self._moving or self._stop_pending
        self._moving = self._stop_pending = False
        return Step(None, None, False, stopped)
