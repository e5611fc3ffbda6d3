"""Pre-drafting where it pays: the budget follows the measured hit rate, window and draft-token time."""

from __future__ import annotations

from spec_decode_ros.decoding.predraft import PredraftPolicy


def test_with_rare_hits_and_no_measured_window_nothing_is_pre_drafted():
    policy = PredraftPolicy()
    assert policy.budget(8) == 8  # nothing measured yet: hits presumed
    for _ in range(6):
        policy.record_hit(False)  # every round pre-drafted past its FINAL: the window was never measured
    assert policy.budget(8) == 0  # a round without pre-drafting will measure it


def test_pre_drafts_in_full_until_hits_prove_rare():
    policy = PredraftPolicy()
    assert policy.budget(8) == 8  # nothing measured yet
    policy.record_window(0.100)
    policy.record_draft(0.840, 4)  # 210 ms a token: none fits in the 100 ms window
    assert policy.budget(8) == 8  # but hits are still presumed likely
    for _ in range(6):
        policy.record_hit(False)
    assert policy.hit_rate < 0.5 and policy.budget(8) == 0


def test_with_rare_hits_only_the_tokens_that_fit_in_the_window_are_drafted():
    policy = PredraftPolicy(hit_rate=0.1)
    policy.record_window(0.050)
    policy.record_draft(0.040, 4)  # 10 ms a token: 5 fit
    assert policy.budget(8) == 5 and policy.budget(3) == 3
    for _ in range(10):
        policy.record_hit(True)
    assert policy.budget(8) == 8  # hits became likely again: a token past the window pays on average


def test_estimates_are_moving_averages_and_empty_drafts_are_ignored():
    policy = PredraftPolicy(smoothing=0.5)
    policy.record_window(0.1)
    policy.record_window(0.3)
    policy.record_draft(1.0, 0)
    assert abs(policy.window_s - 0.2) < 1e-12 and policy.token_s is None
