#!/usr/bin/env bash
# The main job: installs, builds, and runs a multi-process program on this
# machine: examples/stencil.c, a heat-diffusion stencil on a grid in distmem
# shared memory, with 4 processes over UCX shared memory, then over TCP.
# Each run checks its result against a sequential computation and fails on
# a mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
N=${N:-4}
echo "== distmem run -n $N -- build/examples/stencil (UCX picks shared memory on one machine)"
build/tools/distmem run -n "$N" --timeout 120s -- build/examples/stencil
echo "== distmem run -n $N --tls tcp -- build/examples/stencil"
build/tools/distmem run -n "$N" --timeout 120s --tls tcp -- build/examples/stencil
