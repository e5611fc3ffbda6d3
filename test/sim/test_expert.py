"""The expert's rule on hand-made states, and its answers always in canonical grammar."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.hand_made import BOX, place
from spec_decode_ros.control.grammar import parse_answer
from spec_decode_ros.sim.expert import STOP_GAP, expert_answer, expert_commands, instruction_for
from spec_decode_ros.sim.world import NOSE_OFFSET, Landmark, random_layout

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training


def test_rule_on_hand_made_states(world):
    place(world, 4.0, 0.0)
    assert expert_answer(world, BOX) == "forward 2.0."
    place(world, 2.0, 29.0)
    assert expert_answer(world, BOX) == "turn left 30, forward 1.0."
    place(world, 2.0, 14.0)  # below the 15 deg threshold: no turn
    assert expert_answer(world, BOX) == "forward 1.0."
    place(world, 1.5, 0.0)  # facing gap 0.95: the largest forward bin below 0.8 is 0.5
    assert expert_answer(world, BOX) == "forward 0.5."
    place(world, 2.0, -16.0)
    assert expert_answer(world, BOX) == "turn right 30, forward 1.0."
    place(world, 3.0, 150.0)  # behind: search
    assert expert_answer(world, BOX) == "turn left 45."
    place(world, NOSE_OFFSET + 0.25 + STOP_GAP - 0.05, 5.0)
    assert expert_answer(world, BOX) == "stop."
    place(world, NOSE_OFFSET + 0.25 + STOP_GAP - 0.05, -25.0)
    assert expert_answer(world, BOX) == "turn right 30."
    place(world, NOSE_OFFSET + 0.25 + STOP_GAP - 0.05, -18.0)  # at the goal, 20 deg counts as facing it
    assert expert_answer(world, BOX) == "stop."
    place(world, NOSE_OFFSET + 0.25 + 0.5, 0.0)  # facing gap 0.5: forward the largest bin <= 0.35
    assert expert_answer(world, BOX) == "forward 0.25."
    place(world, NOSE_OFFSET + 0.1, 0.0)  # nose inside the box
    assert expert_answer(world, BOX) == "back 0.25."
    place(world, NOSE_OFFSET + 0.1, 55.0)  # nose in the box, but the box is beside the camera, not in view
    assert not world.is_visible(BOX)
    assert expert_answer(world, BOX) == "turn left 45."  # what the image shows: nothing to see, search


def test_answers_are_canonical_and_never_overshoot(world):
    rng = np.random.default_rng(0)
    for seed in range(60):
        lay = random_layout(seed)
        world.reset(lay)
        target = lay.target_landmark
        for _ in range(5):
            x, y = rng.uniform(-3, 3, size=2)
            world.set_pose(float(x), float(y), float(rng.uniform(-math.pi, math.pi)))
            commands = expert_commands(world, target)
            assert parse_answer(expert_answer(world, target)) == commands
            assert all(c.is_canonical for c in commands)
            forward = sum(c.amount for c in commands if c.action == "forward")
            gap = world.centre_distance(target) - NOSE_OFFSET - target.size / 2
            assert forward <= max(0.0, gap), (commands, gap)


def test_instructions_name_colour_and_shape():
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(50):
        text = instruction_for(Landmark("green", "cylinder", 0, 0), rng)
        assert text.endswith("the green cylinder")
        seen.add(text)
    assert len(seen) >= 4


def test_a_turn_at_the_goal_always_ends_in_stop(world):
    """No answer loop at the goal: from any bearing the rule turns (or a policy mistakenly turns) 30 deg from,
    the next answer is "stop" (a robot at -15 deg once turned to +15 deg and back for ever)."""
    for bearing in np.linspace(-45.0, 45.0, 91):
        for turn in (30.0, -30.0):
            if not 14.0 <= abs(bearing) <= 45.0 or math.copysign(1.0, bearing) != math.copysign(1.0, turn):
                continue
            place(world, NOSE_OFFSET + 0.25 + STOP_GAP - 0.1, float(bearing))
            x, y, yaw = world.pose
            world.set_pose(x, y, yaw + math.radians(turn))  # turning towards it by one 30 deg step
            assert expert_answer(world, BOX) == "stop.", (bearing, turn)
