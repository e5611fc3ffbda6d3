"""When the draft node may start its next request: after the previous answer was executed (its
``motion/done``), on an image captured ``settle_ns`` after that, and never later than ``done_timeout_s``
after the answer was sent (a lost ``motion/done`` must not stall the robot's decoding forever).

Pure logic, no ROS and no threads: the node calls it under its own lock with the times it reads.
Two clocks, as the node has them: image stamps and ``now_ns`` are ROS time (nanoseconds), the
timeout runs on ``now_s`` (monotonic seconds).

The race it closes: ``motion/done`` for an answer can arrive before the node starts waiting for it
(a short answer, a fast motion node). Every done is remembered (``last_done``), and ``answer_sent``
checks it before waiting.

Fresh eyes for a new task: ``new_task(now_ns)`` (a new instruction) accepts only images captured
``settle_ns`` after it arrived, so a request never answers a new instruction on a view from before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class RequestGate:
    settle_ns: int = 0
    done_timeout_s: float = 30.0
    awaiting: int | None = None  # request id whose motion/done is awaited
    awaiting_since_s: float = 0.0
    last_done: int = 0  # highest request id reported done (request ids start at 1)
    last_done_ns: int = 0  # when it was received
    ready_after_ns: int = 0  # images captured before this are too early

    def __post_init__(self) -> None:
        if self.settle_ns < 0:
            raise ValueError(f"settle_ns must not be negative, got {self.settle_ns}")
        if not (self.done_timeout_s > 0 and math.isfinite(self.done_timeout_s)):
            raise ValueError(f"done_timeout_s must be a positive number of seconds, got {self.done_timeout_s!r}")

    def done(self, request_id: int, now_ns: int) -> None:
        """``motion/done`` for ``request_id`` arrived (it also covers every earlier request)."""
        if request_id > self.last_done:
            self.last_done, self.last_done_ns = request_id, now_ns
        if self.awaiting is not None and request_id >= self.awaiting:
            self.awaiting = None
            self.ready_after_ns = now_ns + self.settle_ns

    def answer_sent(self, request_id: int, now_s: float) -> None:
        """The answer of ``request_id`` is complete: wait for its execution, unless that already ended."""
        if self.last_done >= request_id:
            self.ready_after_ns = self.last_done_ns + self.settle_ns
            return
        self.awaiting, self.awaiting_since_s = request_id, now_s

    def new_task(self, now_ns: int) -> None:
        """A new instruction arrived at ``now_ns``: do not wait for the old one's motion, and look again
        (only an image captured ``settle_ns`` after now will do)."""
        self.awaiting = None
        self.ready_after_ns = max(self.ready_after_ns, now_ns + self.settle_ns)

    def overdue(self, now_s: float) -> bool:
        """True when the awaited ``motion/done`` is more than ``done_timeout_s`` late."""
        return self.awaiting is not None and now_s - self.awaiting_since_s > self.done_timeout_s

    def ready(self, image_stamp_ns: int, now_s: float) -> bool:
        """May a request start now on an image stamped ``image_stamp_ns``?"""
        return (self.awaiting is None or self.overdue(now_s)) and image_stamp_ns >= self.ready_after_ns

    def start(self, now_s: float) -> int | None:
        """A request starts now; returns the request id whose overdue ``motion/done`` was given up on, if any."""
        given_up = self.awaiting if self.overdue(now_s) else None
        self.awaiting = None
        return given_up
