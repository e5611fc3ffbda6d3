"""MotionSequencer: motions of one answer run back to back for their durations, a newer answer
replaces the rest, a stop command or stop() makes the executor stop exactly once."""

from __future__ import annotations

from spec_decode_ros.control.primitives import STOP_MOTION, Motion
from spec_decode_ros.control.sequencer import MotionSequencer

TURN = Motion(0.0, 0.0, 0.5, 1.0)
FORWARD = Motion(0.4, 0.0, 0.0, 2.0)


def test_answer_runs_in_order_for_each_duration_then_stops_once():
    seq: MotionSequencer[str] = MotionSequencer()
    seq.submit(TURN, "a0", replace=True)
    seq.submit(FORWARD, "a1", replace=False)
    s = seq.step(0.0)
    assert (s.motion, s.tag, s.started, s.stopped) == (TURN, "a0", True, False)
    s = seq.step(0.5)
    assert (s.tag, s.started) == ("a0", False)
    s = seq.step(1.0)
    assert (s.motion, s.tag, s.started) == (FORWARD, "a1", True)
    assert seq.step(2.9).tag == "a1"
    s = seq.step(3.0)
    assert (s.motion, s.stopped) == (None, True)
    assert seq.idle
    assert seq.step(3.1).stopped is False  # stop is reported once


def test_newer_answer_replaces_the_rest_of_the_old_one():
    seq: MotionSequencer[str] = MotionSequencer()
    seq.submit(TURN, "old0", replace=True)
    seq.submit(FORWARD, "old1", replace=False)
    seq.step(0.0)
    seq.submit(FORWARD, "new0", replace=True)
    s = seq.step(0.2)
    assert (s.tag, s.started) == ("new0", True)
    assert seq.step(2.2).stopped


def test_stop_command_clears_the_queue_and_stops_even_when_idle():
    seq: MotionSequencer[str] = MotionSequencer()
    seq.submit(STOP_MOTION, "stop", replace=True)
    seq.submit(FORWARD, "after-stop", replace=False)
    s = seq.step(0.0)
    assert s.motion is None and s.stopped and seq.idle


def test_stop_while_moving_is_reported_and_nothing_resumes():
    seq: MotionSequencer[str] = MotionSequencer()
    seq.submit(FORWARD, "f", replace=True)
    assert seq.step(0.0).motion == FORWARD
    seq.stop()
    s = seq.step(0.1)
    assert s.motion is None and s.stopped
    assert seq.step(5.0).motion is None


def test_remaining_time_counts_the_active_rest_and_the_queue():
    seq: MotionSequencer[str] = MotionSequencer()
    assert seq.remaining_s(0.0) == 0.0
    seq.submit(TURN, "a0", replace=True)
    seq.submit(FORWARD, "a1", replace=False)
    assert seq.remaining_s(0.0) == 3.0  # nothing started yet: both durations
    seq.step(0.0)
    assert seq.remaining_s(0.25) == 2.75
    seq.step(1.5)
    assert seq.remaining_s(1.5) == 2.0  # the forward motion started at this step
    seq.stop()
    assert seq.remaining_s(1.6) == 0.0
