"""Fresh simulator data: the reproducible prefetcher and the replay pool."""

from __future__ import annotations

import numpy as np
import pytest

from spec_decode_ros.embedded.batching import Example
from spec_decode_ros.embedded.data import ReplayPool, StreamPrefetcher, take_examples

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training


def test_prefetcher_hands_out_the_stream_in_order():
    direct = take_examples(5, "train", 6, image_size=48)
    with StreamPrefetcher([5], split="train", image_size=48, queue_size=8) as stream:
        got = stream.take(4) + stream.take(2)
    assert [e.answer for e in got] == [e.answer for e in direct]
    assert [e.instruction for e in got] == [e.instruction for e in direct]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(got, direct, strict=True))
    assert got[0].image.shape == (48, 48, 3) and got[0].image.dtype == np.uint8


def test_pool_keeps_the_newest_and_samples_reproducibly():
    items = [Example(np.zeros((2, 2, 3), np.uint8), f"go to the red box {i}", "stop.") for i in range(10)]
    a, b = ReplayPool(4, seed=1), ReplayPool(4, seed=1)
    a.add(items)
    b.add(items)
    assert len(a) == 4
    assert {e.instruction for e in a.sample(50)} == {f"go to the red box {i}" for i in range(6, 10)}
    b.sample(50)  # same draws on both pools, so their generators stay in step
    assert [e.instruction for e in a.sample(8)] == [e.instruction for e in b.sample(8)]
    with pytest.raises(ValueError, match="empty"):
        ReplayPool(3, seed=0).sample(1)
    with pytest.raises(ValueError, match="capacity"):
        ReplayPool(0, seed=0)
