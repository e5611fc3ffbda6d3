"""PNG plots for the latency report: a per-round timeline and per-hop latency distributions,
one series per bag so that several modes compare side by side."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

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
