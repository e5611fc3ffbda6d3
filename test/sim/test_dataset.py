"""The sample stream: deterministic, multi-step, perturbed, canonical answers, disjoint splits."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest

from spec_decode_ros.control.grammar import parse_answer
from spec_decode_ros.sim.dataset import sample_stream


def take(n: int, **kwargs) -> list:
    stream = sample_stream(kwargs.pop("seed", 0), width=48, height=48, **kwargs)
    try:
        return list(itertools.islice(stream, n))
    finally:
        stream.close()


def test_stream_is_deterministic_per_seed_and_split():
    a, b = take(20), take(20)
    assert [s.answer for s in a] == [s.answer for s in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    c = take(20, seed=1)
    assert [s.meta["layout_seed"] for s in a] != [s.meta["layout_seed"] for s in c]


def test_samples_are_well_formed_multi_step_and_varied():
    samples = take(300)
    answers = Counter(s.answer for s in samples)
    for s in samples:
        assert s.image.shape == (48, 48, 3) and s.image.dtype == np.uint8
        assert all(c.is_canonical for c in parse_answer(s.answer))
        assert s.instruction.endswith(s.target.name)
        assert s.meta["layout_seed"] % 2 == 0  # train layouts
    assert max(s.meta["step"] for s in samples) >= 3
    assert any(s.meta["perturbed_before"] for s in samples)
    assert answers["stop."] > 0 and answers["turn left 45."] > 0
    assert len(answers) >= 12
    assert answers.most_common(1)[0][1] < 0.5 * len(samples)


def test_heldout_uses_odd_layout_seeds():
    assert all(s.meta["layout_seed"] % 2 == 1 for s in take(30, split="heldout"))


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        next(sample_stream(0, split="dev"))
    with pytest.raises(ValueError, match="perturb_prob"):
        next(sample_stream(0, perturb_prob=2.0))
