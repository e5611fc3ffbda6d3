"""Shared fixtures for the simulation tests: one offscreen world per module (GL contexts are costly)."""

from __future__ import annotations

import pytest

from spec_decode_ros.sim.world import Go2World, random_layout


@pytest.fixture(scope="module")
def world():
    w = Go2World(random_layout(0), width=64, height=64)
    yield w
    w.close()
