#!/usr/bin/env bash
# What the robot feels, embedded Go2 VLM pair, γ=8, 12 held-out sim prompts, robot on CPU 0 and cloud on CPU 1:
# first_command_s / answer_s / ms/token of cloud_ar, sd and sd_ee_predraft side by side
#   1. at RTT 40, 80 and 120 ms with the target forward emulated at FWD ms (a large target on a GPU);
#   2. at RTT 80 ms with the models' real CPU costs.
# Results: bench/bridge_results/first_command_rtt{R}_fwd{FWD}_g8.{json,txt} and first_command_rtt80_realcost_g8.*
# Usage: bash bench/first_command_sweep.sh [FWD ms] [prompts]
set -euo pipefail
cd "$(dirname "$0")/.."
FWD=${1:-30}
PROMPTS=${2:-12}
OUT=bench/bridge_results
BENCH=(.venv/bin/spec-decode bench --target spec_decode_ros/assets/models/go2-vlm-target
       --draft spec_decode_ros/assets/models/go2-vlm-draft --sim-prompts --prompts "$PROMPTS"
       --modes cloud_ar,sd,sd_ee_predraft --gamma 8)
mkdir -p "$OUT"
run() {  # run NAME ARGS...: one bench invocation, table to NAME.txt, figures to NAME.json
  local name=$1; shift
  "${BENCH[@]}" "$@" --json "$OUT/$name.json" | tee "$OUT/$name.txt"
}
for rtt in 40 80 120; do
  run "first_command_rtt${rtt}_fwd${FWD}_g8" --rtt-ms "$rtt" --emulate-forward-ms "$FWD"
done
run first_command_rtt80_realcost_g8 --rtt-ms 80
