"""KV helpers: crop, left-padded stacking and taking one row back out."""

from __future__ import annotations

import pytest
import torch

from spec_decode_ros.decoding import kv


def test_kv_crop_stack_take(pairs):
    model = pairs["llama"].model.model
    caches = []
    for n in (3, 5):
        cache = kv.DynamicCache(config=model.config)
        with torch.inference_mode():
            model(input_ids=torch.arange(2, 2 + n)[None], cache=cache, use_cache=True)
        caches.append(cache)
    batch, width = kv.stack_left_padded(caches, model.config)
    assert width == 5 and kv.cache_length(batch) == 5
    row = kv.take_row(batch, 0, 2, 5, model.config)
    assert torch.equal(row.layers[0].keys, caches[0].layers[0].keys)
    kv.crop(caches[1], 2)
    assert kv.cache_length(caches[1]) == 2 and kv.memory_bytes(caches[1]) > 0
    with pytest.raises(ValueError, match="crop"):
        kv.crop(caches[1], 4)
