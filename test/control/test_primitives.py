"""Commands become motions that cover exactly their amount, in the right direction, within limits."""

from __future__ import annotations

import math

from spec_decode_ros.control.grammar import Command
from spec_decode_ros.control.limits import get_limits
from spec_decode_ros.control.primitives import STOP_MOTION, to_motion


def test_each_command_covers_its_amount_in_the_right_direction():
    for name in ("go2_sport", "champ"):
        lim = get_limits(name)
        m = to_motion(Command("turn", "left", 90.0), lim)
        assert m.vyaw > 0 and m.vx == m.vy == 0 and math.isclose(m.vyaw * m.duration_s, math.pi / 2)
        m = to_motion(Command("turn", "right", 45.0), lim)
        assert m.vyaw < 0 and math.isclose(m.vyaw * m.duration_s, -math.pi / 4)
        m = to_motion(Command("forward", None, 1.5), lim)
        assert m.vx > 0 and math.isclose(m.vx * m.duration_s, 1.5)
        m = to_motion(Command("back", None, 0.5), lim)
        assert m.vx < 0 and math.isclose(m.vx * m.duration_s, -0.5)
        m = to_motion(Command("sidestep", "left", 0.25), lim)
        assert m.vy > 0 and math.isclose(m.vy * m.duration_s, 0.25)
        m = to_motion(Command("sidestep", "right", 0.25), lim)
        assert m.vy < 0
        for cmd in (Command("turn", "left", 180.0), Command("forward", None, 3.0), Command("back", None, 3.0)):
            m = to_motion(cmd, lim)
            assert lim.clamp(m.vx, m.vy, m.vyaw) == (m.vx, m.vy, m.vyaw)


def test_stop_is_zero_for_zero_seconds():
    m = to_motion(Command("stop"), get_limits("go2_sport"))
    assert m == STOP_MOTION and m.is_stop
    assert not to_motion(Command("forward", None, 1.0), get_limits("champ")).is_stop
