#!/usr/bin/env bash
# The GPU check of the CUDA backend, in one call on a GPU machine (about 3-5 minutes on an H100):
#   1. builds the native core and the CUDA tests/bench there with nvcc for sm_90, from
#      .device/src.tar.gz when present (`git archive --format=tar.gz -o .device/src.tar.gz HEAD`:
#      the committed tree, immune to other people's unfinished edits in the working tree), else from
#      the working tree; falls back to xz'd binaries prebuilt for sm_90 in .device/prebuilt/,
#   2. runs the C++ GPU tests (every CUDA path against the float64 references),
#   3. runs bench_cuda (ceilings, floors, device-resident and host-to-result throughput at 65,536
#      and 16M rows for fp32 and int8, training step rows/s),
#   4. loads the Node addon (.device/prebuilt/fraudscore.node.xz, built with CUDA) with a packed Node
#      (.device/node.xz from the device-pack-node.sh helper of the shared workspace, outside this repository) and runs bench/gpu/node-check.mjs,
#   5. runs test_cuda_score under compute-sanitizer memcheck when time allows,
# and prints a summary and the benchmark table last. Logs and bench.json go to $OUT (or
# bench/gpu/out when OUT is unset). Without a GPU every step reports SKIPPED and it exits 0.
#
# Usage (repo root): bash bench/gpu/prepare.sh here first (fills .device/), then on the GPU machine
#   bash bench/gpu/run.sh            env: JOBS (build parallelism), BUDGET_S (300: sanitizer cut-off)
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/bench/gpu/out}
mkdir -p "$OUT"
BUDGET_S=${BUDGET_S:-300}
JOBS=${JOBS:-$(nproc)}
exec > >(tee "$OUT/run.log") 2>&1
declare -A STATUS
note() { printf '\n==== [%4ds] %s\n' "$SECONDS" "$*"; }

note "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu --format=csv 2>&1 || echo "nvidia-smi: not available"
command -v nvcc >/dev/null && nvcc --version | tail -2
uname -srm; nproc

note "build (cmake, WITH_CUDA=ON, sm_90)"
BUILD=/tmp/fraudscore-gpu-build
BIN=""
SRC=$ROOT
if [[ -s .device/src.tar.gz ]]; then
  SRC=/tmp/fraudscore-src
  rm -rf "$SRC" && mkdir -p "$SRC" && tar -xzf .device/src.tar.gz -C "$SRC"
  echo "source: .device/src.tar.gz"
fi
PRE=/tmp/fraudscore-prebuilt
mkdir -p "$PRE"
for f in .device/prebuilt/*.xz; do
  [[ -e $f ]] || continue
  n=$(basename "$f" .xz); xz -dc "$f" >"$PRE/$n" && chmod +x "$PRE/$n"
done
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
rm -rf "$BUILD"
if command -v nvcc >/dev/null &&
   cmake -S "$SRC" -B "$BUILD" "${GEN[@]}" -DWITH_CUDA=ON -DFRAUDSCORE_CUDA_ARCHS=90 -DCMAKE_BUILD_TYPE=Release >"$OUT/build.log" 2>&1 &&
   cmake --build "$BUILD" --target test_cuda_score test_cuda_trainer bench_cuda bench_train -j "$JOBS" >>"$OUT/build.log" 2>&1; then
  BIN=$BUILD; STATUS[build]="ok (built here in ${SECONDS}s)"
else
  tail -30 "$OUT/build.log"
  if [[ -x $PRE/bench_cuda ]]; then
    BIN=$PRE; STATUS[build]="FAILED here; using .device/prebuilt"
  else
    STATUS[build]="FAILED"
  fi
fi
grep -E "warning|error" "$OUT/build.log" | grep -v "^--" | head -20
echo "binaries: ${BIN:-none}"

run_step() {  # name timeout command...
  local name=$1 limit=$2; shift 2
  note "$name"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  if grep -q "SKIPPED" "$OUT/$name.log"; then STATUS[$name]="skipped (rc $rc): $(grep -m1 SKIPPED "$OUT/$name.log")"
  elif [[ $rc == 0 ]]; then STATUS[$name]="ok"
  elif [[ $rc == 124 ]]; then STATUS[$name]="TIMED OUT after ${limit}s"
  else STATUS[$name]="FAILED (rc $rc)"; fi
}

if [[ -n $BIN ]]; then
  run_step test_cuda_score 120 "$BIN/test_cuda_score"
  run_step test_cuda_trainer 90 "$BIN/test_cuda_trainer"
  run_step bench_cuda 200 "$BIN/bench_cuda" --json "$OUT/bench.json"
  # train({ backend: 'cuda' })'s epochs (host gather, one upload and one step per minibatch), at the
  # config's batch and the original project's; next to bench_cuda's device-resident step figure.
  if [[ -x $BIN/bench_train ]]; then
    run_step train_epochs 60 bash -c "'$BIN/bench_train' --cuda --rows 1000000 --batch 1024 --epochs 3 --dropout 0 &&
      '$BIN/bench_train' --cuda --rows 1000000 --batch 256 --epochs 2 --dropout 0"
  fi
fi

if [[ -s .device/node.xz && -f $PRE/fraudscore.node ]]; then
  xz -dc .device/node.xz >/tmp/node && chmod +x /tmp/node
  run_step node_check 90 /tmp/node bench/gpu/node-check.mjs "$PRE/fraudscore.node"
else
  STATUS[node_check]="not run (no .device/node.xz or .device/prebuilt/fraudscore.node.xz)"
fi

left=$((BUDGET_S - SECONDS))
if [[ -n $BIN ]] && command -v compute-sanitizer >/dev/null && ((left > 45)); then
  note "compute-sanitizer memcheck (limit $((left - 15))s)"
  timeout $((left - 15)) compute-sanitizer --tool memcheck --leak-check no --error-exitcode 3 \
    "$BIN/test_cuda_score" >"$OUT/sanitizer.log" 2>&1
  rc=$?
  tail -5 "$OUT/sanitizer.log"
  case $rc in 0) STATUS[sanitizer]="ok (no memcheck errors)";; 124) STATUS[sanitizer]="timed out (partial log)";;
    3) STATUS[sanitizer]="MEMCHECK ERRORS";; *) STATUS[sanitizer]="FAILED (rc $rc)";; esac
else
  STATUS[sanitizer]="not run (no time or no compute-sanitizer)"
fi

note "summary (${SECONDS}s)"
for k in build test_cuda_score test_cuda_trainer bench_cuda train_epochs node_check sanitizer; do
  printf '%-18s %s\n' "$k" "${STATUS[$k]:-not run}"
done
grep -hE "worst|p99|gradient|adam|dropout" "$OUT"/test_cuda_*.log 2>/dev/null | head -20
grep -hE "Mrows/s" "$OUT/node_check.log" "$OUT/train_epochs.log" 2>/dev/null
if [[ -f $OUT/bench_cuda.log ]]; then
  grep -E "^device:|^measured:|^floors:|CPU trainer" "$OUT/bench_cuda.log"
  sed -n '/^measurement/,$p' "$OUT/bench_cuda.log"
fi
fail=0
for k in build test_cuda_score test_cuda_trainer bench_cuda train_epochs node_check; do
  [[ ${STATUS[$k]:-} == FAILED* || ${STATUS[$k]:-} == TIMED* ]] && fail=1
done
exit $fail
