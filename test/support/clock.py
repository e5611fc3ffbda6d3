"""A clock the test moves by hand, for the pure-logic classes that take ``clock() -> seconds``."""

from __future__ import annotations


class ManualClock:
    """Returns ``t``; a test advances it (``clock.t += 0.5``)."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t
