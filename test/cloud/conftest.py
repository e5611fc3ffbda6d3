"""Fixtures of the operated-verifier tests: CURVE key folders, a metrics scrape (``captured_logs`` is a root
plugin: ``support.log_capture``)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from bridge.conftest import target  # noqa: F401 (the tiny target, shared with the bridge tests)
from prometheus_client.parser import text_string_to_metric_families

from spec_decode_ros.bridge.keys import main as keys_main
from spec_decode_ros.bridge.security import ClientSecurity


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """``spec-decode keys DIR cloud robot1 robot2 health``: DIR/cloud.key_secret, DIR/allowed/robot1.key, ..."""
    folder = tmp_path / "keys"
    assert keys_main([str(folder), "cloud", "robot1", "robot2", "health"]) == 0
    return folder


def robot_security(keys: Path, name: str) -> ClientSecurity:
    return ClientSecurity(keys / f"{name}.key_secret", keys / "cloud.key")


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One scrape of a Prometheus endpoint: (sample name, sorted labels) -> value."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of ``name`` over every series whose labels include ``labels`` (e.g. over replicas)."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))
