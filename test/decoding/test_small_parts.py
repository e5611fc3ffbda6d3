"""Small parts: γ schedule, logit processing, KV helpers, adapters save/load, model loading errors,
truncated draft."""

from __future__ import annotations

import pytest
import torch

from spec_decode_ros.decoding import kv
from spec_decode_ros.decoding.adapters import ExitAdapters
from spec_decode_ros.decoding.derive import truncated_copy
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.gamma import GammaSchedule
from spec_decode_ros.decoding.models import load_model
from spec_decode_ros.decoding.sampling import processed_probs, sample_index
from spec_decode_ros.decoding.types import SamplingConfig


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


def test_processed_probs_topk_topp_and_sampling():
    logits = torch.tensor([3.0, 2.0, 1.0, 0.0, -1.0])
    p = processed_probs(logits, SamplingConfig(do_sample=True, top_k=2))
    assert (p[2:] == 0).all() and torch.isclose(p.sum(), torch.tensor(1.0))
    full = torch.softmax(logits, -1)
    p = processed_probs(logits, SamplingConfig(do_sample=True, top_p=0.8))
    keep = int((p > 0).sum())
    assert full[: keep - 1].sum() < 0.8 <= full[:keep].sum()  # smallest prefix reaching top_p
    hot = processed_probs(logits, SamplingConfig(do_sample=True, temperature=0.1))
    assert hot[0] > 0.99
    probs = torch.tensor([0.0, 0.5, 0.0, 0.5])
    assert sample_index(probs, 0.0) == 1 and sample_index(probs, 0.49) == 1 and sample_index(probs, 0.51) == 3
    assert sample_index(probs, 1.0) == 3


def test_kv_crop_stack_take(pairs):
    model = pairs["llama"].model.model
    caches = []
    for n in (3, 5):
        cache = kv.DynamicCache(config=model.config)
        with torch.inference_mode():
            model(input_ids=torch.arange(2, 2 + n)[None], past_key_values=cache, use_cache=True)
        caches.append(cache)
    batch, width = kv.stack_left_padded(caches, model.config)
    assert width == 5 and kv.cache_length(batch) == 5
    row = kv.take_row(batch, 0, 2, 5, model.config)
    assert torch.equal(row.layers[0].keys, caches[0].layers[0].keys)
    kv.crop(caches[1], 2)
    assert kv.cache_length(caches[1]) == 2 and kv.memory_bytes(caches[1]) > 0
    with pytest.raises(ValueError, match="crop"):
        kv.crop(caches[1], 4)


def test_adapters_save_load_and_from_pretrained(pairs, model_dirs, tmp_path):
    pair = pairs["llama"]
    adapters = ExitAdapters([1, 3], pair.model.hidden_size, zero_init=False)
    adapters.save(tmp_path)
    loaded = ExitAdapters.load(tmp_path, hidden=pair.model.hidden_size)
    h = torch.randn(2, 3, pair.model.hidden_size)
    assert loaded.layers == (1, 3) and torch.allclose(loaded(3, h), adapters(3, h))
    with pytest.raises(ValueError, match="hidden size"):
        ExitAdapters.load(tmp_path, hidden=7)
    with pytest.raises(FileNotFoundError):
        ExitAdapters.load(tmp_path / "none")
    with pytest.raises(ValueError, match="distinct"):
        ExitAdapters([0], 8)
    with pytest.raises(ValueError, match="< the 4 decoder layers"):
        EarlyExitTarget(pair.model, ExitAdapters([4], pair.model.hidden_size))
    assert EarlyExitTarget.from_pretrained(model_dirs["llama"]).exit_layers == ()


def test_identity_adapter_exit_equals_truncated_model(pairs):
    """A zero-initialised adapter is the identity: the exit at ℓ then *is* the first-ℓ-layers model."""
    pair = pairs["llama"]
    target = EarlyExitTarget(pair.model, ExitAdapters([2], pair.model.hidden_size))
    from spec_decode_ros.decoding.types import DraftBlock, Prompt

    seen = []
    s = target.open(Prompt("go to the red box"))
    target.verify([s], [DraftBlock(())], on_early=seen.extend)
    from spec_decode_ros.decoding.local import target_generate

    assert seen[0].next_token == target_generate(pair.draft, Prompt("go to the red box"), 1)[0]


def test_truncated_copy_and_load_errors(pairs, tmp_path):
    model = pairs["llama"].model
    small = truncated_copy(model, 1)
    assert small.num_layers == 1 and model.num_layers == 4
    assert small.model.config.num_hidden_layers == 1
    with pytest.raises(ValueError, match="num_layers"):
        truncated_copy(model, 9)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nothing")
