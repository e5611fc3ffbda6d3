"""GammaSchedule: fixed, adaptive (+2 / −1 within bounds), peek without recording."""

from __future__ import annotations

import pytest

from spec_decode_ros.decoding.gamma import GammaSchedule


def test_gamma_schedule():
    fixed = GammaSchedule(4)
    assert fixed.update(0, 4) == 4 and fixed.update(4, 4) == 4
    ada = GammaSchedule(4, adaptive=True, min_gamma=2, max_gamma=7)
    assert ada.peek(4, 4) == 6 and ada.gamma == 4
    assert ada.update(4, 4) == 6 and ada.update(6, 6) == 7 and ada.update(1, 7) == 6
    for _ in range(10):
        ada.update(0, ada.gamma)
    assert ada.gamma == 2
    with pytest.raises(ValueError):
        GammaSchedule(4, min_gamma=5, max_gamma=3)
