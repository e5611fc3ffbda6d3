"""``spec-decode cloud`` (and ``bin/cloud_verifier``): parse the options into one ``CloudConfig``, set up the logs,
then serve one verifier in this process or a fleet of replicas behind a front, with the Prometheus endpoint
(``--metrics-port``) and systemd readiness (``READY=1`` once robots are answered). SIGTERM/SIGINT stop it,
SIGHUP re-reads the robots' allow-list at once (it is also re-read whenever it changes)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from spec_decode_ros.cloud import verifier
from spec_decode_ros.cloud.config import CloudConfig, ConfigError, parse
from spec_decode_ros.cloud.config import (
    build_parser as build_parser,  # the command's parser, as every subcommand has it
)
from spec_decode_ros.service import logs, metrics
from spec_decode_ros.service.notify import notify

log = logging.getLogger("spec_decode_ros.cloud")


def _on_signals(stop: Callable[[], None], reload_keys: Callable[[], None]) -> None:
    signal.signal(signal.SIGTERM, lambda *_: stop())
    signal.signal(signal.SIGINT, lambda *_: stop())
    signal.signal(signal.SIGHUP, lambda *_: reload_keys())


def _serve_one(config: CloudConfig, wrap: Callable[[Any], Any] | None) -> int:
    security = config.security()
    server = verifier.start(verifier.plan(config, bind=config.bind, security=security,
                                          insecure_ok=config.insecure_plaintext), wrap)
    if config.metrics_port:
        metrics.serve(server.events.metrics.registry, config.metrics_port, config.metrics_host)
    _on_signals(server.stop, server.reload_keys)
    target = server.target
    logs.event(log, logging.INFO, "serving", endpoint=server.endpoint, model=target.model.name,
               exit_layers=str(list(target.exit_layers)), batch=config.max_batch, curve=security is not None,
               metrics=f"{config.metrics_host}:{config.metrics_port}" if config.metrics_port else "off")
    print(f"spec-decode cloud: {target.model.name} (exit layers {list(target.exit_layers)}) on {server.endpoint}, "
          f"batch {config.max_batch}, wait {config.max_wait_ms} ms, CURVE {'on' if security else 'off'}", flush=True)
    if not target.exit_layers:
        from spec_decode_ros.decoding.adapters import no_exits_line

        print(no_exits_line(config.model), flush=True)
    notify("READY=1")  # bound, model loaded: the loop below answers from its first step
    try:
        server.serve_forever()
    finally:
        notify("STOPPING=1")
        server.close()
    return 0


def _serve_fleet(config: CloudConfig, wrap: Callable[[Any], Any] | None) -> int:
    from spec_decode_ros.cloud.fleet import make_fleet

    stop = threading.Event()
    fleet = make_fleet(config, wrap=wrap)
    _on_signals(stop.set, fleet.reload_keys)
    with fleet:
        assert fleet.front is not None
        if config.metrics_port:
            registry = fleet.front.metrics.registry
            registry.register(metrics.ReplicaCollector(fleet.metrics))
            metrics.serve(registry, config.metrics_port, config.metrics_host)
        where = config.ray_address or "a local Ray"
        logs.event(log, logging.INFO, "serving", endpoint=fleet.endpoint, model=config.model, replicas=config.replicas,
                   ray=where, curve=config.security() is not None,
                   metrics=f"{config.metrics_host}:{config.metrics_port}" if config.metrics_port else "off")
        print(f"spec-decode cloud: {config.replicas} replica(s) of {config.model} on {where} "
              f"({'one GPU' if fleet.gpus else 'one CPU'} each, PIDs {fleet.pids()}), front on {fleet.endpoint}, "
              f"batch {config.max_batch}, CURVE {'on' if config.security() else 'off'}", flush=True)
        notify("READY=1")  # every replica connected to the front
        stop.wait()
        notify("STOPPING=1")
    return 0


def main(argv: list[str] | None = None, *, wrap_target: Callable[[Any], Any] | None = None) -> int:
    """``wrap_target`` is put around the target of this verifier or of every replica: a benchmark's emulated forward
    cost, which ``spec_decode_ros/bench/emulated_cloud.py`` passes for ``--emulate-forward-ms``."""
    try:
        config = parse(sys.argv[1:] if argv is None else list(argv))
    except ConfigError as e:
        print(f"spec-decode cloud: {e}", file=sys.stderr)
        return 2
    if config.emulate_forward_ms > 0 and wrap_target is None:
        print("spec-decode cloud: --emulate-forward-ms is a benchmark's emulation: run it as 'spec-decode cloud ...', "
              "which puts it in place (spec_decode_ros/bench/emulated_cloud.py)", file=sys.stderr)
        return 2
    logs.configure(config.log_level, config.log_format)
    return _serve_fleet(config, wrap_target) if config.replicas else _serve_one(config, wrap_target)


if __name__ == "__main__":
    sys.exit(main())
