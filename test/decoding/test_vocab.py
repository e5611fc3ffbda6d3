"""The vocabulary-range check: the first id outside [0, vocab), for lists and arrays alike."""

from __future__ import annotations

import numpy as np

from spec_decode_ros.decoding.vocab import first_outside


def test_first_outside_names_the_first_bad_id_or_none():
    assert first_outside([], 10) is None and first_outside((0, 9), 10) is None
    assert first_outside([3, 10, 11], 10) == 10 and first_outside([-1, 3], 10) == -1
    assert first_outside(np.array([[1, 2], [12, -4]]), 10) == 12
    assert first_outside(np.zeros((0, 3), dtype=np.int64), 10) is None
