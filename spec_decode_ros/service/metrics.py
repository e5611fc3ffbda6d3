"""Prometheus metrics of the cloud side: one verifier's (``VerifierMetrics``), a fleet front's (``FrontMetrics``),
the replicas' series re-exposed by the front with a ``replica`` label (``ReplicaCollector``), and the HTTP
endpoint (``serve``, loopback unless told otherwise).

Each verifier keeps its own ``CollectorRegistry`` (several verifiers may share a process in tests). A fleet is
scraped at its front only: the front asks every live replica for its exposition (a Ray call, at scrape time)
and adds ``replica="k"`` to each series, so an operator opens one port, sees each replica apart (one slow or
refusing replica stands out) and sums with ``sum without (replica)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

PREFIX = "spec_decode"
SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ROWS = (1, 2, 4, 8, 16, 32, 64, 128)


class VerifierMetrics:
    """One verifier's series (names start with ``spec_decode_``); rates are ratios of the counters, and two
    gauges give the ratios since start for a quick look."""

    def __init__(self, sessions: Callable[[], int], registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.sessions_open = Gauge(f"{PREFIX}_sessions_open", "sessions held (KV caches on this verifier)",
                                   registry=r)
        self.sessions_open.set_function(lambda: float(sessions()))
        self.opens = Counter(f"{PREFIX}_opens", "OPENs answered OPENED (fresh and resumed)", ["kind"], registry=r)
        self.rounds = Counter(f"{PREFIX}_rounds", "verification rows answered FINAL (a cloud-AR token is one)",
                              registry=r)
        self.committed = Counter(f"{PREFIX}_committed_tokens", "tokens committed by FINALs", registry=r)
        self.drafted = Counter(f"{PREFIX}_drafted_tokens", "draft tokens verified", registry=r)
        self.accepted = Counter(f"{PREFIX}_accepted_tokens", "draft tokens the target accepted", registry=r)
        self.early = Counter(f"{PREFIX}_early_verdicts", "EARLY verdicts sent", registry=r)
        self.early_hits = Counter(f"{PREFIX}_early_hits", "EARLY verdicts the FINAL confirmed", registry=r)
        self.errors = Counter(f"{PREFIX}_errors", "ERRORs sent, by code", ["code"], registry=r)
        self.flood_penalties = Counter(f"{PREFIX}_flood_penalties", "peers put under flood penalty", registry=r)
        self.revoked = Counter(f"{PREFIX}_revoked_sessions", "sessions cut because their key was revoked",
                               registry=r)
        self.connections = Counter(f"{PREFIX}_connections", "robot connections seen (first frame)", registry=r)
        self.forward = Histogram(f"{PREFIX}_verify_forward_seconds", "one batched verification forward",
                                 buckets=SECONDS, registry=r)
        self.queue_wait = Histogram(f"{PREFIX}_queue_wait_seconds", "a row's wait from its DRAFT to its forward",
                                    buckets=SECONDS, registry=r)
        self.prefill = Histogram(f"{PREFIX}_prefill_seconds", "an OPEN's prefill (and resume) forwards",
                                 buckets=SECONDS, registry=r)
        self.round_time = Histogram(f"{PREFIX}_round_seconds", "a row's DRAFT arrival to its FINAL sent",
                                    buckets=SECONDS, registry=r)
        self.batch_rows = Histogram(f"{PREFIX}_batch_rows", "rows per verification forward", buckets=ROWS,
                                    registry=r)
        self._totals = {"drafted": 0, "accepted": 0, "early": 0, "early_hits": 0}
        ratio = Gauge(f"{PREFIX}_acceptance_rate", "accepted / drafted tokens since start", registry=r)
        ratio.set_function(lambda: _ratio(self._totals["accepted"], self._totals["drafted"]))
        hits = Gauge(f"{PREFIX}_early_hit_rate", "EARLY verdicts confirmed / sent since start", registry=r)
        hits.set_function(lambda: _ratio(self._totals["early_hits"], self._totals["early"]))

    def row(self, *, drafted: int, accepted: int, committed: int, early: bool, early_hit: bool, queue_wait_s: float,
            round_s: float) -> None:
        """One verified row (a FINAL sent)."""
        self.rounds.inc()
        self.committed.inc(committed)
        self.drafted.inc(drafted)
        self.accepted.inc(accepted)
        self.early.inc(int(early))
        self.early_hits.inc(int(early_hit))
        self.queue_wait.observe(queue_wait_s)
        self.round_time.observe(round_s)
        for key, value in (("drafted", drafted), ("accepted", accepted), ("early", int(early)),
                           ("early_hits", int(early_hit))):
            self._totals[key] += value

    def exposition(self) -> str:
        return generate_latest(self.registry).decode()


class FrontMetrics:
    """A fleet front's own series: what it answers itself (ERRORs for frames it refuses, revocations) and its
    replicas' state."""

    def __init__(self, live: Callable[[], Sequence[bool]], sessions: Callable[[], int],
                 registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        alive = Gauge(f"{PREFIX}_replicas_alive", "replicas the front is connected to", registry=r)
        alive.set_function(lambda: float(sum(live())))
        total = Gauge(f"{PREFIX}_replicas", "replicas in the fleet", registry=r)
        total.set_function(lambda: float(len(live())))
        placed = Gauge(f"{PREFIX}_front_sessions", "sessions the front routes", registry=r)
        placed.set_function(lambda: float(sessions()))
        self.errors = Counter(f"{PREFIX}_front_errors", "ERRORs the front sent itself, by code", ["code"],
                              registry=r)
        self.replica_downs = Counter(f"{PREFIX}_replica_downs", "replica connections lost", registry=r)
        self.evicted = Counter(f"{PREFIX}_front_evicted_sessions", "sessions evicted because their replica went down",
                               registry=r)
        self.revoked = Counter(f"{PREFIX}_revoked_sessions", "sessions cut because their key was revoked",
                               registry=r)
        self.connections = Counter(f"{PREFIX}_connections", "robot connections seen (first frame)", registry=r)


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


class ReplicaCollector:
    """Re-exposes each replica's series with a ``replica`` label; ``fetch()`` returns one exposition text per
    replica (None for one that did not answer)."""

    def __init__(self, fetch: Callable[[], Sequence[str | None]]) -> None:
        self.fetch = fetch

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for k, text in enumerate(self.fetch()):
            if not text:
                continue
            for family in text_string_to_metric_families(text):
                out = merged.get(family.name)
                if out is None:
                    out = merged[family.name] = Metric(family.name, family.documentation, family.type)
                out.samples.extend(s._replace(labels={**s.labels, "replica": str(k)}) for s in family.samples)
        yield from merged.values()


def serve(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> tuple[Any, threading.Thread]:
    """Serve ``registry`` on ``http://host:port/metrics`` in a daemon thread (port 0: a free one, then
    ``server.server_port``); (server, thread). ``server.shutdown()`` stops it."""
    return start_http_server(port, addr=host, registry=registry)
