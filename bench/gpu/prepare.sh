#!/usr/bin/env bash
# Prepares .device/ (ignored by git) for bench/gpu/run.sh on this machine, before the one GPU call:
#   .device/node.xz                     this machine's Node (scripts/device-pack-node.sh in ../shared)
#   .device/src.tar.gz                  the committed tree (git archive HEAD), built there with nvcc
#   .device/prebuilt/fraudscore.node.xz the Node addon with CUDA, built here from that same tree
#   .device/prebuilt/*.xz               the C++ GPU tests and bench, built here (fallback only)
# Then call the device tool with carry [".device"] and `BUDGET_S=330 JOBS=16 bash bench/gpu/run.sh`.
# Building the addon with CUDA takes several minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SNAP=${SNAP:-/tmp/fraudscore-gpu-snapshot}
mkdir -p .device/prebuilt
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >>.git/info/exclude
if [[ ! -s .device/node.xz ]]; then xz -T0 -6 -c "$(command -v node)" >.device/node.xz; fi
git archive --format=tar.gz -o .device/src.tar.gz HEAD
rm -rf "$SNAP" && mkdir -p "$SNAP" && tar -xzf .device/src.tar.gz -C "$SNAP"
ln -s "$ROOT/node_modules" "$SNAP/node_modules"
(cd "$SNAP" && cmake -S . -B build -DWITH_CUDA=ON -DFRAUDSCORE_CUDA_ARCHS=90 >/dev/null &&
  cmake --build build -j "$(nproc)" --target test_cuda_score test_cuda_trainer bench_cuda bench_train &&
  npx cmake-js compile --out build-addon --CDWITH_CUDA=ON --CDFRAUDSCORE_BUILD_TESTS=OFF)
for b in test_cuda_score test_cuda_trainer bench_cuda bench_train; do
  strip -o "$SNAP/$b.stripped" "$SNAP/build/$b"
  xz -T0 -6 -c "$SNAP/$b.stripped" >".device/prebuilt/$b.xz"
done
strip -o "$SNAP/fraudscore.node" "$SNAP/build-addon/Release/fraudscore.node"
xz -T0 -6 -c "$SNAP/fraudscore.node" >.device/prebuilt/fraudscore.node.xz
du -sh .device
