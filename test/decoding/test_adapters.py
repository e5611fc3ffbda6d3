"""ExitAdapters: save/load beside a model, validation, identity at init."""

from __future__ import annotations

import pytest
import torch

from spec_decode_ros.decoding.adapters import ExitAdapters
from spec_decode_ros.decoding.early_exit import EarlyExitTarget


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
