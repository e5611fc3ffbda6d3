"""One verifier replica as a Ray actor: a ``VerifierServer`` (batching and all) in a thread of the actor's process,
built by ``spec.build`` from the cloud command's own configuration object, which reaches the replica whole (Ray
pickles it). The front reaches the replica over ZeroMQ; Ray only places, watches and restarts it. Its methods
answer control questions only (endpoint, PID, counters, metrics), never the data path.

The front-to-replica hop is CURVE, always: each replica makes its own key pair when it starts (the secret never
leaves its process) and admits only the fleet front's public key; the front pins the replica's public key,
which ``endpoint()`` returns with the address. A plain client gets nothing from a replica.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from spec_decode_ros.bridge.keys import KeyPair
from spec_decode_ros.bridge.security import ServerSecurity


@dataclass(frozen=True)
class ReplicaSpec:
    """What each replica runs: ``build(config, bind=..., security=..., label=..., wrap=...) -> VerifierServer``
    called in the replica's process with ``config`` (the cloud command's ``CloudConfig``, untouched) and an
    optional ``wrap(target) -> target`` (a benchmark's cost model; None in production). ``host``: the address it
    binds (port chosen at start); ``gpu``: ask Ray for one GPU per replica where the cluster has GPUs."""

    config: Any
    build: Callable[..., Any]
    wrap: Callable[[Any], Any] | None = None
    host: str = "127.0.0.1"
    gpu: bool = True


@dataclass(frozen=True)
class ReplicaAddress:
    """Where the front reaches a replica: its endpoint and its CURVE public key (z85; None: plaintext, loopback)."""

    endpoint: str
    public: bytes | None = None


class VerifierReplica:
    """The actor class (``ray.remote`` is applied by the fleet, with its resources and restart policy)."""

    def __init__(self, spec: ReplicaSpec, index: int, front_public: bytes) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        public, secret = zmq.curve_keypair()
        self._public = public
        self.config = spec.config
        security = ServerSecurity.in_memory(KeyPair(public, secret), frozenset({front_public}))
        self.server = spec.build(spec.config, bind=f"tcp://{spec.host}:0", security=security,
                                 label=f"replica {index}", wrap=spec.wrap)
        self.name = self.server.target.model.name
        self._thread = threading.Thread(target=self._serve, name="verifier", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self.server.serve_forever()
        finally:
            self.server.close()

    def endpoint(self) -> ReplicaAddress:
        return ReplicaAddress(self.server.endpoint, self._public)

    def pid(self) -> int:
        return os.getpid()

    def model_name(self) -> str:
        return self.name

    def received(self) -> Any:
        """The configuration object this replica was built from (the options test compares it)."""
        return self.config

    def server_config(self) -> Any:
        return self.server.config

    def metrics(self) -> str:
        """This replica's Prometheus exposition (the front re-exposes it with a ``replica`` label)."""
        return self.server.events.metrics.exposition()

    def stats(self, reset: bool = False) -> dict[str, float]:
        """The server's counters (``ServerStats``), its session count, and the target's own ``counters()`` when
        it has them (a wrapped target's); ``reset`` zeroes the server's counters (benchmarks, over Ray only)."""
        from dataclasses import asdict

        from spec_decode_ros.bridge.server import ServerStats

        counters = getattr(self.server.target, "counters", None)
        out: dict[str, float] = {**asdict(self.server.stats), "sessions": len(self.server.table),
                                 **(counters() if callable(counters) else {})}
        if reset:
            self.server.stats = ServerStats()
        return out

    def reload_keys(self) -> None:
        self.server.reload_keys()

    def stop(self) -> None:
        self.server.stop()
        self._thread.join(10)
