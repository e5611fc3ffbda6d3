"""``spec-decode cloud --replicas N [--ray-address ADDR]``: the same command, served by a fleet of N replicas.

Robots see no difference: one endpoint (``--bind``), the same protocol, the same CURVE keys (checked at the
front). The cloud command's other options (model, device, batching, limits) apply to every replica."""

from __future__ import annotations

import argparse
import signal
import threading

from spec_decode_ros.bridge.security import ServerSecurity
from spec_decode_ros.bridge.sessions import Limits
from spec_decode_ros.fleet.cluster import Fleet
from spec_decode_ros.fleet.replica import ReplicaSpec


def serve_fleet(args: argparse.Namespace, security: ServerSecurity | None) -> int:
    """Run until SIGTERM/SIGINT; ``args`` are ``spec-decode cloud``'s (``replicas`` >= 1), ``security`` the CURVE
    set-up it checked (the front serves the robots with it)."""
    spec = ReplicaSpec(model=args.model, device=args.device, dtype=args.dtype, max_batch=args.max_batch,
                       max_wait_s=args.max_wait_ms / 1000.0, threads=args.threads or 1,
                       limits=Limits(args.max_sessions, args.idle_timeout_s, int(args.memory_cap_mb * 2**20)))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with Fleet(spec, args.replicas, args.bind, security=security, ray_address=args.ray_address or None) as fleet:
        where = args.ray_address or "a local Ray"
        print(f"spec-decode cloud: {args.replicas} replica(s) of {args.model} on {where} "
              f"({'one GPU' if fleet.gpus else 'one CPU'} each, PIDs {fleet.pids()}), front on {fleet.endpoint}, "
              f"batch {spec.max_batch}, CURVE {'on' if security else 'off'}", flush=True)
        stop.wait()
    return 0
