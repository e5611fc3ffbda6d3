"""Closed-loop episodes without ROS: render -> policy(image, instruction) -> parse -> move, repeated.

Each step: the front camera image (after the JPEG round trip the robot's camera path makes) and
the instruction go to the policy; its answer text is fed word by word to a
``StreamingCommandParser``; each command is executed as soon as the parser emits it, by holding its
``Motion`` (nominal speeds of the velocity profile) in the kinematic world. Unparseable text moves
nothing. The episode ends at the first executed "stop" or after ``max_steps`` answers.

Success: the policy said "stop" and then ``Go2World.distance_to(target)`` <= ``success_distance``
(0.5 m): the planar gap between the robot's nose (0.30 m ahead of the base centre) and the
target's footprint circle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from spec_decode_ros.control.grammar import Command
from spec_decode_ros.control.limits import VelocityLimits, get_limits
from spec_decode_ros.control.primitives import to_motion
from spec_decode_ros.control.stream_parser import StreamingCommandParser
from spec_decode_ros.sim.expert import expert_answer, instruction_for
from spec_decode_ros.sim.jpeg import jpeg_round_trip
from spec_decode_ros.sim.scene import SUCCESS_DISTANCE
from spec_decode_ros.sim.world import Go2World, Landmark, Layout, random_layout

Policy = Callable[[np.ndarray, str], str]
SPLITS: dict[str, int] = {"train": 0, "heldout": 1}


def layout_seed(split: str, index: int) -> int:
    """Layout seed of episode ``index`` in ``split``: train seeds are even, held-out seeds odd (disjoint)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    if index < 0:
        raise ValueError(f"episode index must be >= 0, got {index}")
    return 2 * index + SPLITS[split]


def execute(world: Go2World, commands: Sequence[Command], limits: VelocityLimits) -> None:
    """Execute commands one after another in the world by integrating their motions."""
    for cmd in commands:
        if cmd.action == "stop":
            world.set_velocity(0.0, 0.0, 0.0)
            continue
        motion = to_motion(cmd, limits)
        world.set_velocity(motion.vx, motion.vy, motion.vyaw)
        world.step(motion.duration_s)
        world.set_velocity(0.0, 0.0, 0.0)


@dataclass
class StepRecord:
    """One answer of the policy and what came of it."""

    pose: tuple[float, float, float]
    answer: str
    commands: list[Command]
    rejections: list[str]
    distance: float


@dataclass
class EpisodeResult:
    """Outcome of one episode; ``success`` = stopped within ``SUCCESS_DISTANCE`` of the target."""

    seed: int
    layout: Layout
    instruction: str
    target: Landmark
    success: bool
    stopped: bool
    final_distance: float
    final_pose: tuple[float, float, float]
    steps: list[StepRecord] = field(default_factory=list)

    @property
    def n_steps(self) -> int:
        return len(self.steps)


_WORD_RE = re.compile(r"\S+\s*|\s+")


def run_episode(
    seed: int,
    policy: Policy,
    *,
    max_steps: int = 20,
    split: str = "heldout",
    width: int = 96,
    height: int = 96,
    jpeg_quality: int | None = 80,
    limits: str | VelocityLimits = "go2_sport",
    success_distance: float = SUCCESS_DISTANCE,
    world: Go2World | None = None,
) -> EpisodeResult:
    """Run one episode on the layout of ``(split, seed)``; pass ``world`` to reuse a renderer across episodes."""
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    lim = get_limits(limits) if isinstance(limits, str) else limits
    layout = random_layout(layout_seed(split, seed))
    target = layout.target_landmark
    instruction = instruction_for(target, np.random.default_rng([seed, SPLITS[split], 1]))
    own_world = world is None
    if world is None:
        world = Go2World(layout, width=width, height=height)
    else:
        world.reset(layout)
    try:
        steps: list[StepRecord] = []
        stopped = False
        for _ in range(max_steps):
            image = jpeg_round_trip(world.render(), jpeg_quality)
            pose = world.pose
            answer = policy(image, instruction)
            parser = StreamingCommandParser()
            done: list[Command] = []
            for piece in [*_WORD_RE.findall(answer), None]:
                emitted = parser.finish() if piece is None else parser.feed(piece)
                for parsed in emitted:
                    done.append(parsed.command)
                    execute(world, [parsed.command], lim)
                    if parsed.command.action == "stop":
                        stopped = True
                        break
                if stopped:
                    break
            rejections = [f"{r.text!r}: {r.reason}" for r in parser.rejections]
            steps.append(StepRecord(pose, answer, done, rejections, world.distance_to(target)))
            if stopped:
                break
        final = world.distance_to(target)
        return EpisodeResult(seed, layout, instruction, target, stopped and final <= success_distance, stopped,
                             final, world.pose, steps)
    finally:
        if own_world:
            world.close()


def expert_policy(world: Go2World) -> Policy:
    """The expert as a policy: it reads the true state of ``world`` (pass the same world to ``run_episode``)
    and answers for the layout's target, ignoring the image."""
    return lambda _image, _instruction: expert_answer(world, world.layout.target_landmark)
