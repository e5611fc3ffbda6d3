"""Per-hop latency and decoding figures of one bag: image capture → first token → first command →
Move call, matched by the camera frame's stamp (``image_stamp``) that every hop carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median
from typing import Any

from spec_decode_ros import topics
from spec_decode_ros.analysis.bag import BagData, stamp_ns
from spec_decode_ros.analysis.first_command import timeline_figures
from spec_decode_ros.analysis.stats import percentile

TIMELINE_FIELDS = ("sent_ms", "draft_prefill_ms", "prefill_ms", "queued_ms")  # DecodeStats, for the timeline
HOPS = ("capture_to_first_token", "first_token_to_first_command", "first_command_to_move", "capture_to_move")


@dataclass
class RequestTimeline:
    """Event times (ns, robot clock) of one decoding request, keyed by its camera frame stamp."""

    image_ns: int
    request_id: int = -1
    first_token_ns: int | None = None
    last_token_ns: int | None = None
    tokens: int = 0
    first_command_ns: int | None = None
    first_move_ns: int | None = None

    def hops_ms(self) -> dict[str, float]:
        out: dict[str, float] = {}
        pairs = {
            "capture_to_first_token": (self.image_ns, self.first_token_ns),
            "first_token_to_first_command": (self.first_token_ns, self.first_command_ns),
            "first_command_to_move": (self.first_command_ns, self.first_move_ns),
            "capture_to_move": (self.image_ns, self.first_move_ns),
        }
        for name, (a, b) in pairs.items():
            if a is not None and b is not None:
                out[name] = (b - a) / 1e6
        return out


@dataclass
class BagSummary:
    """What the report prints for one bag."""

    label: str
    mode: str
    requests: list[RequestTimeline] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)  # one per DecodeStats message
    figures: dict[str, float] = field(default_factory=dict)


def summarize(bag: BagData, label: str | None = None) -> BagSummary:
    """Match hops by image stamp and compute the figures of one bag."""
    by_image: dict[int, RequestTimeline] = {}

    def timeline(image_stamp: Any) -> RequestTimeline:
        key = stamp_ns(image_stamp)
        return by_image.setdefault(key, RequestTimeline(image_ns=key))

    for _, msg in bag.messages(topics.TOKENS):
        t = timeline(msg.image_stamp)
        now = stamp_ns(msg.header.stamp)
        t.request_id = int(msg.request_id)
        t.tokens += len(msg.token_ids)
        t.first_token_ns = now if t.first_token_ns is None else min(t.first_token_ns, now)
        t.last_token_ns = now if t.last_token_ns is None else max(t.last_token_ns, now)
    for _, msg in bag.messages(topics.MOTION):
        t = timeline(msg.image_stamp)
        now = stamp_ns(msg.header.stamp)
        t.first_command_ns = now if t.first_command_ns is None else min(t.first_command_ns, now)
    for _, msg in bag.messages(topics.EXECUTED):
        t = timeline(msg.image_stamp)
        now = stamp_ns(msg.header.stamp)
        t.first_move_ns = now if t.first_move_ns is None else min(t.first_move_ns, now)

    rounds = []
    for _, msg in bag.messages(topics.STATS):
        rounds.append({name: getattr(msg, name) for name in (
            "request_id", "mode", "round", "draft_tokens", "accepted_tokens", "early_exit_sent", "early_exit_hit",
            "draft_ms", "early_ms", "verify_ms", "server_ms", "round_ms")}
            | {name: getattr(msg, name, 0.0) for name in TIMELINE_FIELDS}  # absent in a bag from before them
            | {name: getattr(msg, name, default) for name, default in CHOICE_FIELDS.items()}
            | {"t_ns": stamp_ns(msg.header.stamp)}
            | {f"{name}_ns": stamp_ns(getattr(msg, f"{name}_stamp")) if hasattr(msg, f"{name}_stamp") else 0
               for name in ("image", "request")})
    modes = sorted({r["mode"] for r in rounds})
    summary = BagSummary(label=label or bag.path.name, mode=",".join(modes) or "unknown",
                         requests=sorted((t for t in by_image.values() if t.tokens), key=lambda t: t.image_ns),
                         rounds=rounds)
    summary.figures = _figures(summary)
    return summary


CHOICE_FIELDS: dict[str, Any] = {  # DecodeStats' mode-auto fields (absent in a bag from before them)
    "requested_mode": "", "gamma": 0, "explore": False, "why": "", "predicted_ms": 0.0, "predicted_cloud_ar_ms": 0.0,
    "predicted_sd_ms": 0.0, "predicted_sd_ee_ms": 0.0, "predicted_sd_ee_predraft_ms": 0.0, "est_rtt_ms": 0.0,
    "est_verify_ms": 0.0, "est_ar_interval_ms": 0.0, "est_draft_token_ms": 0.0, "est_acceptance": 0.0,
    "est_early_hit_rate": 0.0, "est_late_fraction": 0.0, "est_answer_tokens": 0.0}


def _figures(s: BagSummary) -> dict[str, float]:
    fig: dict[str, float] = {"requests": float(len(s.requests)), "rounds": float(len(s.rounds))}
    for hop in HOPS:
        values = [v for t in s.requests for k, v in t.hops_ms().items() if k == hop]
        fig[f"{hop}_ms_median"] = median(values) if values else float("nan")
        fig[f"{hop}_ms_p90"] = percentile(values, 0.9)
    tokens = sum(t.tokens for t in s.requests)
    decode_s = sum((t.last_token_ns - t.image_ns) / 1e9 for t in s.requests if t.last_token_ns is not None)
    fig["tokens"] = float(tokens)
    fig["tokens_per_s"] = tokens / decode_s if decode_s > 0 else float("nan")
    drafted = sum(r["draft_tokens"] for r in s.rounds)
    accepted = sum(r["accepted_tokens"] for r in s.rounds)
    drafts = sum(1 for r in s.rounds if r["draft_tokens"] > 0)
    sent = [r for r in s.rounds if r["early_exit_sent"]]
    fig["acceptance_rate"] = accepted / drafted if drafted else float("nan")
    fig["mean_acceptance_length"] = 1 + accepted / drafts if drafts else float("nan")
    fig["early_hit_rate"] = sum(r["early_exit_hit"] for r in sent) / len(sent) if sent else float("nan")
    fig["round_ms_median"] = median([r["round_ms"] for r in s.rounds]) if s.rounds else float("nan")
    return fig | timeline_figures(s.requests, s.rounds)
