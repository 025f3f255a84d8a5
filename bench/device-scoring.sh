#!/usr/bin/env bash
# The bench's scoring section on a GPU machine that has no npm install: fraudscore CPU fp32, CUDA
# fp32 (and int8 when quantization exists) and the plain TypeScript loop, plus the FMA peak. It needs
# only Node (.device/node.xz, from the device-pack-node.sh helper of the shared workspace, outside this repository), an addon built with
# CUDA for sm_90 (the first of .device/bench/fraudscore.node.xz -- e.g. `xz -c
# build/Release/fraudscore.node` when build/ was configured with nvcc --, .device/prebuilt/
# fraudscore.node.xz or .device/prebuilt/fraudscore.node) and tsx + node-gyp-build; the rows are
# the bench's random stand-in there (the synthetic generator's readers are not carried).
# onnxruntime and tfjs are not carried (~600 MB): compare their figures from a run on this machine.
#
# Device tool call (repo root), carrying:
#   .device/node.xz .device/bench (or .device/prebuilt) node_modules/tsx node_modules/esbuild
#   node_modules/@esbuild node_modules/node-gyp-build
# command: bash bench/device-scoring.sh [bench options]   (writes $OUT/device.json and device.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results}
mkdir -p "$OUT" build/Release
xz -dc .device/node.xz >/tmp/fraudscore-node && chmod +x /tmp/fraudscore-node
for f in .device/bench/fraudscore.node.xz .device/prebuilt/fraudscore.node.xz .device/prebuilt/fraudscore.node; do
  [[ -f $f ]] || continue
  if [[ $f == *.xz ]]; then xz -dc "$f" >build/Release/fraudscore.node; else cp "$f" build/Release/fraudscore.node; fi
  echo "addon: $f"
  break
done
[[ -f build/Release/fraudscore.node ]] || { echo "no addon: see the header of $0" >&2; exit 1; }
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi: not available"
  lscpu | grep -E '^(Model name|CPU\(s\))' || true
} | tee "$OUT/device-machine.txt"
/tmp/fraudscore-node --import tsx bench/run.ts --only scoring,gflops \
  --engines native-fp32,native-int8,cuda-fp32,cuda-int8,ts-loop --out "$OUT/device.json" "$@" | tee "$OUT/device.txt"
