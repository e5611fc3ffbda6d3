"""Training data from the simulator: an endless, seeded stream of (image, instruction, expert answer).

Each episode takes a fresh random layout (train layout seeds are even, held-out ones odd, see
``episode.layout_seed``), names its target with a random instruction template, and follows the
expert step by step until it says "stop" (at most ``max_steps`` answers). Every visited state is
one sample, labelled with the expert's answer for that state. With probability
``perturb_prob`` a step executes a perturbed version of the expert's commands instead (amounts
scaled by 0.5..1.5 and an extra random turn, or one random command), so the model also sees the
recoverable mistakes it will make itself. Images pass the JPEG round trip of the robot's camera path.
With ``object_maps=True`` each sample also carries the exact per-pixel landmark map of its image
(``Go2World.render_object_map``), for auxiliary supervision of a model's vision features.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from spec_decode_ros.control.grammar import MAX_METRES, Command
from spec_decode_ros.control.limits import get_limits
from spec_decode_ros.sim.episode import SPLITS, execute, layout_seed
from spec_decode_ros.sim.expert import SEARCH_TURN, expert_commands, format_answer, instruction_for
from spec_decode_ros.sim.jpeg import jpeg_round_trip
from spec_decode_ros.sim.margins import CLEAR_KINDS, state_kind
from spec_decode_ros.sim.world import Go2World, Landmark, random_layout

MIN_PERTURBED_GAP = 0.05  # a perturbation never puts the nose closer than this to any landmark


@dataclass(frozen=True)
class Sample:
    """One training example. ``meta`` holds the state behind it (episode, step, pose, bearing, visibility,
    ``state``: where it lies relative to the expert's thresholds, see ``sim.margins``)."""

    image: np.ndarray  # (H, W, 3) uint8 RGB, after the JPEG round trip
    instruction: str
    answer: str
    target: Landmark
    meta: dict = field(default_factory=dict, compare=False)
    object_map: np.ndarray | None = field(default=None, compare=False)  # (H, W) uint8, see render_object_map


def _perturbed(commands: list[Command], rng: np.random.Generator) -> list[Command]:
    """A plausible mistake: the expert's commands with scaled amounts and a stray turn, or one random command."""
    if rng.random() < 0.5:
        out: list[Command] = []
        for cmd in commands:
            if cmd.amount is None:
                continue
            scale = float(rng.uniform(0.5, 1.5))
            cap = 180.0 if cmd.action == "turn" else MAX_METRES
            amount = round(min(cap, max(cmd.amount * scale, 1.0 if cmd.action == "turn" else 0.05)), 2)
            if cmd.action == "turn":
                amount = float(max(1, round(amount)))
            out.append(Command(cmd.action, cmd.direction, amount))
        out.append(Command("turn", "left" if rng.random() < 0.5 else "right", float(rng.integers(5, 40))))
        return out
    kind = int(rng.integers(3))
    side = "left" if rng.random() < 0.5 else "right"
    if kind == 0:
        return [Command("turn", side, float(rng.integers(10, 120)))]
    if kind == 1:
        return [Command("forward", None, round(float(rng.uniform(0.2, 1.5)), 2))]
    return [Command("sidestep", side, round(float(rng.uniform(0.2, 0.8)), 2))]


def sample_stream(
    seed: int,
    *,
    split: str = "train",
    width: int = 96,
    height: int = 96,
    jpeg_quality: int | None = 80,
    perturb_prob: float = 0.3,
    search_keep: float = 0.35,
    facing_start: float = 0.5,
    max_steps: int = 12,
    limits: str = "go2_sport",
    object_maps: bool = False,
    clear_keep: float = 1.0,
) -> Iterator[Sample]:
    """Endless samples, deterministic per ``(seed, split)``; see the module docstring.

    ``search_keep``: the share of search-turn states ("turn left 45.", the most common answer by far)
    that are yielded (the others are still stepped through). ``facing_start``: the share of episodes
    whose start heading puts the target at a bearing uniform in +-50 deg (symmetric left/right turns and
    more approach states); the rest start at the layout's random heading. ``clear_keep``: the share of states
    clear of the expert's thresholds (``sim.margins.CLEAR_KINDS``) that are yielded; below 1 the stream dwells
    on the states near a threshold, where models err (at 1 it draws nothing extra: the same stream as before).
    Owns one ``Go2World`` (one offscreen GL context) for its lifetime; closing the generator closes it.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    for name, p in (("perturb_prob", perturb_prob), ("search_keep", search_keep), ("facing_start", facing_start),
                    ("clear_keep", clear_keep)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    lim = get_limits(limits)
    rng = np.random.default_rng([seed, SPLITS[split], 7])
    world: Go2World | None = None
    episode = 0
    try:
        while True:
            lseed = layout_seed(split, int(rng.integers(0, 2**62)))
            layout = random_layout(lseed)
            if world is None:
                world = Go2World(layout, width=width, height=height)
            else:
                world.reset(layout)
            target = layout.target_landmark
            instruction = instruction_for(target, rng)
            if rng.random() < facing_start:
                x, y, yaw = world.pose
                world.set_pose(x, y, yaw + world.bearing_to(target) - math.radians(float(rng.uniform(-50, 50))))
            perturbed_before = False
            for step in range(max_steps):
                commands = expert_commands(world, target)
                x, y, yaw = world.pose
                meta = {
                    "episode": episode,
                    "step": step,
                    "layout_seed": lseed,
                    "pose": (x, y, yaw),
                    "bearing_deg": math.degrees(world.bearing_to(target)),
                    "distance": world.distance_to(target),
                    "visible": world.is_visible(target),
                    "perturbed_before": perturbed_before,
                }
                keep = commands != [SEARCH_TURN] or rng.random() < search_keep
                if keep:
                    meta["state"] = state_kind(world, target, visible=meta["visible"])
                    keep = clear_keep >= 1.0 or meta["state"] not in CLEAR_KINDS or rng.random() < clear_keep
                if keep:
                    image = jpeg_round_trip(world.render(), jpeg_quality)
                    object_map = world.render_object_map() if object_maps else None
                    yield Sample(image, instruction, format_answer(commands), target, meta, object_map)
                if commands[0].action == "stop":
                    break
                perturbed_before = False
                if rng.random() < perturb_prob:
                    execute(world, _perturbed(commands, rng), lim)
                    if min(world.distance_to(lm) for lm in layout.landmarks) >= MIN_PERTURBED_GAP:
                        perturbed_before = True
                        continue
                    world.set_pose(x, y, yaw)  # that mistake would end inside an object: do the right thing
                execute(world, commands, lim)
            episode += 1
    finally:
        if world is not None:
            world.close()
