"""The last check before a Move: non-finite or non-positive-duration commands are refused, out-of-range
velocities clamped to the Go2 sport ranges, over-long durations bounded, each change noted."""

from __future__ import annotations

import math

import pytest

from spec_decode_ros.control.command_check import CommandRefused, check_move, longest_command_s
from spec_decode_ros.control.limits import get_limits

GO2 = get_limits("go2_sport")


def test_a_command_inside_the_limits_passes_unchanged():
    checked = check_move(0.5, -0.3, 1.0, 2.0, GO2, 10.0)
    assert (checked.motion.vx, checked.motion.vy, checked.motion.vyaw, checked.motion.duration_s) == (0.5, -0.3, 1.0,
                                                                                                        2.0)
    assert checked.notes == ()


@pytest.mark.parametrize("field", range(4))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(field: int, bad: float):
    values = [0.5, 0.0, 0.0, 1.0]
    values[field] = bad
    with pytest.raises(CommandRefused, match="non-finite"):
        check_move(*values, GO2, 10.0)


@pytest.mark.parametrize("duration", [0.0, -1.0, -1e9])
def test_a_move_without_a_positive_duration_is_refused(duration: float):
    with pytest.raises(CommandRefused, match="positive duration"):
        check_move(0.5, 0.0, 0.0, duration, GO2, 10.0)


def test_out_of_range_velocities_are_clamped_to_the_go2_sport_ranges_and_noted():
    checked = check_move(9.0, -3.0, 10.0, 1.0, GO2, 10.0)
    assert (checked.motion.vx, checked.motion.vy, checked.motion.vyaw) == (3.8, -1.0, 4.0)
    assert len(checked.notes) == 3 and "vx 9 clamped to 3.8" in checked.notes[0]
    assert check_move(-7.0, 0.0, -9.0, 1.0, GO2, 10.0).motion.vx == -2.5


def test_an_over_long_duration_is_bounded_and_noted():
    checked = check_move(0.5, 0.0, 0.0, 1e12, GO2, 10.0)
    assert checked.motion.duration_s == 10.0
    assert checked.notes == ("duration 1e+12 s bounded to 10 s",)


def test_the_longest_grammatical_command_fits_the_default_bound():
    # sidestep 3.0 m at the nominal 0.3 m/s is the longest Go2 command: 10 s
    assert longest_command_s(GO2) == pytest.approx(10.0)
    assert longest_command_s(get_limits("champ")) == pytest.approx(12.0)
