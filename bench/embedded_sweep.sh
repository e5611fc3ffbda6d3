#!/usr/bin/env bash
# Edge-cloud benchmark of the embedded Go2 VLM pair: every mode at RTT 40/80/120 ms, with the target's own
# CPU cost and with an emulated large-target forward (--emulate-forward-ms), then 1/2/4/8 robots batched vs
# unbatched. Robot on CPU 0, cloud on CPU 1. Results: bench/bridge_results/embedded_*.json (+ .txt tables).
# Usage: bash bench/embedded_sweep.sh [prompts] [emulated forward ms]
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPTS=${1:-24}
FWD=${2:-30}
OUT=bench/bridge_results
T=spec_decode_ros/assets/models/go2-vlm-target
D=spec_decode_ros/assets/models/go2-vlm-draft
BENCH=(.venv/bin/spec-decode bench --target "$T" --draft "$D" --sim-prompts --gamma 4)
mkdir -p "$OUT"
for rtt in 40 80 120; do
  "${BENCH[@]}" --prompts "$PROMPTS" --rtt-ms "$rtt" --json "$OUT/embedded_modes_rtt${rtt}.json" \
    | tee "$OUT/embedded_modes_rtt${rtt}.txt"
  "${BENCH[@]}" --prompts "$PROMPTS" --rtt-ms "$rtt" --emulate-forward-ms "$FWD" \
    --json "$OUT/embedded_modes_rtt${rtt}_fwd${FWD}.json" | tee "$OUT/embedded_modes_rtt${rtt}_fwd${FWD}.txt"
done
for fwd in 0 "$FWD"; do
  "${BENCH[@]}" --prompts 8 --rtt-ms 80 --emulate-forward-ms "$fwd" --robots 1,2,4,8 --robot-mode sd_ee_predraft \
    --max-wait-ms 5 --latency-target-ms 100 --json "$OUT/embedded_robots_rtt80_fwd${fwd}.json" \
    | tee "$OUT/embedded_robots_rtt80_fwd${fwd}.txt"
done
