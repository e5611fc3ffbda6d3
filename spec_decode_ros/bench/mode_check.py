"""The cost model against the benchmark: from a run's own records (every fixed mode's answers, their rounds and
where their commands completed), the estimates a robot would have (plain means, ``decoding.mode_estimates``) and,
for each record, what the cost model (``decoding.mode_cost``) predicts for it. ``spec-decode bench`` writes them
beside the measured figures; ``spec-decode bench-sweep`` recomputes them from the saved records."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from spec_decode_ros.decoding.mode import AUTO, Mode
from spec_decode_ros.decoding.mode_cost import until_s
from spec_decode_ros.decoding.mode_estimates import ModeEstimates

PREDICTED = ("predicted_latency_s", "predicted_first_command_s", "predicted_answer_s")


def observed_estimates(records: Sequence[dict[str, Any]]) -> ModeEstimates:
    """Plain-mean estimates over the fixed modes' records (auto's are left out: it is what is checked)."""
    est = ModeEstimates(smoothing=0.0)
    for r in records:
        mode = r.get("chosen_mode") or r["mode"]
        if r["mode"] == AUTO or mode not in Mode.__members__.values() or not Mode(mode).needs_cloud:
            continue
        est.observe_answer(Mode(mode), [SimpleNamespace(**e) for e in r.get("rounds", [])], len(r["tokens"]),
                           r["first_token_s"], r.get("first_command_tokens"))
    return est


def predictions(records: Sequence[dict[str, Any]]) -> list[dict[str, float | None]]:
    """Per record: the cost model's latency (all its tokens), first command and last command, in seconds."""
    costs = observed_estimates(records).costs()
    out = []
    for r in records:
        mode = Mode(r.get("chosen_mode") or r["mode"])
        if costs is None or not mode.needs_cloud or not r["tokens"]:
            out.append(dict.fromkeys(PREDICTED))
            continue
        gamma = r.get("gamma") or 0

        def at(upto: int | None, mode: Mode = mode, gamma: int = gamma, n: int = len(r["tokens"])) -> float | None:
            return None if upto is None else until_s(costs, mode, gamma, float(n), float(upto))

        out.append({"predicted_latency_s": at(len(r["tokens"])),
                    "predicted_first_command_s": at(r.get("first_command_tokens")),
                    "predicted_answer_s": at(r.get("last_command_tokens"))})
    return out
