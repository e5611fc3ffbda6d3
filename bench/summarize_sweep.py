"""Tabulate ``bench/embedded_sweep.sh`` results: ms/token of every mode per setting, and the many-robot figures.

Usage: ``.venv/bin/python bench/summarize_sweep.py [results folder]`` (default: bench/bridge_results).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MODES = ("cloud_ar", "edge_only", "sd", "sd_ee", "sd_ee_predraft")


def modes_table(folder: Path) -> list[str]:
    rows = ["| setting | " + " | ".join(MODES) + " | sd_ee_predraft vs cloud_ar | vs sd | acceptance | early hit |"
            " cloud busy ms/token (cloud_ar / sd_ee_predraft) | identical to target (all but edge_only) |",
            "|---" * (len(MODES) + 7) + "|"]
    results = [json.loads(path.read_text()) for path in folder.glob("embedded_modes_*.json")]
    results.sort(key=lambda d: (d["config"]["rtt_ms"], d["config"].get("emulate_forward_ms", 0),
                                d["config"].get("emulate_draft_ms", 0), d["config"]["gamma"]))
    for data in results:
        m, cfg = data["modes"], data["config"]
        setting = (f"RTT {cfg['rtt_ms']:g} ms, forward {cfg.get('emulate_forward_ms', 0) or 'real'}"
                   f", draft {cfg.get('emulate_draft_ms', 0) or 'real'}, γ={cfg['gamma']}")
        ms = [f"{m[k]['ms_per_token']:.1f}" if k in m else "-" for k in MODES]
        full = m["sd_ee_predraft"]
        rows.append(f"| {setting} | " + " | ".join(ms) +
                    f" | {m['cloud_ar']['ms_per_token'] / full['ms_per_token']:.2f}x"
                    f" | {m['sd']['ms_per_token'] / full['ms_per_token']:.2f}x"
                    f" | {full['acceptance_rate']:.3f} | {full['early_hit_rate']:.3f}"
                    f" | {1000 * m['cloud_ar']['server_busy_s_per_token']:.1f} / {1000 * full['server_busy_s_per_token']:.1f}"
                    f" | {min(v['identical_to_target'] for k, v in m.items() if k != 'edge_only'):.2f} |")
    return rows


def robots_table(folder: Path) -> list[str]:
    rows = ["| setting | robots | batched tok/s | unbatched tok/s | gain | batched ms/token | unbatched ms/token |"
            " rows/forward (batched) |", "|---" * 8 + "|"]
    for path in sorted(folder.glob("embedded_robots_*.json")):
        data = json.loads(path.read_text())
        r, cfg = data["robots"], data["config"]
        setting = f"RTT {cfg['rtt_ms']:g} ms, forward {cfg.get('emulate_forward_ms', 0) or 'real'}"
        for n, gain in r["throughput_gain"].items():
            b, u = r["batched"][n], r["unbatched"][n]
            rows.append(f"| {setting} | {n} | {b['throughput_tok_s']:.1f} | {u['throughput_tok_s']:.1f} | {gain:.2f}x"
                        f" | {b['ms_per_token_mean']:.1f} | {u['ms_per_token_mean']:.1f}"
                        f" | {b['server_rows_per_forward']:.2f} |")
    return rows


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "bridge_results"
    print("\n".join(modes_table(folder)))
    print()
    print("\n".join(robots_table(folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
