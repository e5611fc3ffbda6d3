"""Fleet fixtures: the bridge tests' tiny pair and its greedy references, verifier servers in threads."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from support.tiny_pair_fixtures import MAX_NEW  # noqa: F401 (the tests import it from here)

from spec_decode_ros.bridge.server import ServerConfig, VerifierServer
from spec_decode_ros.decoding.early_exit import EarlyExitTarget
from spec_decode_ros.fleet.front import FleetFront

torch.set_num_threads(1)


class ThreadServer:
    """A VerifierServer on a free loopback port in a thread; ``kill()`` closes its socket (the front sees it go)."""

    def __init__(self, target_dir: Path, wrap: Callable[[Any], Any] | None = None, **config: object) -> None:
        target: Any = EarlyExitTarget.from_pretrained(target_dir)
        self.server = VerifierServer(wrap(target) if wrap is not None else target,
                                     ServerConfig(bind="tcp://127.0.0.1:0", **config))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.alive = True

    def kill(self) -> None:
        if self.alive:
            self.alive = False
            self.server.stop()
            self.thread.join(10)
            self.server.close()


@contextlib.contextmanager
def fleet_of_threads(target_dir: Path, n: int, wrap: Callable[[Any], Any] | None = None,
                     **front: object) -> Iterator[tuple[FleetFront, list[ThreadServer]]]:
    """n thread servers behind a FleetFront (in a thread); yields once every replica is connected."""
    servers = [ThreadServer(target_dir, wrap) for _ in range(n)]
    fr = FleetFront("tcp://127.0.0.1:0", [s.server.endpoint for s in servers], **front)  # type: ignore[arg-type]
    thread = threading.Thread(target=fr.serve_forever, daemon=True)
    thread.start()
    try:
        wait_for(lambda: all(fr.live()), 10, "replicas connected")
        yield fr, servers
    finally:
        fr.stop()
        thread.join(10)
        for s in servers:
            s.kill()


def wait_for(cond: object, timeout_s: float, what: str) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.01)
