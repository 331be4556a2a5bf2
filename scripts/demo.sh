#!/usr/bin/env bash
# The main job: installs, builds, and runs a multi-process program on this
# machine (4 processes over UCX shared memory, then over TCP).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
N=${N:-4}
echo "== distmem run -n $N (UCX picks shared memory on one machine)"
build/tools/distmem run -n "$N" -- build/examples/transport_demo
echo "== distmem run -n $N --tls tcp"
build/tools/distmem run -n "$N" --tls tcp -- build/examples/transport_demo
