"""The first command's timeline from synthetic stamps: each segment from its own field, the cloud's prefill only
where the robot's drafting did not hide it, cloud_ar without a draft, and the segments adding up to capture ->
Move; each request's first round is its earliest, and incomplete requests stay out of the medians."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from spec_decode_ros.analysis.first_command import PREFIX, SEGMENTS, first_rounds, segments_ms, timeline_figures

MS = 1_000_000
IMAGE = 5_000 * MS


def first_round(**over: float) -> dict:
    """A speculative first round: request start 10 ms after the frame, DRAFT sent 40 ms after it, FINAL received
    at 100 ms (verify 60: prefill 25, of which 18 hidden by the draft prefill 8 + block 10; queued 3; forward 20)."""
    base = {"t_ns": IMAGE + 101 * MS, "image_ns": IMAGE, "request_ns": IMAGE + 10 * MS, "sent_ms": 30.0,
            "draft_prefill_ms": 8.0, "draft_ms": 10.0, "prefill_ms": 25.0, "queued_ms": 3.0, "server_ms": 20.0,
            "verify_ms": 60.0}
    return base | over


def test_each_segment_comes_from_its_field_and_they_add_up_to_capture_to_move():
    seg = segments_ms(first_round(), IMAGE, IMAGE + 120 * MS, IMAGE + 125 * MS)
    assert list(seg) == [key for key, _ in SEGMENTS]
    assert seg == pytest.approx({"capture_to_request": 10.0, "robot_prepare": 12.0, "draft_prefill": 8.0,
                                 "draft_block": 10.0, "cloud_prefill": 7.0, "cloud_queue": 3.0, "cloud_forward": 20.0,
                                 "network": 30.0, "final_to_command": 20.0, "command_to_move": 5.0})
    assert sum(seg.values()) == pytest.approx(125.0)


def test_a_prefill_the_drafting_hides_costs_nothing_and_the_sum_still_holds():
    seg = segments_ms(first_round(prefill_ms=15.0), IMAGE, IMAGE + 120 * MS, IMAGE + 125 * MS)
    assert seg["cloud_prefill"] == 0.0 and seg["network"] == pytest.approx(60.0 - 3.0 - 20.0)
    assert sum(seg.values()) == pytest.approx(125.0)


def test_cloud_ar_has_no_draft_and_its_prefill_is_never_hidden():
    """request start 10 ms, OPEN sent 4 ms later, first FINAL 90 ms after the OPEN (prefill 25, queue 3, forward 20)."""
    ar = first_round(sent_ms=4.0, draft_prefill_ms=0.0, draft_ms=0.0, verify_ms=90.0)
    seg = segments_ms(ar, IMAGE, IMAGE + 130 * MS, IMAGE + 134 * MS)
    assert seg["robot_prepare"] == 4.0 and seg["draft_prefill"] == seg["draft_block"] == 0.0
    assert seg["cloud_prefill"] == 25.0 and seg["network"] == pytest.approx(90.0 - 25.0 - 3.0 - 20.0)
    assert seg["final_to_command"] == pytest.approx(130.0 - 104.0)
    assert sum(seg.values()) == pytest.approx(134.0)


def test_a_requests_first_round_is_its_earliest_and_rounds_without_a_start_are_skipped():
    later = first_round(t_ns=IMAGE + 150 * MS, sent_ms=95.0)
    reopened = first_round(t_ns=IMAGE + 300 * MS)  # after a re-open round numbers start again: time decides
    old = first_round(image_ns=IMAGE + 1_000 * MS, request_ns=0)  # a bag from before the timeline fields
    firsts = first_rounds([reopened, later, first_round(), old])
    assert list(firsts) == [IMAGE] and firsts[IMAGE]["t_ns"] == IMAGE + 101 * MS


def test_figures_take_medians_over_whole_timelines_only():
    def request(i: int, command_ms: float | None, move_ms: float | None) -> SimpleNamespace:
        image = IMAGE + i * 1_000 * MS
        return SimpleNamespace(image_ns=image, first_command_ns=None if command_ms is None else image + command_ms * MS,
                               first_move_ns=None if move_ms is None else image + move_ms * MS)

    rounds = [first_round(image_ns=IMAGE + i * 1_000 * MS, request_ns=IMAGE + i * 1_000 * MS + 10 * MS,
                          t_ns=IMAGE + i * 1_000 * MS + 101 * MS, server_ms=s)
              for i, s in enumerate((20.0, 30.0, 40.0, 99.0))]
    requests = [request(0, 120, 125), request(1, 130, 135), request(2, 140, 145), request(3, 150, None),
                request(4, 120, 125)]  # 3: no Move; 4: no stats
    fig = timeline_figures(requests, rounds)
    assert fig[f"{PREFIX}requests"] == 3.0
    assert fig[f"{PREFIX}cloud_forward_ms_median"] == 30.0
    assert fig[f"{PREFIX}final_to_command_ms_median"] == 30.0
    assert fig[f"{PREFIX}capture_to_move_ms_median"] == 135.0
    assert fig[f"{PREFIX}sum_ms"] == pytest.approx(sum(fig[f"{PREFIX}{k}_ms_median"] for k, _ in SEGMENTS))
    assert fig[f"{PREFIX}sum_of_means_ms"] == pytest.approx(fig[f"{PREFIX}capture_to_move_ms_mean"]) == 135.0
    empty = timeline_figures([request(3, 150, None)], rounds)
    assert empty[f"{PREFIX}requests"] == 0.0 and math.isnan(empty[f"{PREFIX}sum_ms"])
