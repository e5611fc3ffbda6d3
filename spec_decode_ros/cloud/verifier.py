"""One verifier from a ``CloudConfig``: ``plan`` derives everything a verifier runs with (the same function for
the single ``spec-decode cloud`` and for each fleet replica, which differ only in where they bind, their CURVE
set-up and their log label), ``start`` loads the target and builds the ``VerifierServer``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from spec_decode_ros.bridge.security import ServerSecurity
from spec_decode_ros.bridge.server import ServerConfig, VerifierServer
from spec_decode_ros.cloud.config import CloudConfig


@dataclass(frozen=True)
class VerifierPlan:
    """What one verifier runs with: its server configuration, its target and the process settings."""

    server: ServerConfig
    model: str
    dtype: str
    device: str
    threads: int
    cpus: frozenset[int]
    emulate_forward_s: float  # put in place by the ``wrap`` ``load_target`` gets (a benchmark's), never here
    log_level: str
    log_format: str


def plan(config: CloudConfig, *, bind: str, security: ServerSecurity | None, label: str = "",
         insecure_ok: bool = False) -> VerifierPlan:
    """The verifier ``config`` describes, bound on ``bind`` with ``security`` (a replica: its hop's);
    ``insecure_ok``: plaintext off loopback is allowed (``--insecure-plaintext``, for the robots' endpoint only)."""
    server = ServerConfig(bind=bind, max_batch=config.max_batch, max_wait_s=config.max_wait_ms / 1000.0,
                          limits=config.limits(), security=security,
                          insecure_plaintext=insecure_ok,
                          flood=config.flood(), fuse_first_round=config.fuse_first_round, label=label)
    return VerifierPlan(server=server, model=config.model, dtype=config.dtype, device=config.device,
                        threads=config.threads, cpus=config.cpu_set(), emulate_forward_s=config.emulate_forward_ms / 1000.0,
                        log_level=config.log_level, log_format=config.log_format)


def resolve_target_path(name: str) -> str:
    """``--model``: a folder, 'embedded' (the bundled target) or 'smollm2' (the zoo's)."""
    if name == "smollm2":
        from spec_decode_ros.decoding.zoo import smollm2_target_path

        return str(smollm2_target_path())
    from spec_decode_ros.embedded import model_path

    return str(model_path(name, "target"))


def load_target(p: VerifierPlan, wrap: Any = None) -> Any:
    """The plan's target with its exit adapters, in this process (threads and CPUs applied first); ``wrap``: a
    benchmark's cost model put around it (``--emulate-forward-ms``: ``spec_decode_ros/bench/emulated_cloud.py`` passes
    it; this package's runtime never imports the benchmarks)."""
    if p.emulate_forward_s > 0 and wrap is None:
        raise ValueError("--emulate-forward-ms needs the benchmark's wrapper around the target "
                         "(spec_decode_ros/bench/emulated_cloud.py puts it in place)")
    if p.cpus:
        os.sched_setaffinity(0, set(p.cpus))
    import torch

    from spec_decode_ros.decoding.early_exit import EarlyExitTarget

    if p.threads:
        torch.set_num_threads(p.threads)
    target: Any = EarlyExitTarget.from_pretrained(resolve_target_path(p.model), dtype=p.dtype, device=p.device)
    return wrap(target) if wrap is not None else target


def start(p: VerifierPlan, wrap: Any = None) -> VerifierServer:
    """Load the target and bind the server (it serves once ``serve_forever`` runs)."""
    return VerifierServer(load_target(p, wrap), p.server)
