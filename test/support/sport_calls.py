"""What the fake Go2's sport service received, as the node tests read it (names, times, Move speeds)."""

from __future__ import annotations

from spec_decode_ros.sim.fake_go2 import FakeGo2


def names(fake: FakeGo2, since: float) -> list[str]:
    """Names of the sport calls received since ``since`` (``time.time()``), in order."""
    return [c.name for c in fake.calls if c.t >= since and c.service == "sport"]


def after_first_move(fake: FakeGo2, since: float) -> list[str]:
    """Sport calls from the first Move since ``since`` on (a previous bridge's last StopMove may arrive late)."""
    calls = names(fake, since)
    return calls[calls.index("Move"):] if "Move" in calls else []


def first_call(fake: FakeGo2, name: str, since: float) -> float:
    return next(c.t for c in fake.calls if c.t >= since and c.service == "sport" and c.name == name)


def call_times(fake: FakeGo2, name: str, since: float = 0.0) -> list[float]:
    return [c.t for c in fake.calls if c.service == "sport" and c.name == name and c.t >= since]


def moves(fake: FakeGo2, since: float) -> list[dict]:
    """Parameters ({"x", "y", "z"}) of every Move since ``since``."""
    return [c.params for c in fake.calls if c.t >= since and c.name == "Move"]
