"""The cloud's malloc setting: glibc accepts the fixed mmap threshold."""

from __future__ import annotations

import platform

import pytest

from spec_decode_ros.bridge.memory import fix_mmap_threshold


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_fixed_mmap_threshold():
    assert fix_mmap_threshold() is True
