"""The pure safety logic the nodes run on: lab caps never above the hardware range, the walk-length bound,
the e-stop latch / arming / lock gate, the Go2's ready modes, and motion progress by odometry."""

from __future__ import annotations

import math

import pytest

from spec_decode_ros.control.command_check import check_move
from spec_decode_ros.control.limits import LAB_DEFAULTS, LabLimits, get_limits
from spec_decode_ros.control.motion_gate import MotionGate
from spec_decode_ros.control.odometry_progress import MotionProgress
from spec_decode_ros.control.primitives import Motion
from spec_decode_ros.go2.modes import LIE_DOWN, LOCOMOTION, not_ready_reason

GO2 = get_limits("go2_sport")


def test_lab_caps_cut_the_ranges_and_never_widen_them():
    lab = LAB_DEFAULTS.under(GO2)
    assert (lab.vx_min, lab.vx_max, lab.vy_max, lab.vyaw_max) == (-0.5, 0.5, 0.3, 0.8)
    assert lab.nominal_vyaw == 0.8  # a turn runs at the cap, so it takes longer and keeps its angle
    wide = LabLimits(max_vx=100.0, max_vy=100.0, max_vyaw=100.0, max_duration_s=1e12, max_distance_m=1e12).under(GO2)
    assert (wide.vx_min, wide.vx_max, wide.vy_max, wide.vyaw_max) == (GO2.vx_min, GO2.vx_max, GO2.vy_max, GO2.vyaw_max)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_a_lab_limit_must_be_positive_and_finite(bad: float):
    with pytest.raises(ValueError, match="max_vx"):
        LabLimits(max_vx=bad, max_vy=0.3, max_vyaw=0.8, max_duration_s=4.0, max_distance_m=2.0)


def test_a_fast_long_command_is_cut_to_the_caps_with_one_summary():
    checked = check_move(3.8, 0.0, 0.0, 10.0, LAB_DEFAULTS.under(GO2), max_duration_s=4.0, max_distance_m=2.0)
    assert checked.motion.vx == 0.5 and checked.motion.duration_s == 4.0
    assert checked.motion.distance_m <= 2.0
    assert "vx 3.8 clamped to 0.5" in checked.summary and "bounded to 4 s" in checked.summary
    short = check_move(0.5, 0.0, 0.0, 10.0, GO2, max_duration_s=10.0, max_distance_m=2.0)
    assert short.motion.duration_s == pytest.approx(4.0) and "distance 5.00 m bounded to 2 m" in short.summary


def test_the_gate_latches_the_estop_until_resume_and_needs_arming():
    gate = MotionGate(armed=False)
    assert "not armed" in gate.blocked()
    gate.armed = True
    assert gate.blocked() is None
    assert gate.estop("button") and not gate.estop("button again")
    assert "e-stop (button)" in gate.blocked()
    gate.locked = True
    assert gate.resume() and not gate.resume()
    assert "locked" in gate.blocked()
    gate.locked = False
    assert gate.blocked() is None


def test_ready_modes_and_standing_height():
    assert not_ready_reason(LOCOMOTION, 0.3) is None
    assert "lieDown" in not_ready_reason(LIE_DOWN, 0.3)
    assert "body height 0.08" in not_ready_reason(LOCOMOTION, 0.08)
    assert "body height nan" in not_ready_reason(LOCOMOTION, math.nan)


def test_a_walk_is_reached_along_its_direction_and_a_turn_by_its_summed_yaw():
    walk = MotionProgress(Motion(0.5, 0.0, 0.0, 2.0), start=(1.0, 1.0, math.pi / 2))  # facing +y
    walk.update((1.0, 1.9, math.pi / 2))
    assert not walk.reached
    walk.update((1.0, 2.0, math.pi / 2))
    assert walk.reached
    assert walk.done(2.5) == Motion(pytest.approx(0.4), pytest.approx(0.0), 0.0, 2.5)
    turn = MotionProgress(Motion(0.0, 0.0, -1.0, math.pi), start=(0.0, 0.0, 3.0))  # 180 deg clockwise, across +-pi
    for step in range(1, 13):
        turn.update((0.0, 0.0, math.remainder(3.0 - step * 0.3, math.tau)))
        assert turn.reached == (step * 0.3 >= math.pi)
