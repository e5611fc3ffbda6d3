"""The robustness benchmarks' probes: percentiles and the verifier's memory readings."""

from __future__ import annotations

import os

from spec_decode_ros.bench.robustness_probes import peak_rss_bytes, percentile, rss_bytes


def test_percentile_by_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) in (50.0, 51.0) and percentile(values, 0.95) == 95.0
    assert percentile(values, 1.0) == 100.0 and percentile([], 0.95) == 0.0


def test_memory_readings_of_this_process():
    assert 0 < rss_bytes(os.getpid()) <= peak_rss_bytes(os.getpid())
