"""Shared fixtures: the tiny pair (built once per run), its greedy references, a server in a thread."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from bridge.tiny_pair import PROMPTS, build_target, load_draft
from spec_decode_ros.bridge.server import ServerConfig, VerifierServer
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.decoding.local import target_generate
from spec_decode_ros.decoding.models import LoadedModel, load_model
from spec_decode_ros.decoding.types import Prompt

MAX_NEW = 16

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def target_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_target(tmp_path_factory.mktemp("bridge_pair") / "target")


@pytest.fixture(scope="session")
def target(target_dir: Path) -> EarlyExitTarget:
    return EarlyExitTarget.from_pretrained(target_dir)


@pytest.fixture(scope="session")
def draft(target_dir: Path) -> LoadedModel:
    return load_draft(target_dir)


@pytest.fixture(scope="session")
def references(target_dir: Path) -> dict[str, list[int]]:
    model = load_model(target_dir)
    return {text: target_generate(model, Prompt(text), MAX_NEW) for text in PROMPTS}


@contextlib.contextmanager
def serving(target: EarlyExitTarget, **config: object) -> Iterator[VerifierServer]:
    """A VerifierServer on a free loopback port, in a thread."""
    server = VerifierServer(target, ServerConfig(bind="tcp://127.0.0.1:0", **config))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(10)
        server.close()
