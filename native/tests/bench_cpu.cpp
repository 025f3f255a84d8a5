// C++-level throughput of the CPU kernel on the benchmark shape [29, 32, 16, 32, 29], per SIMD
// path, against this machine's measured FMA peak. The JS harness (npm run bench) is the reference
// for comparisons with peers; this one isolates the kernel from the binding.
//
// Single-thread figures are also given per second of the thread's own CPU time: on a shared
// machine other processes steal wall time, and the CPU-time rate (kernel and FMA peak alike) is
// what an optimization actually changes.
//   bench_cpu [--rows N] [--seconds S] [--path avx512|avx2|sse2]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "fraudscore/cpu.h"
#include "fraudscore/peak.h"
#include "fraudscore/thread_pool.h"
#include "testing.h"

namespace fraudscore {
namespace avx512 {
double fmaLoop(long iters);
}
namespace avx2 {
double fmaLoop(long iters);
}
namespace sse2 {
double fmaLoop(long iters);
}
}  // namespace fraudscore

using namespace fraudscore;
using Clock = std::chrono::steady_clock;

static double threadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// FMA peak of one thread of `path`, per second of CPU time.
static double cpuPeakGflops(SimdPath path, double seconds) {
  auto loop = [&](long iters) {
    if (path == SimdPath::kAvx512) return avx512::fmaLoop(iters);
    if (path == SimdPath::kAvx2) return avx2::fmaLoop(iters);
    return sse2::fmaLoop(iters);
  };
  const long iters = 1 << 18;
  const double flopsPerIter = loop(1);
  const double c0 = threadCpuSeconds();
  long done = 0;
  while (threadCpuSeconds() - c0 < seconds) {
    loop(iters);
    done += iters;
  }
  return done * flopsPerIter / (threadCpuSeconds() - c0) / 1e9;
}

struct Rate {
  double wallRowsPerS;
  double cpuRowsPerS;  // per second of the calling thread's CPU time (meaningful for 1 thread)
  double usPerCall;
  double cpuUsPerCall;
};

static Rate measure(const CpuEngine& eng, const float* rows, size_t n, float* scores, int threads,
                    double seconds) {
  eng.score(rows, n, scores, nullptr, NonFinite::kError, threads);
  size_t calls = 0;
  const double c0 = threadCpuSeconds();
  const auto t0 = Clock::now();
  double el = 0;
  do {
    for (int k = 0; k < 16; ++k) eng.score(rows, n, scores, nullptr, NonFinite::kError, threads);
    calls += 16;
    el = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (el < seconds);
  const double cpu = threadCpuSeconds() - c0;
  return {calls * n / el, calls * n / cpu, el / calls * 1e6, cpu / calls * 1e6};
}

int main(int argc, char** argv) {
  size_t n = 65536;
  double seconds = 1.0;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rows") && i + 1 < argc) n = std::stoull(argv[++i]);
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::stod(argv[++i]);
    if (!std::strcmp(argv[i], "--path") && i + 1 < argc) only = argv[++i];
  }
  std::mt19937_64 rng(7);
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  std::vector<float> scores(n);
  const double peakAll = measureFmaPeakGflops(poolSize(), 0.3);
  std::printf("fma peak (wall): %.1f GFLOP/s on %d threads\n", peakAll, poolSize());
  const double fpr = m.flopsPerRow();
  for (SimdPath path : {SimdPath::kAvx512, SimdPath::kAvx2, SimdPath::kSse2}) {
    if (!simdSupported(path) || (!only.empty() && only != simdPathName(path))) continue;
    CpuEngine eng(m, path);
    const double peak1 = cpuPeakGflops(path, 0.3);
    const Rate one = measure(eng, rows.data(), n, scores.data(), 1, seconds);
    std::printf(
        "%-7s threads=1 batch=%zu: %.2f Mrows/s wall; per CPU-second %.2f Mrows/s, "
        "%.1f GFLOP/s = %.0f%% of this path's FMA peak (%.1f)\n",
        simdPathName(path), n, one.wallRowsPerS / 1e6, one.cpuRowsPerS / 1e6,
        one.cpuRowsPerS * fpr / 1e9, 100 * one.cpuRowsPerS * fpr / 1e9 / peak1, peak1);
    const Rate all = measure(eng, rows.data(), n, scores.data(), poolSize(), seconds);
    std::printf(
        "%-7s threads=%d batch=%zu: %.2f Mrows/s wall, %.1f GFLOP/s (%.0f%% of wall peak)\n",
        simdPathName(path), poolSize(), n, all.wallRowsPerS / 1e6, all.wallRowsPerS * fpr / 1e9,
        100 * all.wallRowsPerS * fpr / 1e9 / peakAll);
    for (size_t small : {size_t{256}, size_t{16}, size_t{1}}) {
      if (small > n) continue;
      const Rate r = measure(eng, rows.data(), small, scores.data(), 0, seconds / 4);
      std::printf(
          "%-7s batch=%zu (threads=0): %.3f us/call of CPU time (%.3f wall), "
          "%.2f Mrows/CPU-s\n",
          simdPathName(path), small, r.cpuUsPerCall, r.usPerCall, r.cpuRowsPerS / 1e6);
    }
  }
  return 0;
}
