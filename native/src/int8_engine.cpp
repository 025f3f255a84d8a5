// CpuInt8Engine: run-time choice of the int8 kernel, weight packing per path, row chunking over the
// thread pool and first-bad-value bookkeeping (the same policy as CpuEngine), plus the float64
// reference of dynamic scales.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "fraudscore/int8.h"
#include "fraudscore/thread_pool.h"
#include "kernel_int8_impl.h"
#include "packed.h"

namespace fraudscore {

bool int8SimdSupported(SimdPath p) {
#if defined(__x86_64__) || defined(_M_X64)
  // The AVX-512 int8 kernel is the fp32 path's instruction set plus VNNI (vpdpbusd).
  if (p == SimdPath::kAvx512) return simdSupported(p) && __builtin_cpu_supports("avx512vnni");
#endif
  return simdSupported(p);
}

namespace {
// CPUID vendor "AuthenticAMD" (the int8 kernels' prefetch hint differs by vendor: Int8Model).
bool amdCpu() {
#if defined(__x86_64__) || defined(_M_X64)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
  return b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;  // "Auth" "enti" "cAMD"
#else
  return false;
#endif
}
}  // namespace

bool int8AmxSupported() {
#if FRAUDSCORE_HAVE_AMX && defined(__linux__) && (defined(__x86_64__) || defined(_M_X64))
  static const bool ok = [] {
    if (!int8SimdSupported(SimdPath::kAvx512)) return false;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    if (!(d & (1u << 24)) || !(d & (1u << 25))) return false;                // AMX-TILE, AMX-INT8
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    const uint64_t xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
    if ((xcr0 & (3ull << 17)) != (3ull << 17)) return false;  // XTILECFG, XTILEDATA
    // Linux hands out the 8 KB of tile state per process on request (ARCH_REQ_XCOMP_PERM,
    // XFEATURE_XTILEDATA); without it the first tile instruction would kill the process.
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }();
  return ok;
#else
  return false;
#endif
}

SimdPath detectInt8Simd() {
  return pickSimd(int8SimdSupported, false);
}

SimdPath defaultInt8Simd() {
  return pickSimd(int8SimdSupported, true);
}

namespace {

using KernelFn = bool (*)(const Int8Model&, const float*, size_t, size_t, float*, float*, NonFinite,
                          void*, BadValue*, const std::atomic<int64_t>*, std::vector<size_t>*,
                          size_t);

KernelFn kernelOf(SimdPath p, bool amx) {
#if defined(__x86_64__) || defined(_M_X64)
#if FRAUDSCORE_HAVE_AMX
  if (p == SimdPath::kAvx512 && amx) return int8k::avx512_amx::scoreRangeInt8;
#endif
  if (p == SimdPath::kAvx512) return int8k::avx512::scoreRangeInt8;
  if (p == SimdPath::kAvx2) return int8k::avx2::scoreRangeInt8;
#endif
  (void)p;
  (void)amx;
  return int8k::sse2::scoreRangeInt8;
}

int lanesOf(SimdPath p) {
  switch (p) {
    case SimdPath::kAvx512: return 16;
    case SimdPath::kAvx2: return 8;
    default: return 4;
  }
}

// The AMX tiles of a packed layer (see Int8Layer::amxW): A[o][g] = w[g][o], 16 x 16 words a tile.
void packAmx(Int8Layer& Ly) {
  Ly.amx = true;
  Ly.amxChunks = (Ly.outPad + 15) / 16;
  Ly.amxKBlocks = (Ly.groups + 15) / 16;
  Ly.amxW.assign(static_cast<size_t>(Ly.amxChunks) * Ly.amxKBlocks * 256, 0);
  for (int c = 0; c < Ly.amxChunks; ++c)
    for (int kb = 0; kb < Ly.amxKBlocks; ++kb)
      for (int r = 0; r < 16; ++r)
        for (int g = 0; g < 16; ++g) {
          const int o = c * 16 + r, gi = kb * 16 + g;
          if (o < Ly.outPad && gi < Ly.groups)
            Ly.amxW[(static_cast<size_t>(c) * Ly.amxKBlocks + kb) * 256 + r * 16 + g] =
                Ly.w[static_cast<size_t>(gi) * Ly.outPad + o];
        }
  bool anyInit = false;
  for (int32_t v : Ly.init) anyInit = anyInit || v != 0;
  Ly.amxInit.clear();
  if (anyInit) {
    Ly.amxInit.assign(static_cast<size_t>(Ly.amxChunks) * 256, 0);
    for (int o = 0; o < Ly.outPad; ++o)
      for (int lane = 0; lane < 16; ++lane)
        Ly.amxInit[static_cast<size_t>(o / 16) * 256 + (o % 16) * 16 + lane] = Ly.init[o];
  }
}

Int8Model packInt8(const ModelSpec& spec, const QuantSpec& q, bool dynamic, SimdPath path,
                   bool amx) {
  Int8Model P;
  const bool vnni = path == SimdPath::kAvx512;
  P.features = spec.features;
  P.featPad = roundUp(spec.features, 4);
  P.maxPad = P.featPad;
  P.lanes = lanesOf(path);
  // Bytes packed four to a word for vpdpbusd (VNNI) and vpmaddubsw (AVX2); int16 pairs for pmaddwd.
  P.k = vnni || path == SimdPath::kAvx2 ? 4 : 2;
  P.dynamic = dynamic;
  P.fallback = !dynamic && q.fallback;
  static const bool nta = amdCpu();
  P.prefetchNta = nta;
  for (int j = 0; j < spec.features; ++j) {
    P.log1p.push_back(spec.transform[j] == Transform::kLog1p ? 1 : 0);
    P.mean.push_back(spec.mean[j]);
    // The same rounding as the fp32 engine and the reference: z is bit-identical across engines.
    P.invScale.push_back(static_cast<float>(1.0 / static_cast<double>(spec.scale[j])));
  }
  const size_t nl = spec.layers.size();
  for (size_t l = 0; l < nl; ++l) {
    const DenseLayer& D = spec.layers[l];
    Int8Layer Ly;
    Ly.in = D.in;
    Ly.out = D.out;
    Ly.outPad = roundUp(D.out, 4);
    Ly.groups = roundUp(D.in, 4) / P.k;
    Ly.relu = l + 1 < nl;
    Ly.sx = dynamic ? 1.f : q.xscale[l];
    Ly.invSx = 1.0f / Ly.sx;
    Ly.w.assign(static_cast<size_t>(Ly.groups) * Ly.outPad, 0);
    Ly.init.assign(Ly.outPad, 0);
    Ly.wscale.assign(Ly.outPad, 1.f);
    Ly.scale.assign(Ly.outPad, 0.f);
    Ly.bias.assign(Ly.outPad, 0.f);
    const int bits = 32 / P.k;
    const uint32_t mask = (1u << bits) - 1u;
    for (int o = 0; o < D.out; ++o) {
      const int8_t* wr = q.wq[l].data() + static_cast<size_t>(o) * D.in;
      int32_t sum = 0;
      for (int i = 0; i < D.in; ++i) {
        const int g = i / P.k, k = i % P.k;
        uint32_t& word = reinterpret_cast<uint32_t&>(Ly.w[static_cast<size_t>(g) * Ly.outPad + o]);
        word |= (static_cast<uint32_t>(static_cast<int32_t>(wr[i])) & mask) << (bits * k);
        sum += wr[i];
      }
      // vpdpbusd sees the first layer's activations as q + 128: take 128 * sum_i w back out.
      if (vnni && l == 0) Ly.init[o] = -128 * sum;
      Ly.wscale[o] = q.wscale[l][o];
      Ly.scale[o] = Ly.sx * q.wscale[l][o];
      Ly.bias[o] = D.bias[o];
    }
    if (!dynamic && l + 1 < nl) {
      const float inv = 1.0f / q.xscale[l + 1];
      Ly.scaleNext.assign(Ly.outPad, 0.f);
      Ly.biasNext.assign(Ly.outPad, 0.f);
      // The VNNI kernels round y / sx' + 1/2 by truncation (kHalfInBias in kernel_int8_impl.h):
      // rounding the bias once more moves a value by at most half an ulp of it.
      const float half = vnni ? 0.5f : 0.f;
      for (int o = 0; o < D.out; ++o) {
        Ly.scaleNext[o] = Ly.scale[o] * inv;
        Ly.biasNext[o] = Ly.bias[o] * inv + half;
      }
    }
    if (!dynamic && vnni && l + 1 < nl) {
      // |acc| <= 255 * sum |w_q| + |init| whatever the inputs (bytes); see
      // Int8Model::hiddenBounded.
      for (int o = 0; o < D.out; ++o) {
        double sum = 0;
        for (int i = 0; i < D.in; ++i)
          sum += std::abs(static_cast<double>(q.wq[l][static_cast<size_t>(o) * D.in + i]));
        const double bound = (255.0 * sum + std::abs(static_cast<double>(Ly.init[o]))) *
                                 std::abs(static_cast<double>(Ly.scaleNext[o])) +
                             std::abs(static_cast<double>(Ly.biasNext[o]));
        if (!(bound < 2147483520.0)) P.hiddenBounded = false;
      }
    }
    if (amx) packAmx(Ly);
    // 8 zeros past the end of each per-output vector: the AVX2 row path loads whole 8-lane
    // chunks past outPad (kernel_int8_impl.h), and the words past the last group's.
    for (std::vector<float>* v : {&Ly.scale, &Ly.bias, &Ly.scaleNext, &Ly.biasNext})
      if (!v->empty()) v->resize(v->size() + 8, 0.f);
    Ly.init.resize(Ly.init.size() + 8, 0);
    Ly.w.resize(Ly.w.size() + 8, 0);
    P.maxPad = std::max(P.maxPad, Ly.outPad);
    P.bytes += Ly.w.size() * 4 + Ly.init.size() * 4 + (Ly.amxW.size() + Ly.amxInit.size()) * 4 +
               (3 * Ly.outPad + Ly.scaleNext.size() + Ly.biasNext.size()) * sizeof(float);
    P.layers.push_back(std::move(Ly));
  }
  P.bytes += 3 * P.featPad * sizeof(float);
  return P;
}

// Below this many rows a call runs on the calling thread: waking workers costs more than it saves.
constexpr size_t kMinRowsPerThread = 1024;

}  // namespace

struct CpuInt8Engine::Impl {
  int features = 0;
  SimdPath path = SimdPath::kSse2;
  bool amx = false;
  Int8Activations act = Int8Activations::kStatic;
  Int8Model packed;
  KernelFn kernel = nullptr;
  std::unique_ptr<CpuEngine> fp32;  // the fp32 fallback (QuantSpec::fallback), else null
  mutable std::atomic<uint64_t> overflowRows{0};

  // One range of rows: the int8 kernel, then the rows it left beyond the calibrated range rescored
  // by the fp32 engine on this thread. The range goes kSpan rows at a time, so the rescored rows
  // are still in L2 (re-reading them from memory cost ~100 ns a row), gathered so they take the
  // fp32 engine's batch path. The fp32 engine shares this thread's scratch (threadScratch may move
  // it), so the kernel's is fetched again for every span.
  bool scoreRange(const float* rows, size_t begin, size_t end, float* scores, float* featureErrors,
                  NonFinite mode, size_t words, BadValue* bad,
                  const std::atomic<int64_t>* stopBelow) const {
    if (!fp32)
      return kernel(packed, rows, begin, end, scores, featureErrors, mode, threadScratch(words),
                    bad, stopBelow, nullptr, end);
    constexpr size_t kSpan = 1024;  // a whole number of dynamic blocks, ~116 KB of raw rows
    static_assert(kSpan % kInt8DynamicBlockRows == 0, "spans keep blocks whole");
    thread_local std::vector<size_t> over;
    for (size_t s0 = begin; s0 < end; s0 += kSpan) {
      const size_t s1 = std::min(end, s0 + kSpan);
      over.clear();
      // Prefetching runs on into the next span, as it would over the whole range.
      const bool ok = kernel(packed, rows, s0, s1, scores, featureErrors, mode,
                             threadScratch(words), bad, stopBelow, &over, end);
      rescore(over, rows, scores, featureErrors);
      if (!ok) return false;
    }
    return true;
  }

  // The rows `over` lists, scored by the fp32 engine on this thread.
  void rescore(const std::vector<size_t>& over, const float* rows, float* scores,
               float* featureErrors) const {
    if (over.empty()) return;
    thread_local std::vector<float> gathered, gotScores, gotFe;
    overflowRows.fetch_add(over.size(), std::memory_order_relaxed);
    constexpr size_t kGather = 256;
    const size_t d = static_cast<size_t>(features);
    for (size_t g0 = 0; g0 < over.size(); g0 += kGather) {
      const size_t m = std::min(kGather, over.size() - g0);
      gathered.resize(m * d);
      gotScores.resize(m);
      if (featureErrors) gotFe.resize(m * d);
      for (size_t k = 0; k < m; ++k)
        std::memcpy(gathered.data() + k * d, rows + over[g0 + k] * d, d * sizeof(float));
      // The rows are finite (the kernel flags only valid rows), so no bad value comes back.
      fp32->score(gathered.data(), m, gotScores.data(), featureErrors ? gotFe.data() : nullptr,
                  NonFinite::kNaN, 1);
      for (size_t k = 0; k < m; ++k) {
        const size_t r = over[g0 + k];
        scores[r] = gotScores[k];
        if (featureErrors)
          std::memcpy(featureErrors + r * d, gotFe.data() + k * d, d * sizeof(float));
      }
    }
  }
};

CpuInt8Engine::CpuInt8Engine(const ModelSpec& spec, const QuantSpec& q, Int8Activations act,
                             SimdPath path, Int8Matmul mm)
    : impl_(new Impl) {
  std::string err = spec.validate();
  if (!err.empty()) throw std::invalid_argument("invalid model: " + err);
  QuantSpec checked = q;
  // Dynamic scales are computed per block; any stored static scales are ignored.
  if (act == Int8Activations::kDynamic) checked.xscale.assign(spec.layers.size(), 1.f);
  err = checked.validate(spec);
  if (!err.empty()) throw std::invalid_argument("invalid quantization: " + err);
  if (!int8SimdSupported(path)) path = detectInt8Simd();
  bool amx = false;
  if (path == SimdPath::kAvx512 && mm != Int8Matmul::kVnni && int8AmxSupported()) {
    const char* env = std::getenv("FRAUDSCORE_INT8_AMX");
    amx = mm == Int8Matmul::kAmx || (env && std::strcmp(env, "1") == 0);
  }
  impl_->features = spec.features;
  impl_->path = path;
  impl_->amx = amx;
  impl_->act = act;
  impl_->packed = packInt8(spec, checked, act == Int8Activations::kDynamic, path, amx);
  impl_->kernel = kernelOf(path, amx);
  if (impl_->packed.fallback) impl_->fp32 = std::make_unique<CpuEngine>(spec);
}

CpuInt8Engine::~CpuInt8Engine() = default;

int CpuInt8Engine::features() const {
  return impl_->features;
}
SimdPath CpuInt8Engine::path() const {
  return impl_->path;
}
bool CpuInt8Engine::amx() const {
  return impl_->amx;
}
Int8Activations CpuInt8Engine::activations() const {
  return impl_->act;
}
size_t CpuInt8Engine::packedBytes() const {
  return impl_->packed.bytes;
}
bool CpuInt8Engine::fallback() const {
  return impl_->packed.fallback;
}
uint64_t CpuInt8Engine::fallbackRows() const {
  return impl_->overflowRows.load(std::memory_order_relaxed);
}

BadValue CpuInt8Engine::score(const float* rows, size_t n, float* scores, float* featureErrors,
                              NonFinite mode, int threads) const {
  const Int8Model& P = impl_->packed;
  const Impl& I = *impl_;
  const size_t words = int8ScratchWords(P);
  BadValue result;
  if (n == 0) return result;

  const int poolThreads = threads <= 0 ? poolSize() : threads;
  const size_t useful = std::max<size_t>(1, n / kMinRowsPerThread);
  const int nt = static_cast<int>(std::min<size_t>(poolThreads, useful));
  if (nt <= 1) {
    I.scoreRange(rows, 0, n, scores, featureErrors, mode, words, &result, nullptr);
    return result;
  }

  // Several chunks per thread for balance, each a whole number of dynamic blocks (so a block's
  // scales never depend on the thread count).
  const size_t B = kInt8DynamicBlockRows;
  size_t chunkRows = (n + nt * 4 - 1) / (nt * 4);
  chunkRows = (chunkRows + B - 1) / B * B;
  const size_t chunks = (n + chunkRows - 1) / chunkRows;
  std::atomic<int64_t> firstBad{std::numeric_limits<int64_t>::max()};
  std::mutex badMu;
  parallelFor(chunks, nt, [&](size_t c) {
    const size_t begin = c * chunkRows;
    const size_t end = std::min(n, begin + chunkRows);
    BadValue bad;
    const bool ok =
        I.scoreRange(rows, begin, end, scores, featureErrors, mode, words, &bad, &firstBad);
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

void scoreReferenceInt8Dynamic(const ModelSpec& model, const QuantSpec& q, const float* rows,
                               size_t n, int blockRows, double* scores, double* featureErrors) {
  const int d = model.features;
  const size_t nl = model.layers.size();
  const size_t B = blockRows > 0 ? static_cast<size_t>(blockRows) : n;
  std::vector<std::vector<double>> z, a, b;
  std::vector<char> ok;
  for (size_t b0 = 0; b0 < n; b0 += B) {
    const size_t nb = std::min(B, n - b0);
    z.assign(nb, std::vector<double>(d));
    ok.assign(nb, 1);
    for (size_t r = 0; r < nb; ++r)
      for (int j = 0; j < d; ++j) {
        // z exactly as the engines compute it in fp32 (see quant_ref.cpp).
        float x = rows[(b0 + r) * d + j];
        if (model.transform[j] == Transform::kLog1p) x = std::log1p(x);
        const float inv = static_cast<float>(1.0 / static_cast<double>(model.scale[j]));
        const float v = (x - model.mean[j]) * inv;
        if (!std::isfinite(v)) ok[r] = 0;
        z[r][j] = v;
      }
    a = z;
    for (size_t l = 0; l < nl; ++l) {
      const DenseLayer& L = model.layers[l];
      double mx = 0;
      for (size_t r = 0; r < nb; ++r)
        if (ok[r])
          for (int i = 0; i < L.in; ++i) mx = std::max(mx, std::fabs(a[r][i]));
      const double sx = mx > 0 ? static_cast<double>(static_cast<float>(mx / 127.0)) : 1.0;
      b.assign(nb, std::vector<double>(L.out, 0.0));
      for (size_t r = 0; r < nb; ++r) {
        if (!ok[r]) continue;
        for (int o = 0; o < L.out; ++o) {
          int64_t acc = 0;
          for (int i = 0; i < L.in; ++i) {
            const double qv = std::min(127.0, std::max(-127.0, std::round(a[r][i] / sx)));
            acc += static_cast<int64_t>(qv) * q.wq[l][static_cast<size_t>(o) * L.in + i];
          }
          const double s = static_cast<double>(acc) * (sx * static_cast<double>(q.wscale[l][o])) +
                           static_cast<double>(L.bias[o]);
          b[r][o] = (l + 1 < nl && s < 0) ? 0.0 : s;
        }
      }
      a.swap(b);
    }
    for (size_t r = 0; r < nb; ++r) {
      double* fe = featureErrors ? featureErrors + (b0 + r) * d : nullptr;
      if (!ok[r]) {
        scores[b0 + r] = std::numeric_limits<double>::quiet_NaN();
        if (fe)
          for (int j = 0; j < d; ++j) fe[j] = scores[b0 + r];
        continue;
      }
      double s = 0;
      for (int j = 0; j < d; ++j) {
        const double e = (a[r][j] - z[r][j]) * (a[r][j] - z[r][j]);
        if (fe) fe[j] = e;
        s += e;
      }
      scores[b0 + r] = s / d;
    }
  }
}

}  // namespace fraudscore
