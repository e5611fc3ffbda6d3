"""Shared fixtures: the tiny pair (built once per run), its greedy references, a server in a thread."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import zmq
from support.threads import in_thread
from support.tiny_pair_fixtures import MAX_NEW  # noqa: F401 (the tests import it from here)

from spec_decode_ros.bridge.security import is_loopback
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


@pytest.fixture
def refusal_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tripwires for a test of a refusal that must come before anything else: a bind off the loopback, or loading a
    target, fails the test at once (a broken refusal would otherwise serve on every interface until pytest's
    timeout)."""
    bind = zmq.Socket.bind

    def loopback_only(sock: zmq.Socket, addr: str) -> object:
        if not is_loopback(addr):
            raise AssertionError(f"bound {addr}: the refusal did not come first (tests bind the loopback only)")
        return bind(sock, addr)

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("a target was loaded: the refusal did not come first")

    monkeypatch.setattr(zmq.Socket, "bind", loopback_only)
    monkeypatch.setattr(EarlyExitTarget, "from_pretrained", no_model)
