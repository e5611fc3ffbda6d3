#!/usr/bin/env bash
# float32 vs bfloat16 on the CPU for the embedded Go2 VLM pair (in process, `spec-decode bench-local`):
# held-out simulator prompts, greedy, γ=4, one torch thread; the two precisions alternate ROUNDS times so that a
# change in the machine's load affects both alike. Every speculative output is checked against the target's own
# greedy output in the same precision. Results: bench/results/dtype_embedded_<dtype>_<round>.json and .txt;
# `python bench/summarize_dtype.py` puts the ms/token side by side.
# Usage: bash bench/dtype_cpu.sh [prompts (default 12)] [rounds (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPTS=${1:-12}
ROUNDS=${2:-3}
OUT=bench/results
T=spec_decode_ros/assets/models/go2-vlm-target
D=spec_decode_ros/assets/models/go2-vlm-draft
SPEC_DECODE=${SPEC_DECODE:-.venv/bin/spec-decode}
mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
  for dtype in float32 bfloat16; do
    name="dtype_embedded_${dtype}_${round}"
    $SPEC_DECODE bench-local --target "$T" --draft "$D" --sim-prompts --prompts "$PROMPTS" --gammas 4 \
      --max-new-tokens 24 --threads 1 --dtype "$dtype" --device cpu --json "$OUT/$name.json" 2>/dev/null \
      | tee "$OUT/$name.txt"
  done
done
