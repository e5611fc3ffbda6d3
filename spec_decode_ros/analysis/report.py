"""``spec-decode report BAG...``: per-hop latency, tokens/s, acceptance and early-exit hit rate of
recorded runs, and the first command's timeline (``analysis.first_command``), printed as tables (bags side by
side) and drawn as PNG plots; per episode a top-down map and a camera strip (``analysis.pictures``);
everything on one ``report.html`` beside the PNGs."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

from spec_decode_ros import topics
from spec_decode_ros.analysis.bag import read_bag
from spec_decode_ros.analysis.episodes import episode_views, load_episodes
from spec_decode_ros.analysis.first_command import PREFIX, SEGMENTS
from spec_decode_ros.analysis.html import write_html
from spec_decode_ros.analysis.latency import HOPS, BagSummary, summarize
from spec_decode_ros.analysis.mode_choices import answer_choices, format_choices
from spec_decode_ros.analysis.plots import plot_first_command_timeline, plot_latency_distribution, plot_round_timeline

ROWS = [(f"{hop}_ms_median", f"{hop.replace('_', ' ')} (ms, median)") for hop in HOPS] + [
    ("capture_to_move_ms_p90", "capture to move (ms, p90)"),
    ("tokens_per_s", "tokens/s"),
    ("acceptance_rate", "acceptance rate"),
    ("mean_acceptance_length", "mean acceptance length"),
    ("early_hit_rate", "early-exit hit rate"),
    ("round_ms_median", "round (ms, median)"),
    ("requests", "requests"),
    ("tokens", "tokens"),
]
TIMELINE_ROWS = [(f"{PREFIX}{key}_ms_median", label) for key, label in SEGMENTS] + [
    (f"{PREFIX}sum_ms", "sum of the medians"),
    (f"{PREFIX}capture_to_move_ms_median", "capture -> Move (measured median)"),
    (f"{PREFIX}sum_of_means_ms", "sum of the means"),
    (f"{PREFIX}capture_to_move_ms_mean", "capture -> Move (measured mean)"),
    (f"{PREFIX}requests", "requests with a whole timeline"),
]


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "-"
    return f"{v:.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.3g}"


def format_table(summaries: list[BagSummary], rows_of: list[tuple[str, str]] = ROWS, title: str = "") -> str:
    """``rows_of`` (figure key, label) as rows, one column per bag."""
    header = [title, *[f"{s.label} [{s.mode}]" for s in summaries]]
    rows = [[label, *[_fmt(s.figures.get(key, float("nan"))) for s in summaries]] for key, label in rows_of]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [header, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def episode_pictures(bag: Path, label: str, out_dir: Path) -> list[dict]:
    """Map and camera strip of each episode of ``bag`` (the episodes from ``episodes.json`` beside it)."""
    from spec_decode_ros.analysis.pictures import plot_camera_strip, plot_episode_map

    wanted = {topics.ODOM, topics.TOKENS, topics.EXECUTED, topics.CAMERA_JPEG, topics.CAMERA_IMAGE}
    views = episode_views(read_bag(bag, wanted, keep_pixels=True), load_episodes(bag))
    out = []
    for i, view in enumerate(views, 1):
        stem = re.sub(r"[^\w.-]", "_", label) + f"_episode{i:02d}"
        info = view.info
        outcome = "" if "success" not in info else (
            f"{'reached' if info['success'] else 'missed'}: {info['distance_m']:.2f} m from the target, "
            f"{info['steps']} answers, {info['seconds']:.0f} s")
        out.append({"title": view.title, "outcome": outcome,
                    "map": plot_episode_map(view, out_dir / f"{stem}_map.png"),
                    "camera": plot_camera_strip(view, out_dir / f"{stem}_camera.png")})
    return out


def build_report(bags: list[Path], out_dir: Path, labels: list[str] | None = None) -> dict:
    """Summarize bags, write plots and a JSON summary into ``out_dir``; return the JSON content."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = {topics.TOKENS, topics.MOTION, topics.EXECUTED, topics.STATS}
    summaries = [summarize(read_bag(b, wanted), (labels or [])[i] if labels and i < len(labels) else None)
                 for i, b in enumerate(bags)]
    timeline = plot_round_timeline(summaries, out_dir / "round_timeline.png")
    latency = plot_latency_distribution(summaries, out_dir / "latency_distribution.png")
    first = plot_first_command_timeline(summaries, out_dir / "first_command_timeline.png")
    episodes = {s.label: episode_pictures(b, s.label, out_dir) for s, b in zip(summaries, bags, strict=True)}
    table = format_table(summaries)
    first_table = format_table(summaries, TIMELINE_ROWS, "first command timeline (ms, median)")
    choices = format_choices(summaries)
    page = write_html(out_dir, table + (f"\n\n{choices}" if choices else ""), [timeline, latency], episodes,
                      timeline=(first_table, first))
    content = {
        "bags": {s.label: {"path": str(b), "mode": s.mode, "figures": s.figures} for s, b in
                 zip(summaries, bags, strict=True)},
        "plots": [str(timeline), str(latency), str(first)],
        "episodes": {label: [{k: str(v) if isinstance(v, Path) else v for k, v in ep.items()} for ep in eps]
                     for label, eps in episodes.items()},
        "html": str(page),
        "table": table,
        "first_command_table": first_table,
        "mode_choices": {s.label: answer_choices(s) for s in summaries},
        "mode_choices_table": choices,
    }
    (out_dir / "report.json").write_text(json.dumps(content, indent=2, default=float))
    (out_dir / "report.txt").write_text(content["table"] + "\n\n" + first_table + "\n" +
                                        (f"\n{choices}\n" if choices else ""))
    return content


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="spec-decode report", description=__doc__)
    parser.add_argument("bags", nargs="+", type=Path, help="rosbag2 directories (MCAP or sqlite3)")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: <first bag>_report)")
    parser.add_argument("--labels", default=None, help="comma-separated labels, one per bag")
    args = parser.parse_args(argv)
    for bag in args.bags:
        if not bag.exists():
            parser.error(f"no bag at {bag}")
    out = args.out or args.bags[0].with_name(args.bags[0].name + "_report")
    content = build_report(args.bags, out, args.labels.split(",") if args.labels else None)
    print(content["table"] + "\n\n" + content["first_command_table"])
    if content["mode_choices_table"]:
        print("\n" + content["mode_choices_table"])
    print(f"\nplots: {', '.join(content['plots'])}\nsummary: {out / 'report.json'}\npage: {content['html']}")
    return 0
