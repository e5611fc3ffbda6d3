"""The demo's referee scores the model's own "stop", not the motion node's safety stops (a stale link or a deadman
publish a stop command with the same text): episode 21 of the 100-episode run was once scored a miss after 1 answer
because a missed heartbeat pong stopped the robot."""

from __future__ import annotations

from spec_decode_ros.nodes.supervisor import answer_says_stop


def test_the_models_stop_counts_as_said():
    assert answer_says_stop("stop.")
    assert answer_says_stop("turn left 30, stop.")
    assert answer_says_stop("stop")  # streamed up to the command word


def test_a_safety_stop_during_a_move_answer_is_not_the_models_stop():
    assert not answer_says_stop("turn left 30, forward 2.0.")
    assert not answer_says_stop("")  # no answer streamed yet
    assert not answer_says_stop("forward 0.5, turn ri")  # cut mid-word
    assert not answer_says_stop("stöp!")  # not in the language at all
