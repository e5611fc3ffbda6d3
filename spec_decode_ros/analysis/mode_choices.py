"""Per answer, the mode it ran and why (``mode: auto``: the chooser's reason, its prediction and the estimates
behind it, from ``DecodeStats``), beside the answer's measured time: the report's "mode choices" table."""

from __future__ import annotations

from typing import Any

from spec_decode_ros.analysis.latency import BagSummary

COLUMNS = ("request", "mode", "γ", "explore", "predicted ms", "measured ms", "RTT ms", "verify ms", "draft ms/tok",
           "acceptance", "early hit", "why")


def answer_choices(summary: BagSummary) -> list[dict[str, Any]]:
    """One row per answer (request) of the bag, in order: its first round's choice fields and the request's
    measured time (request start -> its last FINAL)."""
    by_request: dict[int, list[dict[str, Any]]] = {}
    for r in summary.rounds:
        by_request.setdefault(int(r["request_id"]), []).append(r)
    out = []
    for request, rounds in sorted(by_request.items()):
        first = rounds[0]
        measured = max(r.get("sent_ms", 0.0) + r["verify_ms"] for r in rounds)
        out.append({"request": request, "requested_mode": first.get("requested_mode") or first["mode"],
                    "mode": first["mode"], "gamma": int(first.get("gamma", 0)), "explore": bool(first.get("explore")),
                    "why": first.get("why", ""), "predicted_ms": float(first.get("predicted_ms", 0.0)),
                    "measured_ms": float(measured), "rtt_ms": float(first.get("est_rtt_ms", 0.0)),
                    "verify_ms": float(first.get("est_verify_ms", 0.0)),
                    "draft_token_ms": float(first.get("est_draft_token_ms", 0.0)),
                    "acceptance": float(first.get("est_acceptance", 0.0)),
                    "early_hit_rate": float(first.get("est_early_hit_rate", 0.0))})
    return out


def format_choices(summaries: list[BagSummary]) -> str:
    """The table for every bag whose draft node ran ``mode: auto`` ("" when none did)."""
    blocks = []
    for s in summaries:
        rows = answer_choices(s)
        if not any(r["requested_mode"] == "auto" for r in rows):
            continue
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["mode"]] = counts.get(r["mode"], 0) + 1
        lines = [f"mode choices, {s.label} (mode auto: {', '.join(f'{m} {n}' for m, n in sorted(counts.items()))};"
                 f" {sum(r['explore'] for r in rows)} exploring)", " | ".join(COLUMNS)]
        for r in rows:
            lines.append(" | ".join([str(r["request"]), r["mode"], str(r["gamma"]), "yes" if r["explore"] else "",
                                     _ms(r["predicted_ms"]), _ms(r["measured_ms"]), _ms(r["rtt_ms"]),
                                     _ms(r["verify_ms"]), f"{r['draft_token_ms']:.1f}", f"{r['acceptance']:.2f}",
                                     f"{r['early_hit_rate']:.2f}", r["why"]]))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _ms(v: float) -> str:
    return f"{v:.0f}" if v else "-"
