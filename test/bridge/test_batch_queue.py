"""Batching queue: a batch is served when full or when its oldest request has waited max_wait."""

from __future__ import annotations

import pytest

from spec_decode_ros.bridge.batch_queue import BatchQueue, Request


def test_batch_is_ready_when_full_or_when_the_oldest_waited_long_enough():
    q: BatchQueue[str] = BatchQueue(max_batch=3, max_wait_s=0.5)
    assert not q.ready(0.0) and q.deadline() is None
    q.push(Request("e1", "a", None, arrived=10.0))
    q.push(Request("e2", "b", None, arrived=10.2))
    assert not q.ready(10.3) and q.deadline() == 10.5
    assert q.ready(10.5)
    q.push(Request("e3", "c", None, arrived=10.3))
    q.push(Request("e4", "d", None, arrived=10.4))
    assert q.ready(10.31)
    assert [r.sid for r in q.pop_batch()] == ["a", "b", "c"]
    assert [r.sid for r in q.pop_batch()] == ["d"]


def test_one_request_per_session_and_drop():
    q: BatchQueue[str] = BatchQueue(max_batch=1, max_wait_s=0)
    q.push(Request("e", "a", None, arrived=0.0))
    with pytest.raises(ValueError, match="already has a queued request"):
        q.push(Request("e", "a", None, arrived=0.0))
    assert q.drop("a") and not q.drop("a") and len(q) == 0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_batch"):
        BatchQueue(max_batch=0)


def test_a_batch_every_live_session_has_joined_is_served_at_once():
    live = [2]
    q: BatchQueue[str] = BatchQueue(max_batch=8, max_wait_s=0.5, live=lambda: live[0])
    q.push(Request("e1", "a", None, arrived=10.0))
    assert not q.ready(10.0) and q.deadline() == 10.5  # the other live session may still send its draft
    q.push(Request("e2", "b", None, arrived=10.1))
    assert q.ready(10.1) and q.deadline() == 10.0  # nobody else can join: waiting would only delay it
    q.pop_batch()
    live[0] = 0  # a request of a session already done (or not yet counted) is never held back either
    q.push(Request("e3", "c", None, arrived=11.0))
    assert q.ready(11.0)


def test_an_urgent_request_makes_its_batch_due_and_keeps_its_true_arrival():
    q: BatchQueue[str] = BatchQueue(max_batch=4, max_wait_s=0.5)
    q.push(Request("e1", "a", None, arrived=10.0))
    q.push(Request("e2", "b", None, arrived=10.2, urgent=True))  # an autoregressive step: nothing to gain by waiting
    assert q.ready(10.2) and q.deadline() == 10.0
    assert [r.arrived for r in q.pop_batch()] == [10.0, 10.2]  # queue time is measured from the real arrival
