// CpuEngine: run-time SIMD choice, row chunking over the thread pool, first-bad-value bookkeeping.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "fraudscore/cpu.h"
#include "fraudscore/thread_pool.h"
#include "kernel_api.h"
#include "packed.h"

namespace fraudscore {

const char* simdPathName(SimdPath p) {
  switch (p) {
    case SimdPath::kAvx512: return "avx512";
    case SimdPath::kAvx2: return "avx2";
    case SimdPath::kSse2: return "sse2";
  }
  return "unknown";
}

bool simdSupported(SimdPath p) {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  switch (p) {
    // __builtin_cpu_supports checks the OS-enabled state (XCR0) for AVX and AVX-512 in GCC >= 12.
    // kernel_avx512.cpp is compiled with -mavx512{f,bw,vl,dq}: the compiler may use any of them
    // (mask <-> vector moves are DQ/BW), so all four are required, not just F.
    case SimdPath::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("fma");
    case SimdPath::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SimdPath::kSse2: return true;
  }
  return false;
#else
  return p == SimdPath::kSse2;
#endif
}

SimdPath pickSimd(bool (*supported)(SimdPath), bool honorEnv) {
  const char* env = honorEnv ? std::getenv("FRAUDSCORE_SIMD") : nullptr;
  if (env && *env) {
    for (SimdPath p : {SimdPath::kAvx512, SimdPath::kAvx2, SimdPath::kSse2})
      if (std::strcmp(env, simdPathName(p)) == 0 && supported(p)) return p;
  }
  for (SimdPath p : {SimdPath::kAvx512, SimdPath::kAvx2})
    if (supported(p)) return p;
  return SimdPath::kSse2;
}

SimdPath detectSimd() {
  return pickSimd(simdSupported, false);
}

SimdPath defaultSimd() {
  return pickSimd(simdSupported, true);
}

namespace {

int widthOf(SimdPath p) {
  switch (p) {
    case SimdPath::kAvx512: return 16;
    case SimdPath::kAvx2: return 8;
    default: return 4;
  }
}

ScoreRangeFn kernelOf(SimdPath p) {
#if defined(__x86_64__) || defined(_M_X64)
  if (p == SimdPath::kAvx512) return avx512::scoreRange;
  if (p == SimdPath::kAvx2) return avx2::scoreRange;
#endif
  (void)p;
  return sse2::scoreRange;
}

// Below this many rows a call runs on the calling thread: waking workers costs more than it saves.
constexpr size_t kMinRowsPerThread = 1024;

}  // namespace

float* threadScratch(size_t floats) {
  thread_local AlignedBuf buf;
  thread_local size_t cap = 0;
  if (cap < floats) {
    buf = allocAligned(floats);
    cap = floats;
  }
  return buf.get();
}

struct CpuEngine::Impl {
  ModelSpec spec;
  SimdPath path;
  PackedModel packed;
  ScoreRangeFn kernel;
};

CpuEngine::CpuEngine(const ModelSpec& spec, SimdPath path) : impl_(new Impl) {
  const std::string err = spec.validate();
  if (!err.empty()) throw std::invalid_argument("invalid model: " + err);
  if (!simdSupported(path)) path = detectSimd();
  impl_->spec = spec;
  impl_->path = path;
  impl_->packed = packModel(spec, widthOf(path));
  impl_->kernel = kernelOf(path);
}

CpuEngine::~CpuEngine() = default;

int CpuEngine::features() const {
  return impl_->spec.features;
}
SimdPath CpuEngine::path() const {
  return impl_->path;
}
const ModelSpec& CpuEngine::spec() const {
  return impl_->spec;
}
size_t CpuEngine::packedBytes() const {
  return impl_->packed.bytes;
}

BadValue CpuEngine::score(const float* rows, size_t n, float* scores, float* featureErrors,
                          NonFinite mode, int threads) const {
  const PackedModel& P = impl_->packed;
  const ScoreRangeFn kernel = impl_->kernel;
  const size_t scratchFloats = P.scratchFloats;
  BadValue result;
  if (n == 0) return result;

  const int poolThreads = threads <= 0 ? poolSize() : threads;
  const size_t useful = std::max<size_t>(1, n / kMinRowsPerThread);
  const int nt = static_cast<int>(std::min<size_t>(poolThreads, useful));
  if (nt <= 1) {
    kernel(P, rows, 0, n, scores, featureErrors, mode, threadScratch(scratchFloats), &result,
           nullptr);
    return result;
  }

  // Several chunks per thread for balance, each a whole number of blocks.
  size_t chunkRows = (n + nt * 4 - 1) / (nt * 4);
  chunkRows = (chunkRows + P.blockRows - 1) / P.blockRows * P.blockRows;
  const size_t chunks = (n + chunkRows - 1) / chunkRows;
  std::atomic<int64_t> firstBad{std::numeric_limits<int64_t>::max()};
  std::mutex badMu;
  parallelFor(chunks, nt, [&](size_t c) {
    const size_t begin = c * chunkRows;
    const size_t end = std::min(n, begin + chunkRows);
    BadValue bad;
    const bool ok = kernel(P, rows, begin, end, scores, featureErrors, mode,
                           threadScratch(scratchFloats), &bad, &firstBad);
    if (!ok) {
      std::lock_guard<std::mutex> g(badMu);
      if (bad.row < firstBad.load()) {
        firstBad.store(bad.row);
        result = bad;
      }
    }
  });
  return result;
}

void scoreReferenceF64(const ModelSpec& spec, const float* rows, size_t n, double* scores,
                       double* featureErrors) {
  const int d = spec.features;
  std::vector<double> z(d), a, b;
  for (size_t r = 0; r < n; ++r) {
    bool ok = true;
    for (int j = 0; j < d; ++j) {
      double x = rows[r * d + j];
      if (spec.transform[j] == Transform::kLog1p) x = std::log1p(x);
      z[j] = (x - static_cast<double>(spec.mean[j])) / static_cast<double>(spec.scale[j]);
      if (!std::isfinite(z[j])) ok = false;
    }
    if (!ok) {
      scores[r] = std::numeric_limits<double>::quiet_NaN();
      if (featureErrors)
        for (int j = 0; j < d; ++j) featureErrors[r * d + j] = scores[r];
      continue;
    }
    a = z;
    for (size_t l = 0; l < spec.layers.size(); ++l) {
      const DenseLayer& L = spec.layers[l];
      b.assign(L.out, 0.0);
      for (int o = 0; o < L.out; ++o) {
        double s = L.bias[o];
        for (int i = 0; i < L.in; ++i)
          s += static_cast<double>(L.weight[static_cast<size_t>(o) * L.in + i]) * a[i];
        b[o] = (l + 1 < spec.layers.size() && s < 0) ? 0.0 : s;
      }
      a.swap(b);
    }
    double s = 0;
    for (int j = 0; j < d; ++j) {
      const double e = (a[j] - z[j]) * (a[j] - z[j]);
      if (featureErrors) featureErrors[r * d + j] = e;
      s += e;
    }
    scores[r] = s / d;
  }
}

}  // namespace fraudscore
