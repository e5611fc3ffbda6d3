"""The expert: the right next answer from the true geometry, and the instructions it answers.

Rule (all amounts canonical, see ``control.grammar``), with ``g`` the *facing gap* (the nose-to-
surface gap the robot would have if it faced the target: centre distance - NOSE_OFFSET - size/2)
and ``b`` the bearing of the target centre from the base centre:

1. target not visible (centre outside the camera view, or another landmark in front): the fixed
   search turn ``"turn left 45."``;
2. ``g < 0`` (the nose is in the target; only after a mistake): ``"back 0.25."``. Only for a target in
   view: the rule answers what the camera shows. With "back" first, 0.5 % of held-out states (nose in a
   target beside the camera, 66-140 deg off its axis) asked for "back" on an image without the target,
   the same image that means "search"; the trained target answered "search" on every one of them;
3. ``g <= STOP_GAP`` (0.40 m): ``"stop."`` if ``|b| <= STOP_FACING_DEG`` (20 deg), else the turn towards it
   (wider than the 15 deg turn threshold, so a 30 deg turn at the goal always ends in "stop": with the same
   15 deg on both, a robot at -15 deg turned to +15 deg and back for ever);
4. otherwise: the turn towards it (``b`` rounded to a multiple of ``TURN_STEP_DEG`` = 30 deg, so none
   below 15 deg) followed by ``forward`` the largest of ``FORWARD_BINS`` (0.25, 0.5, 1, 2 m) not
   above ``g - GOAL_GAP`` (GOAL_GAP = 0.15 m; never overshooting), e.g. ``"turn right 30, forward 1.0."``.

The bins are deliberately coarse, so that a small VLM can read them off a 64-128 px image: a visible
target is at most ~40 deg off the axis, so the only visible turn is 30 deg (one threshold at 15 deg, the
same as the stopping one), and the forward bins are log-spaced (each threshold ~1.8x the previous), so
each needs about the same relative precision of the distance read from the image. Following the rule
from any state where the target is visible ends with the nose 0.15..0.40 m from the target (facing
gap), within the 0.5 m success distance.
"""

from __future__ import annotations

import math

import numpy as np

from spec_decode_ros.control.grammar import CANONICAL_DEGREES, CANONICAL_METRES, Command, format_answer
from spec_decode_ros.sim.world import NOSE_OFFSET, Go2World, Landmark

STOP_GAP = 0.40
GOAL_GAP = 0.15
BACK_GAP = 0.0
FACING_DEG = 15.0
STOP_FACING_DEG = 20.0  # > TURN_STEP_DEG - FACING_DEG: a turn at the goal lands inside it
TURN_STEP_DEG = 30
FORWARD_BINS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)  # a subset of the grammar's canonical metres
SEARCH_TURN = Command("turn", "left", 45.0)
BACK_STEP = Command("back", None, 0.25)
assert set(FORWARD_BINS) <= set(CANONICAL_METRES) and TURN_STEP_DEG in CANONICAL_DEGREES
assert STOP_FACING_DEG > TURN_STEP_DEG - FACING_DEG

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
    amount = min(180, TURN_STEP_DEG * round(abs(bearing_deg) / TURN_STEP_DEG))
    return [Command("turn", "left" if bearing_deg > 0 else "right", float(amount))] if amount else []


def _forward_bin(travel_m: float) -> float:
    fitting = [b for b in FORWARD_BINS if b <= travel_m + 1e-9]
    return max(fitting) if fitting else 0.0


def expert_commands(world: Go2World, target: Landmark) -> list[Command]:
    """The expert's next commands for the world's current state (see the module docstring)."""
    bearing = math.degrees(world.bearing_to(target))
    gap = facing_gap(world, target)
    if not world.is_visible(target):  # first: no answer may depend on what the camera cannot see
        return [SEARCH_TURN]
    if gap < BACK_GAP:  # nose in the target (only after someone else's mistake)
        return [BACK_STEP]
    if gap <= STOP_GAP:
        if abs(bearing) <= STOP_FACING_DEG:
            return [Command("stop")]
        return _turn_towards(bearing)
    commands = _turn_towards(bearing)
    travel = _forward_bin(gap - GOAL_GAP)
    if travel > 0:
        commands.append(Command("forward", None, travel))
    return commands or [Command("stop")]


def expert_answer(world: Go2World, target: Landmark) -> str:
    """The expert's answer text, e.g. ``"turn left 30, forward 1.5."``."""
    return format_answer(expert_commands(world, target))
