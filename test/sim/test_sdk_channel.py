"""The SDK channel factory starts on loopback and writes Cyclone's trace where we say."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from spec_decode_ros.sim.sdk_channel import init_channel


def test_trace_goes_to_the_given_path(tmp_path):
    trace = tmp_path / "trace.log"
    code = ("from spec_decode_ros.sim.sdk_channel import init_channel\n"
            "from unitree_sdk2py.core import channel\n"
            f"init_channel('lo', {150 + os.getpid() % 50}, {str(trace)!r})\n"
            "print(channel.ChannelConfigHasInterface)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert f"<OutputFile>{trace}</OutputFile>" in out and "/tmp/cdds.LOG" not in out
    assert "lo" in trace.read_text()  # Cyclone really used that config: its trace names the interface


def test_bad_domain_is_rejected():
    with pytest.raises(ValueError, match="domain id"):
        init_channel("lo", 999)
