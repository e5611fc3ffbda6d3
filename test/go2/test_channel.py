"""The SDK channel factory starts on loopback, writes Cyclone's trace where we say, and refuses to be
re-initialised differently within one process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from spec_decode_ros.go2.channel import init_channel

pytestmark = pytest.mark.slow  # starts processes, DDS, MuJoCo or training


def test_trace_goes_to_the_given_path(tmp_path):
    trace = tmp_path / "trace.log"
    code = ("from spec_decode_ros.go2.channel import init_channel\n"
            "from unitree_sdk2py.core import channel\n"
            f"init_channel('lo', {150 + os.getpid() % 50}, {str(trace)!r})\n"
            "print(channel.ChannelConfigHasInterface)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert f"<OutputFile>{trace}</OutputFile>" in out and "/tmp/cdds.LOG" not in out
    assert "lo" in trace.read_text()  # Cyclone really used that config: its trace names the interface


def test_bad_domain_is_rejected():
    with pytest.raises(ValueError, match="domain id"):
        init_channel("lo", 999)


def test_second_initialisation_must_agree_with_the_first(tmp_path):
    code = ("from spec_decode_ros.go2.channel import init_channel\n"
            f"d = {150 + os.getpid() % 50}\n"
            f"assert init_channel('lo', d, {str(tmp_path / 't.log')!r}) is True\n"
            "assert init_channel('lo', d) is False\n"
            "try:\n    init_channel('lo', d + 1)\nexcept ValueError as e:\n    print('refused:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "refused: Go2 DDS channel already initialised" in out
