"""The simulated scene's facts, without MuJoCo: the landmarks' colours and shapes, the Go2's nose (the front of its
body, from which distances to a landmark are measured) and how near a landmark an episode must end to succeed.
The MuJoCo world (``sim.world``), the episodes (``sim.episode``), the supervisor node and the report's pictures
read them here, so that reading them needs no simulator."""

from __future__ import annotations

COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.08, 0.08),
    "green": (0.10, 0.70, 0.12),
    "blue": (0.10, 0.25, 0.95),
    "yellow": (0.95, 0.85, 0.05),
    "purple": (0.60, 0.10, 0.80),
}
SHAPES: tuple[str, ...] = ("box", "ball", "cylinder")
NOSE_OFFSET = 0.30  # m from base centre to the front of the body
SUCCESS_DISTANCE = 0.5  # m: an episode succeeds when it stops with the nose this near the target's footprint
