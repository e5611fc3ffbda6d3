"""Shared fixtures: tiny random Llama / Llava / Idefics3 / Qwen2-VL saved to folders, loaded by the engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decoding.tiny_models import BUILDERS, SEEDS, Pair

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {name: build(root / name, seed=SEEDS[name]) for name, build in BUILDERS.items()}


@pytest.fixture(scope="session")
def pairs(model_dirs: dict[str, Path]) -> dict[str, Pair]:
    return {name: Pair(path) for name, path in model_dirs.items()}


@pytest.fixture(scope="session")
def pairs_bf16(model_dirs: dict[str, Path]) -> dict[str, Pair]:
    """The same tiny pairs loaded in bfloat16 (idefics3 left out: its bfloat16 logits tie exactly at one position,
    where the greedy choice then depends on the forward's shape, see test_local.py)."""
    return {name: Pair(path, dtype="bfloat16") for name, path in model_dirs.items() if name != "idefics3"}
