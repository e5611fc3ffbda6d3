"""The tiny text pair of the bridge and fleet tests as session fixtures: its folder, draft and greedy references.
The root conftest loads them as a plugin (``pytest_plugins``), built once per run and shared."""

from __future__ import annotations

from pathlib import Path

import pytest
from bridge.tiny_pair import PROMPTS, build_target, load_draft

from spec_decode_ros.decoding.local import target_generate
from spec_decode_ros.decoding.models import LoadedModel, load_model
from spec_decode_ros.decoding.types import Prompt

MAX_NEW = 16


@pytest.fixture(scope="session")
def target_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_target(tmp_path_factory.mktemp("tiny_pair") / "target")


@pytest.fixture(scope="session")
def draft(target_dir: Path) -> LoadedModel:
    return load_draft(target_dir)


@pytest.fixture(scope="session")
def references(target_dir: Path) -> dict[str, list[int]]:
    model = load_model(target_dir)
    return {text: target_generate(model, Prompt(text), MAX_NEW) for text in PROMPTS}
