"""The Go2's sport-mode state (``SportModeState_`` on DDS topic ``rt/sportmodestate``) through unitree_sdk2py.

The real Go2 publishes it continuously: ``position[3]`` and ``velocity[3]`` in its odometry frame (x, y
on the floor, z up; the velocity is in that frame too, not the body's), ``yaw_speed``, ``imu_state.rpy`` /
``quaternion`` (w, x, y, z), ``mode`` and ``body_height``. ``SportState`` is the plain subset the robot
side uses; ``sport_state_sample`` builds the SDK sample (the fake Go2 publishes it) and
``Go2StateSubscriber`` keeps the latest one received (the Go2 bridge turns it into odometry).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spec_decode_ros.go2.channel import init_channel

SPORT_STATE_TOPIC = "rt/sportmodestate"


@dataclass(frozen=True)
class SportState:
    """Pose and twist of the base in the odometry frame; ``quaternion`` is (w, x, y, z)."""

    position: tuple[float, float, float]
    velocity: tuple[float, float, float]  # odometry frame
    yaw_speed: float
    rpy: tuple[float, float, float]
    quaternion: tuple[float, float, float, float]
    mode: int
    body_height: float

    @property
    def yaw(self) -> float:
        return self.rpy[2]

    def body_velocity(self) -> tuple[float, float, float]:
        """The linear velocity in the base frame (x forward, y left), as ``nav_msgs/Odometry`` wants it."""
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        vx, vy, vz = self.velocity
        return c * vx + s * vy, -s * vx + c * vy, vz


def yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    """(w, x, y, z) of a rotation by ``yaw`` about z."""
    return math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)


def sport_state_sample(x: float, y: float, yaw: float, vx: float, vy: float, vyaw: float, *, z: float,
                       mode: int, stamp_s: float = 0.0) -> Any:
    """A ``SportModeState_`` of a robot at (x, y, z, yaw) moving at body-frame (vx, vy, vyaw)."""
    from unitree_sdk2py.idl.default import (
        unitree_go_msg_dds__SportModeState_,
    )
    from unitree_sdk2py.idl.unitree_go.msg.dds_ import TimeSpec_

    c, s = math.cos(yaw), math.sin(yaw)
    msg = unitree_go_msg_dds__SportModeState_()
    msg.stamp = TimeSpec_(int(stamp_s), int((stamp_s % 1) * 1e9))
    msg.mode = mode
    msg.position = [float(x), float(y), float(z)]
    msg.body_height = float(z)
    msg.velocity = [c * vx - s * vy, s * vx + c * vy, 0.0]
    msg.yaw_speed = float(vyaw)
    msg.imu_state.rpy = [0.0, 0.0, float(yaw)]
    msg.imu_state.quaternion = list(yaw_quaternion(yaw))
    return msg


def from_sample(msg: Any) -> SportState:
    """The plain ``SportState`` of an SDK ``SportModeState_``; ValueError when a number is not finite."""
    state = SportState(
        position=tuple(float(v) for v in msg.position[:3]),
        velocity=tuple(float(v) for v in msg.velocity[:3]),
        yaw_speed=float(msg.yaw_speed),
        rpy=tuple(float(v) for v in msg.imu_state.rpy[:3]),
        quaternion=tuple(float(v) for v in msg.imu_state.quaternion[:4]),
        mode=int(msg.mode),
        body_height=float(msg.body_height),
    )
    numbers = [*state.position, *state.velocity, state.yaw_speed, *state.rpy, *state.quaternion]
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"sport state with a non-finite value: {state}")
    return state


class Go2StateSubscriber:
    """Subscribes to the sport state (``rt/sportmodestate``); ``latest()`` is the newest state kept (None
    before the first), ``on_state`` (optional) is called with each one from the SDK's reader thread.
    ``min_interval_s`` drops states that come sooner than that after the last one kept (the robot
    publishes far faster than odometry needs)."""

    def __init__(self, interface: str, domain_id: int = 0,
                 on_state: Callable[[SportState], None] | None = None, *, topic: str = SPORT_STATE_TOPIC,
                 min_interval_s: float = 0.0) -> None:
        from unitree_sdk2py.core.channel import ChannelSubscriber
        from unitree_sdk2py.idl.unitree_go.msg.dds_ import SportModeState_

        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s}")
        init_channel(interface, domain_id)
        self._lock = threading.Lock()
        self._latest: SportState | None = None
        self._latest_at = float("-inf")  # time.monotonic() when the latest state was received
        self._on_state = on_state
        self._min_interval_s = min_interval_s
        self._last_kept = float("-inf")
        self.received = 0
        self.rejected = 0
        self._sub = ChannelSubscriber(topic, SportModeState_)
        self._sub.Init(self._handle, 10)

    def _handle(self, msg: Any) -> None:
        now = time.monotonic()
        if now - self._last_kept < self._min_interval_s:
            return
        self._last_kept = now
        try:
            state = from_sample(msg)
        except ValueError:
            with self._lock:
                self.rejected += 1
            return
        with self._lock:
            self._latest, self._latest_at = state, now
            self.received += 1
        if self._on_state is not None:
            self._on_state(state)

    def latest(self) -> SportState | None:
        with self._lock:
            return self._latest

    def latest_with_age(self) -> tuple[SportState | None, float]:
        """The newest state and how many seconds ago it was received (inf before the first)."""
        with self._lock:
            return self._latest, time.monotonic() - self._latest_at

    def close(self) -> None:
        self._sub.Close()
