// Native int8 vs native fp32 throughput on the benchmark shape [29, 32, 16, 32, 29], side by side
// in one run on the same rows, per SIMD path and thread count. The JS harness (npm run bench) is
// the reference for comparisons with peers; this isolates the kernels from the binding.
//   bench_int8 [--rows 65536] [--seconds 1] [--dynamic] [--fallback F] [--path NAME] [--threads N]
// --path NAME: only that kernel (amx, avx512, avx2, sse2); --threads N: only that thread count
// (both for profiling one kernel with perf).
// --fallback F: static scales narrowed to F times the calibrated maximum, rows beyond them rescored
// in fp32 (QuantSpec::fallback); the share of such rows is printed (the real sample's test split
// sends ~2% at the 99.95th-percentile calibration, see test/int8-accuracy.test.ts).
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "fraudscore/cpu.h"
#include "fraudscore/int8.h"
#include "fraudscore/quant.h"
#include "fraudscore/thread_pool.h"
#include "testing.h"

using namespace fraudscore;
using Clock = std::chrono::steady_clock;

static double cpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Rate {
  double wall = 0;  // rows per wall-clock second
  double cpu = 0;   // rows per CPU-second of this process: steadier on a machine others share
};

template <class Engine>
static Rate measure(const Engine& eng, const std::vector<float>& rows, size_t n,
                    std::vector<float>& scores, int threads, double seconds) {
  eng.score(rows.data(), n, scores.data(), nullptr, NonFinite::kError, threads);  // warm-up
  size_t calls = 0;
  const auto t0 = Clock::now();
  const double c0 = cpuSeconds();
  double el = 0;
  do {
    eng.score(rows.data(), n, scores.data(), nullptr, NonFinite::kError, threads);
    ++calls;
    el = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (el < seconds);
  return {calls * n / el, calls * n / (cpuSeconds() - c0)};
}

int main(int argc, char** argv) {
  size_t n = 65536;
  double seconds = 1.0;
  bool dynamic = false;
  double fallback = 0;
  const char* only = nullptr;
  int onlyThreads = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rows") && i + 1 < argc) n = std::stoull(argv[++i]);
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::stod(argv[++i]);
    if (!std::strcmp(argv[i], "--dynamic")) dynamic = true;
    if (!std::strcmp(argv[i], "--fallback") && i + 1 < argc) fallback = std::stod(argv[++i]);
    if (!std::strcmp(argv[i], "--path") && i + 1 < argc) only = argv[++i];
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) onlyThreads = std::stoi(argv[++i]);
  }
  std::mt19937_64 rng(7);
  const ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  const std::vector<float> rows = fstest::randomRows(rng, m, n);
  QuantSpec q;
  quantizeWeights(m, &q);
  calibrateActivations(m, rows.data(), std::min<size_t>(n, 4096), &q);
  if (fallback > 0) {
    q.fallback = true;
    for (float& s : q.xscale) s *= static_cast<float>(fallback);
  }
  std::vector<float> scores(n);
  std::printf("batch=%zu, shape [29, 32, 16, 32, 29], int8 activations %s, pool %d threads\n", n,
              dynamic        ? "dynamic"
              : fallback > 0 ? "static, fp32 fallback"
                             : "static",
              poolSize());
  if (fallback > 0) {
    CpuInt8Engine eng(m, q, Int8Activations::kStatic);
    eng.score(rows.data(), n, scores.data(), nullptr, NonFinite::kError, 1);
    std::printf("rows rescored in fp32: %.2f%%\n", 100.0 * eng.fallbackRows() / n);
  }
  std::printf("int8 AMX: %s\n", int8AmxSupported() ? "supported" : "not supported here");
  struct Kernel {
    SimdPath path;
    Int8Matmul mm;
    const char* name;
  };
  for (const Kernel& k : {Kernel{SimdPath::kAvx512, Int8Matmul::kAmx, "amx"},
                          Kernel{SimdPath::kAvx512, Int8Matmul::kVnni, "avx512"},
                          Kernel{SimdPath::kAvx2, Int8Matmul::kVnni, "avx2"},
                          Kernel{SimdPath::kSse2, Int8Matmul::kVnni, "sse2"}}) {
    if (k.mm == Int8Matmul::kAmx && !int8AmxSupported()) continue;
    if (only && std::strcmp(only, k.name) != 0) continue;
    const bool f32 = simdSupported(k.path), i8 = int8SimdSupported(k.path);
    if (!f32 && !i8) continue;
    for (int threads : {1, poolSize()}) {
      if (onlyThreads > 0 && threads != onlyThreads) continue;
      Rate fr, ir;
      // fp32 first, then int8, then fp32 again: the ratio uses the mean of the two fp32 runs, so
      // a machine that slows down or speeds up during the pair moves both sides alike.
      Rate fr2;
      CpuEngine feng(m, k.path);
      if (f32) fr = measure(feng, rows, n, scores, threads, seconds);
      if (i8) {
        CpuInt8Engine eng(m, q, dynamic ? Int8Activations::kDynamic : Int8Activations::kStatic,
                          k.path, k.mm);
        ir = measure(eng, rows, n, scores, threads, seconds);
      }
      if (f32) {
        fr2 = measure(feng, rows, n, scores, threads, seconds);
        fr.wall = (fr.wall + fr2.wall) / 2;
        fr.cpu = (fr.cpu + fr2.cpu) / 2;
      }
      std::printf(
          "%-7s threads=%d: fp32 %7.2f Mrows/s (%6.2f per CPU-s)   int8 %7.2f Mrows/s (%6.2f per "
          "CPU-s)   int8/fp32 %.2fx wall, %.2fx CPU\n",
          k.name, threads, fr.wall / 1e6, fr.cpu / 1e6, ir.wall / 1e6, ir.cpu / 1e6,
          fr.wall > 0 ? ir.wall / fr.wall : 0.0, fr.cpu > 0 ? ir.cpu / fr.cpu : 0.0);
    }
  }
  return 0;
}
