"""The report's per-answer mode choices, from the draft node's DecodeStats rounds as a bag gives them."""

from __future__ import annotations

from spec_decode_ros.analysis.latency import CHOICE_FIELDS, BagSummary
from spec_decode_ros.analysis.mode_choices import answer_choices, format_choices


def _round(request: int, mode: str, **kw: object) -> dict:
    base = {"request_id": request, "mode": mode, "verify_ms": 50.0, "sent_ms": 10.0} | CHOICE_FIELDS
    return base | {"requested_mode": "auto"} | kw


def test_each_answer_shows_its_mode_its_reason_and_its_prediction_beside_the_measured_time():
    rounds = [_round(1, "sd_ee", explore=True, why="explore early: never measured", gamma=4),
              _round(1, "sd_ee", sent_ms=70.0, verify_ms=60.0, gamma=4),
              _round(2, "cloud_ar", why="fastest predicted: 120 ms vs sd 150 ms", predicted_ms=120.0, est_rtt_ms=80.0)]
    summary = BagSummary(label="auto", mode="cloud_ar,sd_ee", requests=[], rounds=rounds)
    rows = answer_choices(summary)
    assert [(r["request"], r["mode"], r["explore"]) for r in rows] == [(1, "sd_ee", True), (2, "cloud_ar", False)]
    assert rows[0]["measured_ms"] == 130.0 and rows[0]["gamma"] == 4  # request start -> its last FINAL
    assert rows[1]["predicted_ms"] == 120.0 and rows[1]["rtt_ms"] == 80.0
    table = format_choices([summary])
    assert "mode auto: cloud_ar 1, sd_ee 1; 1 exploring" in table and "fastest predicted: 120 ms" in table
    fixed = BagSummary(label="sd", mode="sd", requests=[], rounds=[_round(1, "sd", requested_mode="sd")])
    assert format_choices([fixed]) == ""  # a fixed mode's bag has no choices to show
