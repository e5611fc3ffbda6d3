"""Deadman with a hand-driven clock: stale commands and a lost cloud stop the robot, a fresh command re-arms it."""

from __future__ import annotations

import random

import pytest
from support.clock import ManualClock

from spec_decode_ros.control.deadman import CLOUD_LOST, STALE, Deadman


def test_starts_stopped_and_a_command_arms_it():
    clock = ManualClock()
    dm = Deadman(1.0, 2.0, clock=clock)
    event = dm.check()
    assert event is not None and event.reason == STALE and event.detail == "no command yet"
    clock.t += 50.0
    dm.link_ok()  # the cloud alone does not let the robot move: it stays stopped until a command
    assert dm.check().reason == STALE
    dm.command(0.5)
    assert dm.check() is None


def test_stale_after_motion_plus_timeout_until_a_fresh_command():
    clock = ManualClock()
    dm = Deadman(1.0, 10.0, clock=clock)
    dm.command(2.0)
    clock.t += 2.99
    assert dm.check() is None
    clock.t += 0.02
    event = dm.check()
    assert event is not None and event.reason == STALE and event.at == clock.t
    clock.t += 0.5
    assert dm.check().reason == STALE  # stays stopped
    dm.command(0.0)
    assert dm.check() is None
    clock.t += 1.01
    assert dm.check().reason == STALE


def test_cloud_silence_and_reported_loss_stop_it():
    clock = ManualClock()
    dm = Deadman(5.0, 2.0, clock=clock)
    dm.command(10.0)
    clock.t += 1.5
    dm.link_ok()
    clock.t += 1.9
    assert dm.check() is None
    clock.t += 0.2
    event = dm.check()
    assert event.reason == CLOUD_LOST and "2.0 s" in event.detail
    dm.link_ok()
    dm.command(1.0)
    assert dm.check() is None
    dm.link_lost("socket closed")
    event = dm.check()
    assert event.reason == CLOUD_LOST and event.detail == "socket closed"
    dm.command(1.0)  # commands alone do not clear a lost link
    assert dm.check().reason == CLOUD_LOST
    dm.link_ok()
    dm.command(1.0)
    assert dm.check() is None


def test_random_schedules_stop_exactly_when_stale_or_silent():
    rng = random.Random(3)
    for _ in range(200):
        clock = ManualClock()
        dm = Deadman(0.5, 1.0, clock=clock)
        command_deadline, link_deadline = None, clock.t + 1.0
        for _ in range(30):
            clock.t += rng.uniform(0.0, 0.8)
            if rng.random() < 0.7:
                dm.link_ok()
                link_deadline = clock.t + 1.0
            if rng.random() < 0.5:
                duration = rng.uniform(0.0, 1.0)
                dm.command(duration)
                command_deadline = clock.t + duration + 0.5
            event = dm.check()
            if clock.t > link_deadline:
                assert event is not None and event.reason == CLOUD_LOST
            elif command_deadline is None or clock.t > command_deadline:
                assert event is not None and event.reason == STALE
            else:
                assert event is None


def test_bad_arguments():
    with pytest.raises(ValueError, match="command_timeout_s"):
        Deadman(0.0)
    with pytest.raises(ValueError, match="duration_s"):
        Deadman(clock=ManualClock()).command(-1.0)
