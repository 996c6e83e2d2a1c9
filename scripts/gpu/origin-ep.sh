#!/usr/bin/env bash
# The GPU benchmark in one command (docs/gpu.md): the origin on webgpu vs cpu, batch 1 and
# batched, on the same machine, in one run. Prepare on a machine with network first:
#   npm ci && scripts/gpu/pack.sh && npm run gpu-kit
# then copy the checkout (at least .gpu/, dist/gpu/ and scripts/gpu/) to the GPU machine and run
# there, from the repository root:
#   bash scripts/gpu/origin-ep.sh [--quick]
# Results (report.md, results.json, charts, gpu.txt) land in $OUT (or .hotpath/bench-gpu).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-.hotpath/bench-gpu}
mkdir -p "$out"
[ -f .gpu/env.sh ] && source .gpu/env.sh
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"; } > "$out/gpu.txt" 2>&1
node --version
node dist/gpu/prepare-models.mjs .hotpath/models mlp-heavy
node dist/gpu/bench.mjs --scenario origin-ep --out "$out" "$@"
