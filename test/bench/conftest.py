"""The benchmark modules' tests use the bridge tests' fixtures (the tiny pair, its target, a server in a thread)."""

from __future__ import annotations

from bridge.conftest import serving, target  # noqa: F401 (fixtures and helpers shared with the bridge tests)
