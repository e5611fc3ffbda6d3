"""The expert: the right next answer from the true geometry, and the instructions it answers.

Rule (all amounts canonical, see ``control.grammar``), with ``g`` the *facing gap* (the nose-to-
surface gap the robot would have if it faced the target: centre distance - NOSE_OFFSET - size/2)
and ``b`` the bearing of the target centre from the base centre:

1. ``g < 0`` and ``|b| <= 60 deg`` (the nose is in the target; only after a mistake): ``"back 0.25."``;
2. target not visible (centre outside the camera view, or another landmark in front): the fixed
   search turn ``"turn left 45."``;
3. ``g <= STOP_GAP`` (0.40 m): ``"stop."`` if ``|b| <= FACING_DEG`` (15 deg), else the turn towards it;
4. otherwise: the turn towards it (``b`` quantised to the nearest 15 deg, omitted below 7.5 deg)
   followed by ``forward`` the largest canonical distance not above ``g - GOAL_GAP`` (GOAL_GAP =
   0.15 m; never overshooting), capped at 2.0 m, e.g. ``"turn right 30, forward 1.5."``.

Following the rule from any state where the target is visible ends with the nose 0.15..0.40 m
from the target (facing gap), within the 0.5 m success distance.
"""

from __future__ import annotations

import math

import numpy as np

from spec_decode_ros.control.grammar import Command, format_answer, quantize_degrees, quantize_metres
from spec_decode_ros.sim.world import NOSE_OFFSET, Go2World, Landmark

STOP_GAP = 0.40
GOAL_GAP = 0.15
BACK_GAP = 0.0
FACING_DEG = 15.0
SEARCH_TURN = Command("turn", "left", 45.0)
BACK_STEP = Command("back", None, 0.25)

TEMPLATES: tuple[str, ...] = (
    "go to the {color} {shape}",
    "find the {color} {shape}",
    "walk to the {color} {shape}",
    "move to the {color} {shape}",
    "approach the {color} {shape}",
)


def instruction_for(landmark: Landmark, rng: np.random.Generator) -> str:
    """A natural instruction naming the landmark by colour and shape, from a random template."""
    template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    return template.format(color=landmark.color, shape=landmark.shape)


def facing_gap(world: Go2World, target: Landmark) -> float:
    """Nose-to-surface gap (m) the robot would have after turning in place to face the target centre."""
    return world.centre_distance(target) - NOSE_OFFSET - target.size / 2


def _turn_towards(bearing_deg: float) -> list[Command]:
    amount = quantize_degrees(bearing_deg)
    return [Command("turn", "left" if bearing_deg > 0 else "right", float(amount))] if amount else []


def expert_commands(world: Go2World, target: Landmark) -> list[Command]:
    """The expert's next commands for the world's current state (see the module docstring)."""
    bearing = math.degrees(world.bearing_to(target))
    gap = facing_gap(world, target)
    if gap < BACK_GAP and abs(bearing) <= 60.0:  # nose in the target (only after someone else's mistake)
        return [BACK_STEP]
    if not world.is_visible(target):
        return [SEARCH_TURN]
    if gap <= STOP_GAP:
        if abs(bearing) <= FACING_DEG:
            return [Command("stop")]
        return _turn_towards(bearing)
    commands = _turn_towards(bearing)
    travel = quantize_metres(gap - GOAL_GAP, mode="floor")
    if travel > 0:
        commands.append(Command("forward", None, travel))
    return commands or [Command("stop")]


def expert_answer(world: Go2World, target: Landmark) -> str:
    """The expert's answer text, e.g. ``"turn left 30, forward 1.5."``."""
    return format_answer(expert_commands(world, target))
