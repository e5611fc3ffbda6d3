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


def test_bytes_per_token_matches_what_a_prefill_allocates(pairs):
    """A deferred prompt is charged, before its prefill, exactly the KV bytes the prefill then holds."""
    from decoding.tiny_models import IMAGE
    from spec_decode_ros.decoding.types import DraftBlock, Prompt

    for family in ("llama", "llava", "qwen2_vl"):
        target = pairs[family].target
        prompt = Prompt("go to the red box", image=None if family == "llama" else IMAGE)
        session = target.open(prompt, defer=True)
        reserved = session.memory_bytes()
        assert session.cache is None and reserved > 0
        target.verify([session], [DraftBlock(())])  # prefill + pending: prompt length tokens, then + 0 drafts
        assert reserved == session.memory_bytes()
