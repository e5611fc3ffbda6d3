"""Closed-loop episodes: the expert reaches its targets; garbage moves nothing; splits are disjoint."""

from __future__ import annotations

import math

import pytest

from spec_decode_ros.control.grammar import Command
from spec_decode_ros.sim.episode import expert_policy, layout_seed, run_episode

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training


def test_expert_policy_reaches_every_target(world):
    policy = expert_policy(world)
    results = [run_episode(seed, policy, world=world) for seed in range(25)]
    assert all(r.success and r.stopped and r.final_distance <= 0.5 for r in results), [
        (r.seed, r.final_distance, [s.answer for s in r.steps]) for r in results if not r.success]
    assert all(r.steps[-1].commands[-1] == Command("stop") for r in results)
    assert all(r.instruction.endswith(r.target.name) for r in results)


def test_garbage_moves_nothing_and_fails(world):
    seen = []

    def policy(image, instruction):
        seen.append((image.shape, instruction))
        return "I would rather not. turn left"

    result = run_episode(3, policy, world=world, max_steps=4)
    assert not result.success and not result.stopped and result.n_steps == 4
    assert len({s.pose for s in result.steps}) == 1  # never moved
    assert all(s.commands == [] and s.rejections for s in result.steps)
    assert seen[0][0] == (64, 64, 3)


def test_commands_execute_as_they_stream(world):
    result = run_episode(0, lambda _i, _t: "turn left 90, forward 0.5, turn right 90.", world=world, max_steps=1)
    step = result.steps[0]
    assert [c.action for c in step.commands] == ["turn", "forward", "turn"]
    x0, y0, yaw0 = step.pose
    assert result.layout.robot_yaw == yaw0
    x1, y1, yaw1 = result.final_pose  # 0.5 m to the robot's left, same heading
    assert math.isclose(x1, x0 - 0.5 * math.sin(yaw0), abs_tol=1e-6)
    assert math.isclose(y1, y0 + 0.5 * math.cos(yaw0), abs_tol=1e-6)
    assert math.isclose(math.cos(yaw1 - yaw0), 1.0, abs_tol=1e-9)
    assert not result.success


def test_splits_use_disjoint_layout_seeds():
    train = {layout_seed("train", i) for i in range(1000)}
    held = {layout_seed("heldout", i) for i in range(1000)}
    assert not train & held
    with pytest.raises(ValueError, match="split"):
        layout_seed("test", 0)
    with pytest.raises(ValueError, match="max_steps"):
        run_episode(0, lambda _i, _t: "stop.", max_steps=0)
