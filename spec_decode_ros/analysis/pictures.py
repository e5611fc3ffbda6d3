"""The report's per-episode pictures: a top-down map (objects, goal radius, the robot's path from
odometry, where each command started) and a strip of the camera frames with the answer each one got."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Circle, Rectangle

from spec_decode_ros.analysis.episodes import CommandStart, EpisodeView
from spec_decode_ros.sim.scene import COLORS, NOSE_OFFSET, SUCCESS_DISTANCE

MAX_FRAMES = 12  # frames per camera strip (the first ones)
PER_ROW = 6


def _command_labels(starts: list[CommandStart], radius_m: float = 0.05) -> list[tuple[str, tuple[float, float]]]:
    """One label per run of consecutive commands that started at about the same spot (turns in place)."""
    groups: list[list[tuple[int, CommandStart]]] = []
    for n, c in enumerate(starts, 1):
        if groups and math.dist(groups[-1][0][1].pose[:2], c.pose[:2]) <= radius_m:
            groups[-1].append((n, c))
        else:
            groups.append([(n, c)])
    labels = []
    for group in groups:
        first, last = group[0][0], group[-1][0]
        texts = list(dict.fromkeys(c.text for _, c in group))
        what = ", ".join(texts[:2]) + (", ..." if len(texts) > 2 else "")
        labels.append((f"{first} {what}" if first == last else f"{first}-{last}: {what}", group[0][1].pose[:2]))
    return labels


def plot_episode_map(view: EpisodeView, path: Path) -> Path:
    """Top-down map of one episode in the odometry frame (the fake Go2's world frame)."""
    fig, ax = plt.subplots(figsize=(5.6, 5.6))
    layout = view.info.get("layout") or {}
    landmarks = layout.get("landmarks", [])
    target = layout.get("target")
    for i, lm in enumerate(landmarks):
        colour, half = COLORS.get(lm["color"], (0.5, 0.5, 0.5)), lm["size"] / 2
        if lm["shape"] == "box":
            patch = Rectangle((lm["x"] - half, lm["y"] - half), lm["size"], lm["size"], color=colour, alpha=0.85)
        else:
            patch = Circle((lm["x"], lm["y"]), half, color=colour, alpha=0.85)
        ax.add_patch(patch)
        ax.annotate(f"{lm['color']} {lm['shape']}", (lm["x"], lm["y"] - half - 0.12), ha="center", va="top",
                    fontsize=7)
        if i == target:  # success: the nose within SUCCESS_DISTANCE of the footprint
            ax.add_patch(Circle((lm["x"], lm["y"]), half + SUCCESS_DISTANCE, fill=False, ls="--", color="black",
                                label=f"goal: nose within {SUCCESS_DISTANCE} m"))
    if view.path:
        xs, ys = [p[1] for p in view.path], [p[2] for p in view.path]
        ax.plot(xs, ys, color="#333333", lw=1.5, label="path (odometry)")
        ax.plot(xs[0], ys[0], "o", color="#2ca02c", ms=7, label="start")
        _, x, y, yaw = view.path[-1]
        ax.arrow(x, y, NOSE_OFFSET * math.cos(yaw), NOSE_OFFSET * math.sin(yaw), width=0.03, color="#d62728",
                 length_includes_head=True, label="end (heading)")
    starts = [c for c in view.commands if c.pose is not None]
    if starts:
        ax.plot([c.pose[0] for c in starts], [c.pose[1] for c in starts], "x", color="#1f77b4", ms=7,
                label="command started")
        for label, xy in _command_labels(starts):
            ax.annotate(label, xy, xytext=(4, 4), textcoords="offset points", fontsize=6, color="#1f77b4")
    ax.set_aspect("equal")
    ax.autoscale_view()
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    pad = 0.4
    ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(y0 - pad, y1 + pad)
    ax.set_xlabel("x (m, odom)")
    ax.set_ylabel("y (m, odom)")
    outcome = view.info.get("success")
    suffix = "" if outcome is None else (" - reached" if outcome else " - missed") + \
        f" ({view.info.get('distance_m', float('nan')):.2f} m)"
    ax.set_title(textwrap.fill(view.title + suffix, 60), fontsize=8)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_camera_strip(view: EpisodeView, path: Path) -> Path | None:
    """The camera frames that prompted the episode's answers, each captioned with its answer;
    None when the bag holds no frame of this episode."""
    answers = [a for a in view.answers if a.frame is not None][:MAX_FRAMES]
    if not answers:
        return None
    cols = min(len(answers), PER_ROW)
    rows = math.ceil(len(answers) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.5 * rows + 0.3), squeeze=False)
    for ax in axes.flat[len(answers):]:
        ax.axis("off")
    for n, (ax, answer) in enumerate(zip(axes.flat, answers, strict=False), 1):
        ax.imshow(answer.frame)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{n}", fontsize=8)
        ax.set_xlabel(textwrap.fill(answer.text or "(no answer)", 22), fontsize=7)
    shown = len(answers) if len(answers) == len(view.answers) else f"the first {len(answers)} of {len(view.answers)}"
    fig.suptitle(textwrap.fill(f"{view.title}: {shown} answers and their frames", 110), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
