"""Hand-made states for the expert and margin tests: a red box at the origin, the robot placed around it."""

from __future__ import annotations

import math

from spec_decode_ros.sim.world import Go2World, Landmark, Layout

BOX = Landmark("red", "box", 0.0, 0.0)


def place(world: Go2World, distance_centre: float, bearing_deg: float) -> None:
    """Robot at ``distance_centre`` from BOX with the box at ``bearing_deg`` (left positive)."""
    world.reset(Layout((BOX, Landmark("blue", "ball", 0.0, 4.0)), 0.0, 0.0, 0.0))
    yaw = math.radians(30.0)  # heading of the robot
    away = yaw + math.radians(bearing_deg)  # direction from robot to box
    world.set_pose(-distance_centre * math.cos(away), -distance_centre * math.sin(away), yaw)
