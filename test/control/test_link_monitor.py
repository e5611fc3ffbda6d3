"""The draft node's link reporting with a hand-driven clock: pings always report, verdicts at most once
per heartbeat, tokens only after something other than CONNECTED, losses at once."""

from __future__ import annotations

import math

import pytest
from support.clock import ManualClock

from spec_decode_ros.control.link_monitor import CONNECTED, UNREACHABLE, LinkMonitor


def test_every_ping_reports_its_result():
    link = LinkMonitor(0.5, clock=ManualClock(50.0))
    assert link.state is None and not link.unreachable
    update = link.ping(True, rtt_ms=3.0, timeout_s=0.5)
    assert (update.state, update.detail, update.rtt_ms) == (CONNECTED, "pong", 3.0)
    update = link.ping(False, rtt_ms=500.0, timeout_s=0.5)
    assert (update.state, update.detail) == (UNREACHABLE, "no pong within 0.5 s") and math.isnan(update.rtt_ms)
    assert link.unreachable


def test_a_verdict_is_a_heartbeat_at_most_once_per_heartbeat_period():
    clock = ManualClock(50.0)
    link = LinkMonitor(0.5, clock=clock)
    assert link.verdict(12.0).state == CONNECTED  # nothing reported yet
    clock.t += 0.3
    assert link.verdict(12.0) is None
    clock.t += 0.3
    update = link.verdict(14.0)
    assert (update.state, update.rtt_ms) == (CONNECTED, 14.0)


def test_tokens_report_connected_only_after_something_else():
    link = LinkMonitor(0.5, clock=ManualClock(50.0))
    assert link.token().state == CONNECTED
    assert link.token() is None
    link.transport(UNREACHABLE)
    assert link.unreachable
    assert link.token().detail == "tokens arriving" and not link.unreachable


def test_transport_changes_and_failed_requests_report_at_once():
    link = LinkMonitor(0.5, clock=ManualClock(50.0))
    assert link.transport("connected").detail == "cloud back"
    assert link.transport("reconnecting") is None
    assert link.lost("no reply in 3 s").state == UNREACHABLE
    assert link.no_cloud().state == CONNECTED


@pytest.mark.parametrize("heartbeat_s", [0.0, -1.0, math.inf, math.nan])
def test_a_bad_heartbeat_is_refused(heartbeat_s: float):
    with pytest.raises(ValueError, match="heartbeat_s"):
        LinkMonitor(heartbeat_s)
