"""Fixtures shared by the node tests: a tiny VLM that always answers "forward 2.0." and a verifier
process serving it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fixed_answer_vlm import build_fixed_answer_vlm

from spec_decode_ros.process_group import free_endpoint


@pytest.fixture(scope="session")
def forward_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fixed_answer_vlm(tmp_path_factory.mktemp("vlm") / "forward", "forward 2.0.")


@pytest.fixture
def verifier(forward_model: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """A cloud verifier process for ``forward_model``: (endpoint, process); killed at the end."""
    endpoint = free_endpoint()
    proc = subprocess.Popen([sys.executable, "-m", "spec_decode_ros.cli", "cloud", "--model", str(forward_model),
                             "--bind", endpoint, "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield endpoint, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
