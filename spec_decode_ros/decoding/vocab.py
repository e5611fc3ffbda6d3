"""The vocabulary-range check, in one place: is every token id in [0, vocab)?"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def first_outside(ids: Iterable[int] | np.ndarray, vocab: int) -> int | None:
    """The first token id outside [0, ``vocab``), or None when all lie inside (also for no ids)."""
    if isinstance(ids, np.ndarray):
        flat = ids.reshape(-1)
        bad = np.flatnonzero((flat < 0) | (flat >= vocab))
        return int(flat[bad[0]]) if bad.size else None
    return next((int(t) for t in ids if not 0 <= int(t) < vocab), None)
