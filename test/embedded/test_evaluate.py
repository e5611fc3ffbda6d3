"""``embedded.evaluate``'s pure parts: answer kinds and the interval around an exact-match share."""

from __future__ import annotations

import pytest

from spec_decode_ros.embedded.evaluate import answer_kind, wilson_interval


def test_wilson_interval_brackets_the_share_and_narrows_with_n():
    low, high = wilson_interval(95, 100)
    assert low < 0.95 < high
    assert (round(low, 3), round(high, 3)) == (0.888, 0.978)  # the textbook Wilson interval for 95/100
    low_big, high_big = wilson_interval(1900, 2000)
    assert low < low_big < 0.95 < high_big < high  # 20x the examples: a tighter interval
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError, match="trial"):
        wilson_interval(0, 0)


def test_answer_kinds():
    assert answer_kind("turn left 45.") == "search"
    assert answer_kind("stop.") == "stop"
    assert answer_kind("turn right 30, forward 1.0.") == "move"
