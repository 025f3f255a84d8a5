// Measures this machine's fp32 FMA peak with independent FMA chains (enough of them to cover the
// FMA latency), on the widest SIMD path available, on `threads` threads.
#include "fraudscore/peak.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "fraudscore/cpu.h"
#include "fraudscore/thread_pool.h"

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

double measureFmaPeakGflops(int threads, double seconds) {
  const SimdPath path = detectSimd();
  auto loop = [&](long iters) {
#if defined(__x86_64__) || defined(_M_X64)
    if (path == SimdPath::kAvx512) return avx512::fmaLoop(iters);
    if (path == SimdPath::kAvx2) return avx2::fmaLoop(iters);
#endif
    return sse2::fmaLoop(iters);
  };
  // flops per iteration are returned by fmaLoop through its result scale
  const long iters = 1 << 20;
  double flopsPerIter = loop(1);  // warm-up, returns flops per iteration
  std::atomic<long> total{0};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> ts;
  const auto deadline = t0 + std::chrono::duration<double>(seconds);
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      long done = 0;
      while (std::chrono::steady_clock::now() < deadline) {
        loop(iters);
        done += iters;
      }
      total += done;
    });
  for (auto& t : ts) t.join();
  const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return total.load() * flopsPerIter / el / 1e9;
}

}  // namespace fraudscore
