"""One verifier replica as a Ray actor: today's ``VerifierServer`` (batching and all) in a thread of the actor's
process, bound on loopback (or the node's address); the front reaches it over ZeroMQ, Ray only places, watches
and restarts it. Its methods answer control questions only (endpoint, PID, counters), never the data path."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from spec_decode_ros.bridge.sessions import Limits


@dataclass(frozen=True)
class ReplicaSpec:
    """What each replica runs: the target (as ``spec-decode cloud --model`` names it), its device, how it
    batches, and an optional ``wrap(target) -> target`` put around the loaded target (e.g. a benchmark's cost
    model; ``None`` in production). ``host`` is the address it binds (port chosen at start)."""

    model: str
    device: str = "cpu"  # or "auto", "cuda", "cuda:N" (spec-decode cloud --device)
    dtype: str = "float32"  # or "auto", "bfloat16", "float16" (spec-decode cloud --dtype)
    max_batch: int = 8
    max_wait_s: float = 0.002
    limits: Limits = field(default_factory=Limits)
    threads: int = 1
    host: str = "127.0.0.1"
    wrap: Callable[[Any], Any] | None = None


class VerifierReplica:
    """The actor class (``ray.remote`` is applied by the fleet, with its resources and restart policy)."""

    def __init__(self, spec: ReplicaSpec) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch

        from spec_decode_ros.bridge.server import ServerConfig, VerifierServer, resolve_target_path
        from spec_decode_ros.decoding.early_exit import EarlyExitTarget

        if spec.threads:
            torch.set_num_threads(spec.threads)
        target: Any = EarlyExitTarget.from_pretrained(resolve_target_path(spec.model), dtype=spec.dtype,
                                                    device=spec.device)
        if spec.wrap is not None:
            target = spec.wrap(target)
        # no fused first round here: a fleet serves many robots at once, whose OPENs batch into one prefill forward
        # (``_prefill_together``); fused first rounds would cost one forward each (a deferred session verifies alone)
        config = ServerConfig(bind=f"tcp://{spec.host}:0", max_batch=spec.max_batch, max_wait_s=spec.max_wait_s,
                              limits=spec.limits, fuse_first_round=False)
        self.server = VerifierServer(target, config)
        self.name = target.model.name
        self._thread = threading.Thread(target=self._serve, name="verifier", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self.server.serve_forever()
        finally:
            self.server.close()

    def endpoint(self) -> str:
        return self.server.endpoint

    def pid(self) -> int:
        return os.getpid()

    def model_name(self) -> str:
        return self.name

    def stats(self, reset: bool = False) -> dict[str, float]:
        """The server's counters (``ServerStats``), its session count, and the target's own ``counters()`` when
        it has them (a wrapped target's); ``reset`` zeroes the server's counters."""
        from spec_decode_ros.bridge.server import ServerStats

        counters = getattr(self.server.target, "counters", None)
        out: dict[str, float] = {**asdict(self.server.stats), "sessions": len(self.server.table),
                                 **(counters() if callable(counters) else {})}
        if reset:
            self.server.stats = ServerStats()
        return out

    def stop(self) -> None:
        self.server.stop()
        self._thread.join(10)
