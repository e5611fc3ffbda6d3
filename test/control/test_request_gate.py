"""The draft node's request gate: wait for the previous answer's motion/done (even one that came
before the wait began), then for an image captured settle_ns later; give up on a lost done after
done_timeout_s; a new instruction does not wait."""

from __future__ import annotations

import pytest

from spec_decode_ros.control.request_gate import RequestGate

SETTLE = 200


def test_waits_for_the_done_then_for_a_settled_image():
    gate = RequestGate(settle_ns=SETTLE, done_timeout_s=30.0)
    assert gate.ready(image_stamp_ns=0, now_s=0.0)
    gate.answer_sent(1, now_s=0.0)
    assert not gate.ready(image_stamp_ns=5_000, now_s=1.0)
    gate.done(1, now_ns=1_000)
    assert not gate.ready(image_stamp_ns=1_100, now_s=1.0)  # captured before the motion had settled
    assert gate.ready(image_stamp_ns=1_200, now_s=1.0)
    assert gate.start(now_s=1.0) is None


def test_a_done_that_came_before_the_wait_began_is_not_missed():
    gate = RequestGate(settle_ns=SETTLE, done_timeout_s=30.0)
    gate.done(1, now_ns=1_000)  # the motion node was faster than the draft node's bookkeeping
    gate.answer_sent(1, now_s=0.0)
    assert gate.awaiting is None
    assert not gate.ready(image_stamp_ns=1_100, now_s=0.0)
    assert gate.ready(image_stamp_ns=1_200, now_s=0.0)


def test_an_old_done_does_not_release_a_newer_answer():
    gate = RequestGate(settle_ns=SETTLE, done_timeout_s=30.0)
    gate.done(1, now_ns=1_000)
    gate.answer_sent(2, now_s=0.0)
    gate.done(1, now_ns=2_000)  # a late duplicate of the old one
    assert not gate.ready(image_stamp_ns=10_000, now_s=1.0)
    gate.done(3, now_ns=3_000)  # a later id covers every earlier request
    assert gate.ready(image_stamp_ns=3_200, now_s=1.0)


def test_a_lost_done_is_given_up_on_after_the_timeout():
    gate = RequestGate(settle_ns=SETTLE, done_timeout_s=5.0)
    gate.answer_sent(4, now_s=100.0)
    assert not gate.ready(image_stamp_ns=10_000, now_s=105.0)
    assert gate.ready(image_stamp_ns=10_000, now_s=105.1)
    assert gate.start(now_s=105.1) == 4
    assert gate.awaiting is None and gate.start(now_s=106.0) is None


def test_a_new_task_does_not_wait_for_the_old_motion():
    gate = RequestGate(settle_ns=SETTLE, done_timeout_s=30.0)
    gate.answer_sent(1, now_s=0.0)
    gate.new_task(now_ns=0)
    assert gate.ready(image_stamp_ns=SETTLE, now_s=0.0)


def test_a_new_task_is_answered_only_on_an_image_captured_after_it_plus_the_settle_time():
    gate = RequestGate(settle_ns=SETTLE, done_timeout_s=30.0)
    assert gate.ready(image_stamp_ns=1_000, now_s=0.0)  # the image the old task would have used
    gate.new_task(now_ns=1_046)  # the instruction arrives 46 ns after that image (episode 45's request 272)
    assert not gate.ready(image_stamp_ns=1_000, now_s=0.0)
    assert not gate.ready(image_stamp_ns=1_046 + SETTLE - 1, now_s=0.0)
    assert gate.ready(image_stamp_ns=1_046 + SETTLE, now_s=0.0)


@pytest.mark.parametrize("kwargs", [{"settle_ns": -1}, {"done_timeout_s": 0.0}, {"done_timeout_s": float("inf")}])
def test_bad_settings_are_refused(kwargs: dict):
    with pytest.raises(ValueError):
        RequestGate(**kwargs)
