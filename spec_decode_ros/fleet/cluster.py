"""The fleet: N ``VerifierReplica`` actors on Ray behind one ``FleetFront``, started and stopped together.

Ray places the replicas (one GPU each where the cluster has GPUs, else one CPU each) and restarts a replica
whose process dies (``max_restarts``); a watcher thread asks a replica the front lost for its endpoint again
(it re-binds a fresh port and makes a fresh key pair when Ray restarts it) and points the front at it. Without
``ray_address`` a local Ray is started (loopback only, no dashboard, no usage stats) and stopped with the fleet;
with it, replicas bind their node's address, and the hop is CURVE (the front's key pair is made here at start,
each replica's in its own process). Replica starts, deaths and restarts are logged.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import zmq

from spec_decode_ros.bridge.keys import KeyPair
from spec_decode_ros.bridge.security import ServerSecurity
from spec_decode_ros.fleet.front import FleetFront
from spec_decode_ros.fleet.replica import ReplicaAddress, ReplicaSpec, VerifierReplica
from spec_decode_ros.service.logs import event

log = logging.getLogger("spec_decode_ros.cloud.fleet")
CONTROL_TIMEOUT_S = 5.0  # a control call (metrics, key reload) a replica must answer within


def start_ray(address: str | None = None, num_cpus: int | None = None, log_to_driver: bool = False) -> bool:
    """Connect to ``address`` or start a local Ray; False when Ray was already initialised (nothing to stop)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=log_to_driver)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, _node_ip_address="127.0.0.1",
                 log_to_driver=log_to_driver)
    return True


class Fleet:
    """``with Fleet(spec, replicas=2, bind="tcp://127.0.0.1:0") as fleet:`` robots connect to ``fleet.endpoint``."""

    def __init__(self, spec: ReplicaSpec, replicas: int, bind: str, *, security: ServerSecurity | None = None,
                 ray_address: str | None = None, max_restarts: int = -1, idle_timeout_s: float = 300.0,
                 log_to_driver: bool = False) -> None:
        if replicas < 1:
            raise ValueError(f"a fleet needs at least one replica, got {replicas}")
        self.spec = spec
        self.n = replicas
        self.bind = bind
        self.security = security
        self.ray_address = ray_address
        self.max_restarts = max_restarts
        self.idle_timeout_s = idle_timeout_s
        self.log_to_driver = log_to_driver
        self.hop = KeyPair(*zmq.curve_keypair())  # the front's key on the hop to its replicas
        self.actors: list[Any] = []
        self.front: FleetFront | None = None
        self._own_ray = False
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.gpus = False

    @property
    def endpoint(self) -> str:
        assert self.front is not None
        return self.front.endpoint

    def start(self, timeout_s: float = 300.0) -> Fleet:
        import ray

        self._own_ray = start_ray(self.ray_address, num_cpus=max(self.n, os.cpu_count() or 1),
                                  log_to_driver=self.log_to_driver)
        self.gpus = self.spec.gpu and ray.cluster_resources().get("GPU", 0) >= 1
        spec = self.spec
        resources: dict[str, float] = {"num_gpus": 1} if self.gpus else {"num_cpus": 1}
        if self.ray_address and spec.host == "127.0.0.1":
            from dataclasses import replace

            spec = replace(spec, host=ray.util.get_node_ip_address())  # reachable from the front's node; CURVE hop
        actor = ray.remote(VerifierReplica).options(max_restarts=self.max_restarts, max_task_retries=-1, **resources)
        self.actors = [actor.remote(spec, k, self.hop.public) for k in range(self.n)]
        endpoints: list[ReplicaAddress] = ray.get([a.endpoint.remote() for a in self.actors], timeout=timeout_s)
        for k, (address, pid) in enumerate(zip(endpoints, self.pids(), strict=True)):
            event(log, logging.INFO, "replica_started", replica=k, endpoint=address.endpoint, pid=pid)
        self.front = FleetFront(self.bind, endpoints, security=self.security, idle_timeout_s=self.idle_timeout_s,
                                hop_keys=self.hop)
        self._threads = [threading.Thread(target=self.front.serve_forever, name="fleet-front", daemon=True),
                         threading.Thread(target=self._watch, name="fleet-watch", daemon=True)]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + timeout_s
        while not all(self.front.live()):
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"replicas not all connected within {timeout_s} s: {self.front.live()}")
            time.sleep(0.02)
        return self

    def _watch(self) -> None:
        """Ask each replica the front lost for its (new) endpoint until Ray has it back; move the front there."""
        import ray

        assert self.front is not None
        pending: dict[int, Any] = {}
        while not self._stop.wait(0.1):
            live = self.front.live()
            for k, up in enumerate(live):
                if up:
                    pending.pop(k, None)
                elif k not in pending:
                    pending[k] = self.actors[k].endpoint.remote()
            for k, ref in list(pending.items()):
                done, _ = ray.wait([ref], timeout=0)
                if not done:
                    continue
                del pending[k]
                try:
                    address = ray.get(ref)
                except Exception:  # the call reached the dead instance: ask again next tick
                    continue
                if address != self.front.address(k):
                    event(log, logging.WARNING, "replica_restarted", replica=k, endpoint=address.endpoint)
                self.front.set_endpoint(k, address)

    def pids(self) -> list[int]:
        import ray

        return ray.get([a.pid.remote() for a in self.actors], timeout=60)

    def stats(self, reset: bool = False) -> list[dict[str, float]]:
        import ray

        return ray.get([a.stats.remote(reset) for a in self.actors], timeout=60)

    def metrics(self) -> list[str | None]:
        """Each replica's Prometheus exposition (None for one that did not answer in time)."""
        import ray

        refs = [a.metrics.remote() for a in self.actors]
        out: list[str | None] = []
        for ref in refs:
            try:
                out.append(ray.get(ref, timeout=CONTROL_TIMEOUT_S))
            except Exception:
                out.append(None)
        return out

    def reload_keys(self) -> None:
        """Re-read the robots' allow-list now (SIGHUP): at the front, which is where robots are admitted."""
        if self.front is not None:
            self.front.reload_keys()

    def close(self) -> None:
        import ray

        self._stop.set()
        if self.front is not None:
            self.front.stop()
        for t in self._threads:
            t.join(10)
        self._threads = []
        for a in self.actors:
            ray.kill(a, no_restart=True)
        self.actors = []
        if self._own_ray:
            ray.shutdown()
            self._own_ray = False

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
