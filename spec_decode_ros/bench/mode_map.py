"""``spec-decode bench-sweep``: the map of the regimes. ``spec-decode bench`` at every point of a grid of round trip
× target forward × draft speed, every fixed lossless mode and ``auto`` side by side, the cost model's prediction
beside each measured figure; one JSON summary and one plot (for my link and my models: which mode, how much faster
than cloud_ar).

    spec-decode bench-sweep --rtts 5,40,80,160 --forwards 0,30,100 --drafts 0,20 --prompts 24 \\
        --out bench/bridge_results/mode_map

A forward or draft of 0 is the models' real cost on this machine; otherwise it is emulated (``--emulate-forward-ms``,
``--emulate-draft-ms``). Each point is written to ``OUT_rtt{R}_fwd{F}_draft{D}.json`` as soon as it is measured and is
not measured again when that file exists (a sweep stopped halfway resumes), then ``OUT.json`` and ``OUT.png`` summarise
all points found.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from spec_decode_ros.bench import modes as bench
from spec_decode_ros.bench.mode_check import predictions
from spec_decode_ros.bench.workload import summarize as summarize_mode
from spec_decode_ros.decoding.mode_choice import OBJECTIVES

FIXED = ("cloud_ar", "sd", "sd_ee", "sd_ee_predraft")
COLUMNS = (*FIXED, "auto")
FIGURES = ("ms_per_token", "first_command_s", "answer_s")


def _numbers(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def point_path(out: Path, rtt: float, fwd: float, draft: float) -> Path:
    return out.with_name(f"{out.name}_rtt{rtt:g}_fwd{fwd:g}_draft{draft:g}.json")


def point_summary(data: dict[str, Any]) -> dict[str, Any]:
    """One point: per mode the measured and predicted figures (the predictions recomputed from the saved records
    with the cost model as it is now); the best fixed mode per figure; auto against it."""
    runs, cfg = data["runs"], data["config"]
    for record, predicted in zip(runs, predictions(runs), strict=True):
        record.update(predicted)
    modes = {mode: summarize_mode(runs, mode) for mode in data["modes"]}
    row: dict[str, Any] = {"rtt_ms": cfg["rtt_ms"], "forward_ms": cfg.get("emulate_forward_ms", 0.0),
                           "draft_ms": cfg.get("emulate_draft_ms", 0.0), "gamma": cfg["gamma"],
                           "target": cfg["target"], "prompts": cfg["prompts"], "modes": {}}
    for mode in COLUMNS:
        if mode not in modes:
            continue
        m = modes[mode]
        row["modes"][mode] = {**{f: m.get(f) for f in FIGURES}, **{f"predicted_{f}": m.get(f"predicted_{f}")
                                                                    for f in FIGURES},
                              "identical_to_target": m.get("identical_to_target"), "chosen": m.get("chosen"),
                              "explore_answers": m.get("explore_answers", 0)}
    for f in FIGURES:
        fixed = {k: v[f] for k, v in row["modes"].items() if k in FIXED and v.get(f)}
        if not fixed:
            continue
        best = min(fixed, key=fixed.__getitem__)
        row[f"best_fixed_{f}"] = best
        auto = row["modes"].get("auto", {}).get(f)
        row[f"auto_vs_best_{f}"] = auto / fixed[best] if auto else None
        base = fixed.get("cloud_ar")
        row[f"best_speedup_vs_cloud_ar_{f}"] = base / fixed[best] if base else None
        row[f"auto_speedup_vs_cloud_ar_{f}"] = base / auto if base and auto else None
    errors = [abs(v[f"predicted_{f}"] / v[f] - 1.0) for v in row["modes"].values() for f in FIGURES
              if v.get(f) and v.get(f"predicted_{f}")]
    row["model_max_error"] = max(errors) if errors else None
    row["identical"] = all(v["identical_to_target"] == 1.0 for v in row["modes"].values()
                           if v["identical_to_target"] is not None)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per point, ms/token (predicted) and first command (predicted) of each mode; auto vs the best."""
    head = ("| RTT ms | forward | draft | " + " | ".join(COLUMNS) +
            " | best fixed | auto / best (ms/tok, 1st cmd) | best vs cloud_ar | model max err | identical |")
    lines = [head, "|---" * (len(COLUMNS) + 8) + "|"]
    for r in rows:
        cells = []
        for mode in COLUMNS:
            m = r["modes"].get(mode)
            if m is None or not m.get("ms_per_token"):
                cells.append("-")
                continue
            pm, fc, pfc = m.get("predicted_ms_per_token"), m.get("first_command_s"), m.get("predicted_first_command_s")
            cells.append(f"{m['ms_per_token']:.0f} ({pm:.0f}) ms, " if pm else f"{m['ms_per_token']:.0f} ms, ")
            cells[-1] += (f"{1000 * fc:.0f} ({1000 * pfc:.0f})" if fc and pfc else (f"{1000 * fc:.0f}" if fc else "-"))
        lines.append(
            f"| {r['rtt_ms']:g} | {r['forward_ms'] or 'real'} | {r['draft_ms'] or 'real'} | " + " | ".join(cells) +
            f" | {r.get('best_fixed_ms_per_token', '-')} | {_f(r.get('auto_vs_best_ms_per_token'))}, "
            f"{_f(r.get('auto_vs_best_first_command_s'))} | {_f(r.get('best_speedup_vs_cloud_ar_ms_per_token'))}x "
            f"| {_f(r.get('model_max_error'))} | {r['identical']} |")
    return "\n".join(lines)


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """Per draft speed, a grid RTT × target forward: the fastest fixed mode (ms/token), its speed-up over cloud_ar
    (colour) and what auto picked and got."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drafts = sorted({r["draft_ms"] for r in rows})
    rtts = sorted({r["rtt_ms"] for r in rows})
    fwds = sorted({r["forward_ms"] for r in rows})
    fig, axes = plt.subplots(1, len(drafts), figsize=(6.4 * len(drafts), 1.8 + 1.3 * len(fwds)), squeeze=False)
    for ax, draft in zip(axes[0], drafts, strict=True):
        grid = [[float("nan")] * len(rtts) for _ in fwds]
        for r in rows:
            if r["draft_ms"] != draft:
                continue
            i, j = fwds.index(r["forward_ms"]), rtts.index(r["rtt_ms"])
            speed = r.get("best_speedup_vs_cloud_ar_ms_per_token") or float("nan")
            grid[i][j] = speed
            auto = r.get("auto_speedup_vs_cloud_ar_ms_per_token")
            first = r.get("auto_vs_best_first_command_s")
            ax.text(j, i, f"{r.get('best_fixed_ms_per_token', '?')}\n{speed:.2f}x"
                          + (f"\nauto {auto:.2f}x" if auto else "")
                          + (f"\nauto 1st cmd {first:.2f}" if first else ""), ha="center", va="center", fontsize=7)
        image = ax.imshow(grid, cmap="RdYlGn", vmin=0.5, vmax=1.5, aspect="auto")
        ax.set_xticks(range(len(rtts)), [f"{x:g}" for x in rtts])
        ax.set_yticks(range(len(fwds)), [f"{x:g} ms" if x else "real" for x in fwds])
        ax.set_xlabel("round trip (ms)")
        ax.set_ylabel("target forward")
        ax.set_title(f"draft {draft:g} ms/token" if draft else "draft: real cost")
        fig.colorbar(image, ax=ax, label="fastest mode vs cloud_ar (ms/token)")
    fig.suptitle("Which mode is fastest (ms/token), and how much faster than cloud_ar; "
                 "auto's first command against the best fixed mode's")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summarize(out: Path) -> dict[str, Any]:
    rows = [point_summary(json.loads(p.read_text())) for p in sorted(out.parent.glob(f"{out.name}_rtt*.json"))]
    rows.sort(key=lambda r: (r["draft_ms"], r["forward_ms"], r["rtt_ms"]))
    summary = {"points": rows, "table": table(rows)}
    if rows:
        summary["plot"] = plot(rows, out.with_suffix(".png")).name
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="spec-decode bench-sweep", description=__doc__.split("\n")[0])
    ap.add_argument("--target", default="spec_decode_ros/assets/models/go2-vlm-target")
    ap.add_argument("--draft", default="spec_decode_ros/assets/models/go2-vlm-draft")
    ap.add_argument("--text-prompts", action="store_true", help="built-in text prompts (default: simulator frames)")
    ap.add_argument("--rtts", default="5,40,80,160", help="round trips, ms")
    ap.add_argument("--forwards", default="0,30,100", help="target forward, ms (0: real)")
    ap.add_argument("--drafts", default="0,20", help="draft time per token, ms (0: real)")
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--gamma", type=int, default=8, help="the fixed modes' γ (auto picks its own)")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--auto-objective", default="balanced", choices=OBJECTIVES, help="what fastest means to auto")
    ap.add_argument("--out", type=Path, default=Path("bench/bridge_results/mode_map"), help="file stem of results")
    ap.add_argument("--summarize-only", action="store_true", help="only rebuild OUT.json and OUT.png")
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.summarize_only:
        for draft in _numbers(args.drafts):
            for fwd in _numbers(args.forwards):
                for rtt in _numbers(args.rtts):
                    path = point_path(args.out, rtt, fwd, draft)
                    if path.exists():
                        continue
                    print(f"== RTT {rtt:g} ms, forward {fwd or 'real'}, draft {draft or 'real'}", flush=True)
                    code = bench.main(["--target", args.target, "--draft", args.draft, "--prompts", str(args.prompts),
                                       *([] if args.text_prompts else ["--sim-prompts"]),
                                       "--modes", ",".join(COLUMNS), "--gamma", str(args.gamma),
                                       "--max-new-tokens", str(args.max_new_tokens), "--rtt-ms", str(rtt),
                                       "--auto-objective", args.auto_objective,
                                       "--emulate-forward-ms", str(fwd), "--emulate-draft-ms", str(draft),
                                       "--json", str(path)])
                    if code:
                        return code
    summary = summarize(args.out)
    print(summary["table"])
    return 0
