#!/usr/bin/env bash
# The README's main-job command: set everything up (idempotent), then run the closed loop on the
# embedded default (simulated Go2, local verifier, bundled models). Extra arguments go to `spec-decode demo`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/setup.sh
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST} HF_HUB_OFFLINE=1
exec .venv/bin/spec-decode demo "$@"
