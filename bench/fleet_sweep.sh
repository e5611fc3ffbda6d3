#!/usr/bin/env bash
# The fleet benchmark's two sweeps (bench/fleet_results/): prefill served from cache (the verifier's own
# figures) and real per-answer prefill on the replica's CPU; each with a failover run (a replica killed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
COMMON=(--robots 1,8,16,32,64,128 --replicas 1,2 --answers 4 --a-ms 20 --b-ms 0.5 --draft-ms 20 --rtt-ms 80
        --max-batch 32 --latency-target-ms 100 --failover-robots 32 --kill-after-s 1.0)
"$PY" -m spec_decode_ros.cli fleet-bench "${COMMON[@]}" --prefill cached --json bench/fleet_results/fleet.json
"$PY" -m spec_decode_ros.cli fleet-bench "${COMMON[@]}" --prefill real --json bench/fleet_results/fleet_real_prefill.json
