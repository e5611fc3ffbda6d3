"""command_times replays a token stream through the robot's own streaming parser."""

from __future__ import annotations

import pytest

from spec_decode_ros.control.command_timing import command_times, text_deltas


def test_first_command_at_its_separator_and_the_answer_at_its_terminator() -> None:
    deltas = ["turn", " left", " 45", ",", " forward", " 1.5", "."]
    times = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    got = command_times(deltas, times, end_s=0.9)
    assert got is not None
    assert (got.first_command_s, got.answer_s, got.commands) == (0.4, 0.7, 2)


def test_a_command_completed_only_by_the_end_of_the_stream_counts_at_the_end() -> None:
    got = command_times(["stop"], [0.2], end_s=0.5)
    assert got is not None and (got.first_command_s, got.answer_s) == (0.5, 0.5)


def test_text_that_is_not_a_command_has_no_command_time() -> None:
    assert command_times(["hello", " there", "."], [0.1, 0.2, 0.3], end_s=0.4) is None


def test_deltas_follow_the_decoded_prefixes() -> None:
    vocab = {1: "turn", 2: " left", 3: " 30", 4: "."}
    assert text_deltas(lambda ids: "".join(vocab[i] for i in ids), [1, 2, 3, 4]) == ["turn", " left", " 30", "."]


def test_one_time_per_delta() -> None:
    with pytest.raises(ValueError):
        command_times(["stop", "."], [0.1], end_s=0.2)
