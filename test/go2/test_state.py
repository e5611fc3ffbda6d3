"""The Go2's sport-mode state: the SDK sample round-trips into ``SportState`` (velocity turned into the
base frame, non-finite values refused), and over loopback DDS the fake Go2's ``rt/sportmodestate``
reaches ``Go2StateSubscriber`` with the MuJoCo robot's pose, moving when a real SportClient Move does."""

from __future__ import annotations

import math
import os

import pytest
from support.ros import wait_for

from spec_decode_ros.go2.state import SportState, from_sample, sport_state_sample

GO2_DOMAIN = int(os.environ["SPEC_DECODE_GO2_DOMAIN"])


def test_sample_round_trip_and_base_frame_velocity():
    msg = sport_state_sample(1.0, -2.0, math.pi / 2, 0.4, 0.1, 0.3, z=0.27, mode=3)
    state = from_sample(msg)
    assert state.position == pytest.approx((1.0, -2.0, 0.27)) and state.yaw == pytest.approx(math.pi / 2)
    assert state.velocity[:2] == pytest.approx((-0.1, 0.4), abs=1e-6)  # odometry frame: heading +y
    assert state.body_velocity()[:2] == pytest.approx((0.4, 0.1), abs=1e-6)  # back in the base frame
    assert state.quaternion == pytest.approx((math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)), abs=1e-6)
    assert (state.mode, state.yaw_speed) == (3, pytest.approx(0.3))


def test_non_finite_state_is_refused():
    msg = sport_state_sample(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, z=0.27, mode=1)
    msg.position = [float("nan"), 0.0, 0.27]
    with pytest.raises(ValueError, match="non-finite"):
        from_sample(msg)


@pytest.mark.slow  # DDS + MuJoCo
def test_fake_go2_publishes_its_pose_and_a_move_changes_it():
    from spec_decode_ros.go2.clients import Go2Sport
    from spec_decode_ros.go2.state import Go2StateSubscriber
    from spec_decode_ros.sim.fake_go2 import SPORT_MODES, FakeGo2

    states: list[SportState] = []
    fake = FakeGo2(0, width=32, height=32, domain_id=GO2_DOMAIN, camera_hz=2.0, state_hz=25.0).start()
    try:
        sub = Go2StateSubscriber("lo", GO2_DOMAIN, on_state=states.append)
        wait_for(lambda: sub.received >= 5, 30, "sport states from the fake Go2")
        x, y, yaw = fake.state()["pose"]
        first = sub.latest()
        assert first.position[:2] == pytest.approx((x, y), abs=1e-3) and first.yaw == pytest.approx(yaw, abs=1e-3)
        assert first.mode == SPORT_MODES["balance"] and first.velocity == (0.0, 0.0, 0.0)
        Go2Sport("lo", domain_id=GO2_DOMAIN).move(0.5, 0.0, 0.0)
        wait_for(lambda: sub.latest().mode == SPORT_MODES["locomotion"], 10, "a state in locomotion")
        moving = sub.latest()
        assert moving.body_velocity()[0] == pytest.approx(0.5, abs=1e-3)
        wait_for(lambda: math.dist(sub.latest().position[:2], first.position[:2]) > 0.1, 10, "the robot to move")
        heading = (math.cos(yaw), math.sin(yaw))
        dx = [a - b for a, b in zip(sub.latest().position[:2], first.position[:2], strict=True)]
        assert dx[0] * heading[0] + dx[1] * heading[1] > 0.1  # forward along its own heading
        sub.close()
    finally:
        fake.stop()
