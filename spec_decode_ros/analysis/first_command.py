"""The first command's timeline: camera frame → the Go2's first ``Move``, cut into segments that each come from
recorded stamps and fields (the ``DecodeStats`` of a request's first round, its first command, its Move call).

Per request, in ms, adding up to capture → Move::

    capture_to_request  image stamp -> request start on the robot (image transport, request gating)
    robot_prepare       request start -> first DRAFT sent, less the drafting below (image conversion, JPEG, OPEN)
    draft_prefill       the draft model's prompt prefill on the robot
    draft_block         drafting the first block (γ tokens)
    cloud_prefill       the cloud's prompt prefill, the part the robot's drafting did not hide
    cloud_queue         the first round's wait in the cloud's batching queue
    cloud_forward       the first verification forward
    network             the rest of DRAFT sent -> FINAL received: the link both ways, and what the cloud does
                        besides prefill, queue and forward (JPEG decode, framing)
    final_to_command    first FINAL received -> first complete command (the motion node; later rounds when the
                        first command needs more tokens than the first FINAL commits)
    command_to_move     first command -> the go2_bridge's Move call

The robot sends the OPEN right before its draft prefill, so OPEN sent -> DRAFT sent is taken as draft prefill +
first block, and the cloud's prefill hides behind that much of it. ``cloud_ar`` has no draft: its first round
runs from the OPEN, so robot_prepare ends at the OPEN, the prefill is never hidden and the first FINAL is the
first token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from statistics import fmean, median
from typing import Any

SEGMENTS: tuple[tuple[str, str], ...] = (
    ("capture_to_request", "capture -> request start"),
    ("robot_prepare", "robot: image, JPEG, OPEN"),
    ("draft_prefill", "robot: draft prefill"),
    ("draft_block", "robot: first block"),
    ("cloud_prefill", "cloud: prefill (not hidden)"),
    ("cloud_queue", "cloud: queue wait"),
    ("cloud_forward", "cloud: verification forward"),
    ("network", "network and the rest"),
    ("final_to_command", "first FINAL -> first command"),
    ("command_to_move", "command -> Move"),
)
PREFIX = "first_command_"  # of this module's keys in a bag's figures


def first_rounds(rounds: Iterable[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    """Each request's first round (the earliest by its stats stamp ``t_ns``), keyed by the camera frame stamp
    (``image_ns``); rounds without a request start (``request_ns`` 0: a bag from before these fields) are skipped."""
    out: dict[int, Mapping[str, Any]] = {}
    for r in sorted(rounds, key=lambda r: r["t_ns"]):
        if r.get("request_ns", 0) > 0:
            out.setdefault(int(r["image_ns"]), r)
    return out


def segments_ms(first: Mapping[str, Any], image_ns: int, command_ns: int, move_ns: int) -> dict[str, float]:
    """The segments of one request from its first round's stats, its first command's and Move's stamps (ns)."""
    request_ns = int(first["request_ns"])
    overlap = first["draft_prefill_ms"] + first["draft_ms"]  # OPEN sent -> DRAFT sent
    cloud_prefill = max(first["prefill_ms"] - overlap, 0.0)
    final_ns = request_ns + (first["sent_ms"] + first["verify_ms"]) * 1e6
    return {
        "capture_to_request": (request_ns - image_ns) / 1e6,
        "robot_prepare": first["sent_ms"] - overlap,
        "draft_prefill": first["draft_prefill_ms"],
        "draft_block": first["draft_ms"],
        "cloud_prefill": cloud_prefill,
        "cloud_queue": first["queued_ms"],
        "cloud_forward": first["server_ms"],
        "network": first["verify_ms"] - cloud_prefill - first["queued_ms"] - first["server_ms"],
        "final_to_command": (command_ns - final_ns) / 1e6,
        "command_to_move": (move_ns - command_ns) / 1e6,
    }


def timeline_figures(requests: Iterable[Any], rounds: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Median of each segment over the requests with a complete timeline (first round, command and Move), the
    sum of those medians, and the measured capture -> Move median of the same requests (``first_command_*``);
    medians of skewed segments need not add up, so the sum of the segments' means and the measured mean (equal,
    up to rounding) come too. ``requests``: ``latency.RequestTimeline``-like (``image_ns``, ``first_command_ns``,
    ``first_move_ns``)."""
    firsts = first_rounds(rounds)
    per_request, measured = [], []
    for t in requests:
        first = firsts.get(t.image_ns)
        if first is None or t.first_command_ns is None or t.first_move_ns is None:
            continue
        per_request.append(segments_ms(first, t.image_ns, t.first_command_ns, t.first_move_ns))
        measured.append((t.first_move_ns - t.image_ns) / 1e6)
    nan = float("nan")
    fig = {f"{PREFIX}{key}_ms_median": median(s[key] for s in per_request) if per_request else nan
           for key, _ in SEGMENTS}
    fig[f"{PREFIX}sum_ms"] = sum(fig[f"{PREFIX}{key}_ms_median"] for key, _ in SEGMENTS) if per_request else nan
    fig[f"{PREFIX}capture_to_move_ms_median"] = median(measured) if measured else nan
    fig[f"{PREFIX}sum_of_means_ms"] = sum(fmean(s[key] for s in per_request) for key, _ in SEGMENTS) if per_request else nan
    fig[f"{PREFIX}capture_to_move_ms_mean"] = fmean(measured) if measured else nan
    fig[f"{PREFIX}requests"] = float(len(per_request))
    return fig
