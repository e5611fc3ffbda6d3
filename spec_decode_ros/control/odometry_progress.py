"""How far a motion has got by odometry, so walks and turns end when the distance or the angle is covered.

Pure logic: ``MotionProgress(motion, start)`` with the pose (x, y, yaw in the odometry frame) at the
motion's first Move; ``update(pose)`` with each newer pose. ``reached`` is True once the walk covered
``motion.distance_m`` along its commanded direction (in the body frame at the start), or a turn
``motion.angle_rad`` (yaw summed step by step, so a full turn is not mistaken for none).
``done(elapsed_s)`` is what was actually done as a body-frame velocity held for ``elapsed_s``: the
walk's displacement and the turn divided by the time, the units of a ``LocomotionCommand``.
"""

from __future__ import annotations

import math

from spec_decode_ros.control.primitives import Motion

Pose = tuple[float, float, float]  # x, y, yaw (odometry frame)


class MotionProgress:
    def __init__(self, motion: Motion, start: Pose) -> None:
        self.motion = motion
        self.start = start
        self.forward = 0.0  # body-frame displacement at the start heading, m
        self.left = 0.0
        self.turned = 0.0  # signed, rad
        self._last_yaw = start[2]

    def update(self, pose: Pose) -> None:
        x0, y0, yaw0 = self.start
        dx, dy = pose[0] - x0, pose[1] - y0
        c, s = math.cos(yaw0), math.sin(yaw0)
        self.forward, self.left = c * dx + s * dy, -s * dx + c * dy
        self.turned += math.remainder(pose[2] - self._last_yaw, math.tau)
        self._last_yaw = pose[2]

    @property
    def reached(self) -> bool:
        m = self.motion
        speed = math.hypot(m.vx, m.vy)
        if speed > 0:
            along = (self.forward * m.vx + self.left * m.vy) / speed
            return along >= m.distance_m
        if m.vyaw != 0:
            return self.turned * math.copysign(1.0, m.vyaw) >= m.angle_rad
        return False

    def done(self, elapsed_s: float) -> Motion:
        """What was done, as a velocity held for ``elapsed_s`` (speed x time = distance and angle covered)."""
        if elapsed_s <= 0:
            return Motion(0.0, 0.0, 0.0, 0.0)
        return Motion(self.forward / elapsed_s, self.left / elapsed_s, self.turned / elapsed_s, elapsed_s)
