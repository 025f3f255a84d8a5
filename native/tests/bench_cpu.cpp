// C++-level throughput of the CPU kernel on the benchmark shape [29, 32, 16, 32, 29], per SIMD
// path, against this machine's measured FMA peak. The JS harness (npm run bench) is the reference
// for comparisons with peers; this one isolates the kernel from the binding.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "fraudscore/cpu.h"
#include "fraudscore/thread_pool.h"
#include "fraudscore/peak.h"
#include "testing.h"

using namespace fraudscore;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  size_t n = 65536;
  double seconds = 1.0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rows") && i + 1 < argc) n = std::stoull(argv[++i]);
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::stod(argv[++i]);
  }
  std::mt19937_64 rng(7);
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  std::vector<float> scores(n);
  const double peak1 = measureFmaPeakGflops(1, 0.3);
  const double peakAll = measureFmaPeakGflops(poolSize(), 0.3);
  std::printf("fma peak: %.1f GFLOP/s on 1 thread, %.1f on %d\n", peak1, peakAll, poolSize());
  for (SimdPath path : {SimdPath::kAvx512, SimdPath::kAvx2, SimdPath::kSse2}) {
    if (!simdSupported(path)) continue;
    CpuEngine eng(m, path);
    for (int threads : {1, poolSize()}) {
      eng.score(rows.data(), n, scores.data(), nullptr, NonFinite::kError, threads);
      size_t calls = 0;
      auto t0 = Clock::now();
      double el = 0;
      do {
        eng.score(rows.data(), n, scores.data(), nullptr, NonFinite::kError, threads);
        ++calls;
        el = std::chrono::duration<double>(Clock::now() - t0).count();
      } while (el < seconds);
      const double rps = calls * n / el;
      const double gf = rps * m.flopsPerRow() / 1e9;
      std::printf("%-7s threads=%d batch=%zu: %.2f Mrows/s, %.1f GFLOP/s (%.0f%% of peak)\n",
                  simdPathName(path), threads, n, rps / 1e6, gf,
                  100 * gf / (threads == 1 ? peak1 : peakAll));
    }
  }
  return 0;
}
