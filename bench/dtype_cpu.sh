#!/usr/bin/env bash
# float32 vs bfloat16 on the CPU, in process (`spec-decode bench-local`), greedy, γ=4, one torch thread: the
# embedded Go2 VLM pair on held-out simulator prompts, or the SmolLM2 pair (`spec-decode models build` first) on
# the built-in text prompts. The two precisions alternate ROUNDS times so that a change in the machine's load
# affects both alike; every speculative output is checked against the target's own greedy output in the same
# precision. Results: bench/results/dtype_<pair>_<dtype>_<round>.json and .txt;
# `python bench/summarize_dtype.py [folder] [pair]` puts wall-clock and CPU ms/token side by side.
# Usage: bash bench/dtype_cpu.sh [prompts (default 12)] [rounds (default 3)] [pair: embedded (default) | smollm2]
set -euo pipefail
cd "$(dirname "$0")/.."
PROMPTS=${1:-12}
ROUNDS=${2:-3}
PAIR=${3:-embedded}
OUT=bench/results
SPEC_DECODE=${SPEC_DECODE:-.venv/bin/spec-decode}
case "$PAIR" in
  embedded) PAIR_ARGS=(--target spec_decode_ros/assets/models/go2-vlm-target --draft spec_decode_ros/assets/models/go2-vlm-draft
                       --sim-prompts --max-new-tokens 24) ;;
  smollm2) PAIR_ARGS=(--exit-layer 20 --max-new-tokens 48) ;;  # the zoo's pair in .models/
  *) echo "pair must be embedded or smollm2" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
  for dtype in float32 bfloat16; do
    name="dtype_${PAIR}_${dtype}_${round}"
    $SPEC_DECODE bench-local "${PAIR_ARGS[@]}" --prompts "$PROMPTS" --gammas 4 --threads 1 --dtype "$dtype" \
      --device cpu --json "$OUT/$name.json" 2>/dev/null | tee "$OUT/$name.txt" ||
      echo "$name: some outputs differ from the same-precision target's generate() (lossless False in $name.json)"
  done
done
