"""Checks one incoming move command before anything reaches the robot: the last gate in front of
``SportClient.Move``, so a bad message from any publisher cannot move the robot unsafely.

Rules (``check_move``):

- a non-finite velocity or duration (NaN, ±inf) → refused (``CommandRefused``): nothing sensible to clamp to;
- a duration that is not positive → refused (a move without a positive duration is malformed);
- finite velocities outside the profile's ranges → clamped into them, with a note saying what changed;
- a duration longer than ``max_duration_s`` → bounded to it, with a note (the deadman still applies);
- a walk longer than ``max_distance_m`` (speed × duration, after the clamp) → its duration bounded so it is not.

``CheckedMove.summary`` is every change in one line (a node logs once per command).

``longest_command_s(limits)`` is the longest motion a grammatical command can ask for at the profile's
nominal speeds (grammar caps: ``MAX_METRES``, ``MAX_DEGREES``), the natural duration bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from spec_decode_ros.control.grammar import MAX_DEGREES, MAX_METRES
from spec_decode_ros.control.limits import VelocityLimits
from spec_decode_ros.control.primitives import Motion


class CommandRefused(ValueError):
    """The command must not be executed at all; the message says why."""


@dataclass(frozen=True)
class CheckedMove:
    """The motion to execute and what was changed to make it safe (empty when nothing was)."""

    motion: Motion
    notes: tuple[str, ...]

    @property
    def summary(self) -> str:
        return "; ".join(self.notes)


def longest_command_s(limits: VelocityLimits) -> float:
    """Seconds of the longest command the grammar allows, executed at the profile's nominal speeds."""
    return max(MAX_METRES / limits.nominal_vx, MAX_METRES / limits.nominal_vy,
               math.radians(MAX_DEGREES) / limits.nominal_vyaw)


def check_move(vx: float, vy: float, vyaw: float, duration_s: float, limits: VelocityLimits,
               max_duration_s: float, max_distance_m: float = math.inf) -> CheckedMove:
    """The safe motion for a move command, or ``CommandRefused``; see the module docstring for the rules."""
    values = {"vx": vx, "vy": vy, "vyaw": vyaw, "duration": duration_s}
    bad = [f"{name}={value!r}" for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise CommandRefused(f"non-finite {', '.join(bad)}")
    if duration_s <= 0:
        raise CommandRefused(f"a move needs a positive duration, got {duration_s!r} s")
    notes: list[str] = []
    safe = limits.clamp(vx, vy, vyaw)
    for name, asked, got in zip(("vx", "vy", "vyaw"), (vx, vy, vyaw), safe, strict=True):
        if got != asked:
            notes.append(f"{name} {asked:g} clamped to {got:g} ({limits.name})")
    if duration_s > max_duration_s:
        notes.append(f"duration {duration_s:g} s bounded to {max_duration_s:g} s")
        duration_s = max_duration_s
    speed = math.hypot(safe[0], safe[1])
    if speed * duration_s > max_distance_m:
        notes.append(f"distance {speed * duration_s:.2f} m bounded to {max_distance_m:g} m")
        duration_s = max_distance_m / speed
    return CheckedMove(Motion(*safe, float(duration_s)), tuple(notes))
