"""Velocity profiles: the Go2 sport and CHAMP ranges, clamping, and clear errors."""

from __future__ import annotations

import math

import pytest

from spec_decode_ros.control.limits import PROFILES, VelocityLimits, get_limits


def test_profiles_hold_the_documented_ranges():
    go2 = get_limits("go2_sport")
    assert (go2.vx_min, go2.vx_max, go2.vy_max, go2.vyaw_max) == (-2.5, 3.8, 1.0, 4.0)
    champ = get_limits("champ")
    assert (champ.vx_max, champ.vy_max, champ.vyaw_max) == (0.3, 0.25, 0.5)
    assert set(PROFILES) == {"go2_sport", "champ"}


def test_clamp_limits_each_axis():
    go2 = get_limits("go2_sport")
    assert go2.clamp(10.0, -5.0, 9.0) == (3.8, -1.0, 4.0)
    assert go2.clamp(-10.0, 0.5, -9.0) == (-2.5, 0.5, -4.0)
    assert get_limits("champ").clamp(1.0, 1.0, -1.0) == (0.3, 0.25, -0.5)
    with pytest.raises(ValueError, match="vx must be finite"):
        go2.clamp(math.nan, 0.0, 0.0)


def test_bad_profiles_are_rejected():
    with pytest.raises(ValueError, match="unknown velocity profile 'spot'.*go2_sport"):
        get_limits("spot")
    with pytest.raises(ValueError, match="nominal"):
        VelocityLimits("x", -1.0, 1.0, 1.0, 1.0, nominal_vx=2.0, nominal_vy=0.5, nominal_vyaw=0.5)
