"""Commands to motions: each command becomes a constant body-frame velocity held for a duration."""

from __future__ import annotations

import math
from dataclasses import dataclass

from spec_decode_ros.control.grammar import Command
from spec_decode_ros.control.limits import VelocityLimits


@dataclass(frozen=True)
class Motion:
    """Body-frame velocity (vx forward m/s, vy left m/s, vyaw counter-clockwise rad/s) held for ``duration_s``."""

    vx: float
    vy: float
    vyaw: float
    duration_s: float

    @property
    def distance_m(self) -> float:
        """Metres covered at this velocity for its duration."""
        return math.hypot(self.vx, self.vy) * self.duration_s

    @property
    def angle_rad(self) -> float:
        """Radians turned at this yaw rate for its duration (unsigned)."""
        return abs(self.vyaw) * self.duration_s

    @property
    def is_stop(self) -> bool:
        return self.duration_s == 0.0 and self.vx == self.vy == self.vyaw == 0.0


STOP_MOTION = Motion(0.0, 0.0, 0.0, 0.0)


def to_motion(cmd: Command, limits: VelocityLimits) -> Motion:
    """The motion executing ``cmd`` at the profile's nominal speeds; "stop" is zero velocity for 0 s.

    Turn left is +vyaw, sidestep left is +vy. The amount is covered exactly: duration = amount / speed.
    """
    if cmd.action == "stop":
        return STOP_MOTION
    assert cmd.amount is not None
    if cmd.action == "turn":
        sign = 1.0 if cmd.direction == "left" else -1.0
        rate = limits.nominal_vyaw
        return Motion(0.0, 0.0, sign * rate, math.radians(cmd.amount) / rate)
    if cmd.action == "sidestep":
        sign = 1.0 if cmd.direction == "left" else -1.0
        return Motion(0.0, sign * limits.nominal_vy, 0.0, cmd.amount / limits.nominal_vy)
    sign = 1.0 if cmd.action == "forward" else -1.0
    return Motion(sign * limits.nominal_vx, 0.0, 0.0, cmd.amount / limits.nominal_vx)
