#!/usr/bin/env bash
# Edge-cloud benchmark of the embedded Go2 VLM pair (robot on CPU 0, cloud on CPU 1, greedy, γ=4):
#   1. every mode at RTT 40/80/120 ms with the models' real CPU costs;
#   2. the same with an emulated large target (each cloud forward padded to FWD ms, as a GPU 7B VLM);
#   3. RTT 80 ms, a slow target (SLOW_FWD ms) and a Jetson-class robot (each drafted token padded to DRAFT ms),
#      at γ=4 and γ=2;
#   4. 1/2/4/8 robots against one cloud, batched vs unbatched verification, real costs and FWD ms.
# Results: bench/bridge_results/embedded_*.json and .txt; `python bench/summarize_sweep.py` tabulates them.
# Usage: bash bench/embedded_sweep.sh [prompts] [FWD ms] [SLOW_FWD ms] [DRAFT ms]
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPTS=${1:-24}
FWD=${2:-30}
SLOW_FWD=${3:-100}
DRAFT=${4:-20}
OUT=bench/bridge_results
T=spec_decode_ros/assets/models/go2-vlm-target
D=spec_decode_ros/assets/models/go2-vlm-draft
BENCH=(.venv/bin/spec-decode bench --target "$T" --draft "$D" --sim-prompts --gamma 4)
mkdir -p "$OUT"
run() {  # run NAME ARGS...: one bench invocation, table to NAME.txt, figures to NAME.json
  local name=$1; shift
  "${BENCH[@]}" "$@" --json "$OUT/$name.json" | tee "$OUT/$name.txt"
}
for rtt in 40 80 120; do
  run "embedded_modes_rtt${rtt}" --prompts "$PROMPTS" --rtt-ms "$rtt"
  run "embedded_modes_rtt${rtt}_fwd${FWD}" --prompts "$PROMPTS" --rtt-ms "$rtt" --emulate-forward-ms "$FWD"
done
run "embedded_modes_rtt80_fwd${SLOW_FWD}_draft${DRAFT}" --prompts "$PROMPTS" --rtt-ms 80 \
  --emulate-forward-ms "$SLOW_FWD" --emulate-draft-ms "$DRAFT"
run "embedded_modes_rtt80_fwd${SLOW_FWD}_draft${DRAFT}_gamma2" --prompts "$PROMPTS" --rtt-ms 80 \
  --emulate-forward-ms "$SLOW_FWD" --emulate-draft-ms "$DRAFT" --gamma 2  # the last --gamma wins
for fwd in 0 "$FWD"; do
  run "embedded_robots_rtt80_fwd${fwd}" --prompts 8 --rtt-ms 80 --emulate-forward-ms "$fwd" --robots 1,2,4,8 \
    --robot-mode sd_ee_predraft --max-wait-ms 5 --latency-target-ms 100
done
