"""Shared fixtures: the tiny pair (built once per run), its greedy references, a server in a thread."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from support.threads import in_thread
from support.tiny_pair_fixtures import MAX_NEW  # noqa: F401 (the tests import it from here)

from spec_decode_ros.bridge.server import ServerConfig, VerifierServer
from spec_decode_ros.decoding.early_exit import EarlyExitTarget

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def target(target_dir: Path) -> EarlyExitTarget:
    return EarlyExitTarget.from_pretrained(target_dir)


@contextlib.contextmanager
def serving(target: EarlyExitTarget, **config: object) -> Iterator[VerifierServer]:
    """A VerifierServer on a free loopback port, in a thread."""
    server = VerifierServer(target, ServerConfig(bind="tcp://127.0.0.1:0", **config))
    try:
        with in_thread(server.serve_forever, server.stop):
            yield server
    finally:
        server.close()
