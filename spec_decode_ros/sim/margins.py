"""Where a state lies relative to the expert's decision thresholds, so that errors can be read by cause.

The expert's answer changes at a few thresholds (the view's edge, the 15 deg turn and 20 deg stop-facing
bearings, the facing gaps where a forward bin or "stop" begins). Near one, a degree or a few centimetres
decide between two answers; a model reading them off a 96 px image errs there first. ``state_kind``
names the nearest such threshold within a band, or ``"clear"``.
"""

from __future__ import annotations

import math

from spec_decode_ros.sim.expert import FACING_DEG, FORWARD_BINS, GOAL_GAP, STOP_FACING_DEG, STOP_GAP, facing_gap
from spec_decode_ros.sim.world import VIEW_MARGIN_DEG, Go2World, Landmark

VIEW_BAND_DEG = 4.0  # camera bearing this close to the view's edge: "view edge"
TURN_BAND_DEG = 3.0  # bearing this close to the turn (or stop-facing) threshold: "turn threshold"
GAP_BAND = 0.06  # facing gap within 6 % of a bin edge: "distance threshold"
DISTANCE_EDGES: tuple[float, ...] = (STOP_GAP, *(GOAL_GAP + b for b in FORWARD_BINS[1:]))  # 0.40 0.65 1.15 2.15

STATE_KINDS = ("clear", "out of view", "occluded", "view edge", "turn threshold", "distance threshold")
CLEAR_KINDS = frozenset({"clear", "out of view"})  # no threshold near: a degree or a centimetre changes nothing


def state_kind(world: Go2World, target: Landmark, visible: bool | None = None) -> str:
    """One of ``STATE_KINDS`` for the world's current state (first match in the order view, turn, distance).
    ``visible``: ``world.is_visible(target)`` when the caller has it already (it casts a ray)."""
    edge = math.degrees(world.hfov) / 2 - VIEW_MARGIN_DEG
    off_axis = abs(math.degrees(world.camera_bearing(target)))
    if abs(off_axis - edge) < VIEW_BAND_DEG:
        return "view edge"
    if not (world.is_visible(target) if visible is None else visible):
        return "out of view" if off_axis > edge else "occluded"
    gap = facing_gap(world, target)
    threshold = STOP_FACING_DEG if gap <= STOP_GAP else FACING_DEG
    if abs(abs(math.degrees(world.bearing_to(target))) - threshold) < TURN_BAND_DEG:
        return "turn threshold"
    if gap > 0 and min(abs(gap - e) / e for e in DISTANCE_EDGES) < GAP_BAND:
        return "distance threshold"
    return "clear"
