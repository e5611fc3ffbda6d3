"""The flood guard's bookkeeping: refused bytes per peer within a window, the penalty, one cut per connection."""

from __future__ import annotations

from spec_decode_ros.bridge.flood_guard import FloodGuard, FloodLimits

LIMITS = FloodLimits(refused_bytes=100, window_s=1.0, backoff_s=5.0, max_peers=3)


def test_refused_bytes_over_the_limit_within_the_window_penalise_the_peer():
    guard = FloodGuard(LIMITS)
    assert not guard.refused("a", 60, 0.0)
    assert guard.refused("a", 60, 0.5)  # 120 > 100 within 1 s
    assert guard.penalised("a", 0.6) and guard.penalised("a", 5.4)
    assert not guard.penalised("a", 5.6), "the penalty lasts backoff_s"
    assert not guard.penalised("b", 0.6), "another peer is not penalised"


def test_small_refused_frames_and_slow_refusals_are_never_penalised():
    guard = FloodGuard(LIMITS)
    assert not any(guard.refused("a", 1, 0.001 * i) for i in range(100))  # many small frames: 100 bytes
    assert not any(guard.refused("b", 60, 1.5 * i) for i in range(20))  # big ones, each in its own window
    assert not guard.penalised("a", 0.2) and not guard.penalised("b", 30.0)


def test_each_connection_of_a_penalised_peer_is_cut_once():
    guard = FloodGuard(LIMITS)
    assert not guard.should_cut("a", "conn1"), "a peer that is not known is not cut"
    guard.refused("a", 200, 0.0)
    assert guard.should_cut("a", "conn1") and not guard.should_cut("a", "conn1")
    assert guard.should_cut("a", "conn2"), "a reconnection of the same peer is cut again"


def test_peers_are_forgotten_when_their_penalty_is_over_and_the_table_is_bounded():
    guard = FloodGuard(LIMITS)
    guard.refused("a", 200, 0.0)
    for i, peer in enumerate("bcde"):
        guard.refused(peer, 1, 0.1 * i)
    assert len(guard) == LIMITS.max_peers
    guard.expire(10.0)
    assert len(guard) == 0


def test_while_a_peer_is_penalised_one_large_refused_frame_is_enough():
    limits = FloodLimits(refused_bytes=100, refused_bytes_under_attack=10, window_s=1.0, backoff_s=5.0)
    guard = FloodGuard(limits)
    assert not guard.refused("b", 50, 0.0), "no attack yet: the normal threshold"
    assert guard.refused("a", 200, 0.1)
    assert not guard.refused("c", 5, 0.2), "a small refused frame is still answered"
    assert guard.refused("d", 50, 0.3), "under attack a new peer is cut at its first large refused frame"
    assert not guard.refused("e", 50, 5.5), "the attack is over: the normal threshold again"
