"""The front camera's pinhole model, for ``sensor_msgs/CameraInfo``: the simulated Go2's MuJoCo camera (its
vertical field of view is set here and used by ``sim.world``), and an uncalibrated camera's first guess.

MuJoCo renders an ideal pinhole with square pixels: ``fy = (height / 2) / tan(fovy / 2)``, ``fx = fy``, the
principal point at the image centre, no distortion.
"""

from __future__ import annotations

import math

FRONT_CAMERA_FOVY_DEG = 90.0  # the MuJoCo Go2's front camera (sim.world adds it with this fovy)


def pinhole_intrinsics(width: int, height: int, fovy_deg: float) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) in pixels of an ideal pinhole camera ``width`` x ``height`` with vertical FOV ``fovy_deg``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if not 0.0 < fovy_deg < 180.0:
        raise ValueError(f"fovy_deg must be in (0, 180), got {fovy_deg}")
    fy = (height / 2.0) / math.tan(math.radians(fovy_deg) / 2.0)
    return fy, fy, width / 2.0, height / 2.0
