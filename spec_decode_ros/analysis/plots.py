"""PNG plots for the latency report: a per-round timeline, per-hop latency distributions and the first
command's timeline, one series per bag so that several modes compare side by side."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from spec_decode_ros.analysis.first_command import PREFIX, SEGMENTS
from spec_decode_ros.analysis.latency import HOPS, BagSummary


def plot_round_timeline(summaries: list[BagSummary], path: Path) -> Path:
    """Stacked bars per round: drafting, waiting for EARLY, and EARLY→FINAL, per bag."""
    fig, axes = plt.subplots(len(summaries), 1, figsize=(10, 2.6 * len(summaries)), squeeze=False)
    for ax, s in zip(axes[:, 0], summaries, strict=True):
        rounds = s.rounds[:200]
        x = range(len(rounds))
        draft = [r["draft_ms"] for r in rounds]
        early = [r["early_ms"] if r["early_exit_sent"] else 0.0 for r in rounds]
        rest = [max(r["verify_ms"] - e, 0.0) for r, e in zip(rounds, early, strict=True)]
        ax.bar(x, draft, color="#4c72b0", label="draft (robot)")
        ax.bar(x, early, bottom=draft, color="#dd8452", label="DRAFT→EARLY")
        ax.bar(x, rest, bottom=[a + b for a, b in zip(draft, early, strict=True)], color="#55a868",
               label="→FINAL")
        hits = [i for i, r in enumerate(rounds) if r["early_exit_hit"]]
        if hits:
            top = [draft[i] + early[i] + rest[i] for i in hits]
            ax.scatter(hits, top, marker="v", color="black", s=12, label="early-exit hit")
        ax.set_title(f"{s.label} ({s.mode})", fontsize=9)
        ax.set_ylabel("ms")
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("round")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency_distribution(summaries: list[BagSummary], path: Path) -> Path:
    """Box plots of each hop's latency, bags side by side."""
    fig, axes = plt.subplots(1, len(HOPS), figsize=(3.2 * len(HOPS), 3.6), squeeze=False)
    for ax, hop in zip(axes[0], HOPS, strict=True):
        data = [[t.hops_ms()[hop] for t in s.requests if hop in t.hops_ms()] for s in summaries]
        ax.boxplot([d if d else [float("nan")] for d in data], showfliers=True)
        ax.set_xticks(range(1, len(summaries) + 1), [s.label for s in summaries], rotation=20, fontsize=7)
        ax.set_title(hop.replace("_", " "), fontsize=9)
        ax.set_ylabel("ms")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_first_command_timeline(summaries: list[BagSummary], path: Path) -> Path:
    """One stacked horizontal bar per bag: the median of each segment from capture to the first Move, one colour
    per segment, and a black mark at the measured capture -> Move median (segments below 0 are drawn as 0)."""
    fig, ax = plt.subplots(figsize=(10, 1.4 + 0.6 * len(summaries)))
    colours = plt.get_cmap("tab10")
    for y, s in enumerate(summaries):
        left = 0.0
        for i, (key, label) in enumerate(SEGMENTS):
            width = s.figures.get(f"{PREFIX}{key}_ms_median", float("nan"))
            width = max(width, 0.0) if width == width else 0.0  # NaN (no timeline) draws nothing
            ax.barh(y, width, left=left, height=0.6, color=colours(i), label=label if y == 0 else None)
            left += width
        measured = s.figures.get(f"{PREFIX}capture_to_move_ms_median", float("nan"))
        ax.plot([measured], [y], marker="|", color="black", markersize=18, mew=2,
                label="capture -> Move (measured median)" if y == 0 else None)
    names = [s.label if s.label == s.mode else f"{s.label} ({s.mode})" for s in summaries]
    ax.set_yticks(range(len(summaries)), names, fontsize=8)
    ax.set_ylim(len(summaries) - 0.4, -0.6)
    ax.set_xlabel("ms from the camera frame (median of each segment)")
    ax.set_title("first command timeline", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
