"""Velocity limits of a locomotion platform (the hardware facts, here only) and a lab's own caps under them.

Profiles: ``go2_sport`` (Unitree Go2 sport mode: vx -2.5..3.8 m/s, vy +-1.0 m/s, vyaw +-4 rad/s;
commands execute at a calm 0.5 m/s, 0.3 m/s, 1.0 rad/s) and ``champ`` (CHAMP-based Gazebo Go2
gaits: caps 0.3 m/s, 0.25 m/s, 0.5 rad/s, executed at those caps).

``LabLimits`` are what a lab sets for its room (``max_vx``, ``max_vy``, ``max_vyaw``, ``max_duration_s``,
``max_distance_m``); ``LabLimits.under(profile)`` is the profile with its ranges and nominal speeds cut to
them, so whatever a lab sets, nothing goes above the hardware range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class VelocityLimits:
    """Ranges (m/s, m/s, rad/s) a platform accepts, and the speeds a command is executed at."""

    name: str
    vx_min: float
    vx_max: float
    vy_max: float
    vyaw_max: float
    nominal_vx: float
    nominal_vy: float
    nominal_vyaw: float

    def __post_init__(self) -> None:
        if not (self.vx_min < 0 < self.vx_max and self.vy_max > 0 and self.vyaw_max > 0):
            raise ValueError(f"limits {self.name!r}: need vx_min < 0 < vx_max and positive vy_max, vyaw_max")
        if not (0 < self.nominal_vx <= min(self.vx_max, -self.vx_min) and 0 < self.nominal_vy <= self.vy_max
                and 0 < self.nominal_vyaw <= self.vyaw_max):
            raise ValueError(f"limits {self.name!r}: nominal speeds must be positive and inside the ranges")

    def clamp(self, vx: float, vy: float, vyaw: float) -> tuple[float, float, float]:
        """(vx, vy, vyaw) clamped into the ranges; non-finite values raise ValueError."""
        for label, v in (("vx", vx), ("vy", vy), ("vyaw", vyaw)):
            if not math.isfinite(v):
                raise ValueError(f"{label} must be finite, got {v!r}")
        return (
            min(max(vx, self.vx_min), self.vx_max),
            min(max(vy, -self.vy_max), self.vy_max),
            min(max(vyaw, -self.vyaw_max), self.vyaw_max),
        )


@dataclass(frozen=True)
class LabLimits:
    """A lab's caps: speeds (m/s, m/s, rad/s, both directions), the longest motion (s) and the longest walk (m)."""

    max_vx: float
    max_vy: float
    max_vyaw: float
    max_duration_s: float
    max_distance_m: float

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"lab limit {name} must be a positive finite number, got {value!r}")

    def under(self, hardware: VelocityLimits) -> VelocityLimits:
        """``hardware`` with its ranges and nominal speeds cut to these caps (never widened)."""
        vx_max, vx_min = min(hardware.vx_max, self.max_vx), max(hardware.vx_min, -self.max_vx)
        vy_max, vyaw_max = min(hardware.vy_max, self.max_vy), min(hardware.vyaw_max, self.max_vyaw)
        return VelocityLimits(f"{hardware.name} under lab caps", vx_min, vx_max, vy_max, vyaw_max,
                              nominal_vx=min(hardware.nominal_vx, vx_max, -vx_min),
                              nominal_vy=min(hardware.nominal_vy, vy_max),
                              nominal_vyaw=min(hardware.nominal_vyaw, vyaw_max))


# a lab that sets nothing gets these (docs/safety.md): calm speeds for a room with people
LAB_DEFAULTS = LabLimits(max_vx=0.5, max_vy=0.3, max_vyaw=0.8, max_duration_s=4.0, max_distance_m=2.0)

PROFILES: dict[str, VelocityLimits] = {
    "go2_sport": VelocityLimits("go2_sport", -2.5, 3.8, 1.0, 4.0, nominal_vx=0.5, nominal_vy=0.3, nominal_vyaw=1.0),
    "champ": VelocityLimits("champ", -0.3, 0.3, 0.25, 0.5, nominal_vx=0.3, nominal_vy=0.25, nominal_vyaw=0.5),
}


def get_limits(name: str) -> VelocityLimits:
    """The named profile; ValueError naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown velocity profile {name!r} (known: {', '.join(PROFILES)})") from None
