"""Tabulate ``bench/dtype_cpu.sh`` results: ms/token of each mode in float32 and bfloat16, side by side.

Usage: ``.venv/bin/python bench/summarize_dtype.py [results folder] [pair]`` (default: bench/results, embedded).
With several rounds per precision, a figure is the total time over the total tokens of all rounds: wall-clock ms/token and
the process's CPU ms/token (the work's own cost; on a shared machine the wall clock also counts waiting for a core).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

DTYPES = ("float32", "bfloat16")


def table(folder: Path, pair: str = "embedded") -> list[str]:
    totals: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0, 0.0]))
    lossless: dict[str, bool] = {}
    rounds: dict[str, int] = defaultdict(int)
    for path in sorted(folder.glob(f"dtype_{pair}_*_*.json")):
        data = json.loads(path.read_text())
        rounds[data["dtype"]] += 1
        for row in data["rows"]:
            acc = totals[row["mode"]][data["dtype"]]
            acc[0] += row["seconds"]
            acc[1] += row["tokens"]
            acc[2] += row.get("cpu_seconds", float("nan"))
            if row["lossless"] is not None:
                lossless[data["dtype"]] = lossless.get(data["dtype"], True) and row["lossless"]
    if not totals:
        raise SystemExit(f"no dtype_{pair}_*.json in {folder}: run bash bench/dtype_cpu.sh")
    rows = ["| mode | " + " | ".join(f"{d} {kind}" for kind in ("ms/token", "CPU ms/token") for d in DTYPES) +
            " | bfloat16 / float32 (wall, CPU) |", "|---" * 6 + "|"]
    for mode, by_dtype in totals.items():
        ms = {d: 1000.0 * s / n if n else float("nan") for d, (s, n, _) in by_dtype.items()}
        cpu = {d: 1000.0 * c / n if n else float("nan") for d, (_, n, c) in by_dtype.items()}
        cells = [f"{fig[d]:.2f}" if d in fig else "-" for fig in (ms, cpu) for d in DTYPES]
        ratios = [f"{fig['bfloat16'] / fig['float32']:.2f}×" if all(d in fig for d in DTYPES) else "-"
                  for fig in (ms, cpu)]
        rows.append(f"| {mode} | " + " | ".join(cells) + f" | {ratios[0]}, {ratios[1]} |")
    rows.append("")
    rows.append("rounds: " + ", ".join(f"{d} {rounds[d]}" for d in DTYPES) + "; speculative output identical to the "
                "same-precision target: " + ", ".join(f"{d} {lossless.get(d)}" for d in DTYPES))
    return rows


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results"
    print("\n".join(table(folder, sys.argv[2] if len(sys.argv) > 2 else "embedded")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
