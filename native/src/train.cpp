// Trainer: minibatch scheduling, gradient reduction, Adam, threads. The arithmetic of one slice of
// a minibatch lives in the per-ISA kernels (train_kernel.h).
#include "fraudscore/train.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "fraudscore/cpu.h"
#include "fraudscore/cuda.h"
#include "packed.h"
#include "rng.h"
#include "train_kernel.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace fraudscore {

namespace {

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline void cpuRelax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#endif
}

// Work sharing for an epoch. The leader (the calling thread) opens phases one after another (the
// input check, then one per minibatch), each a number of units; every thread claims units until
// none are left, and the leader waits until all are done before its serial part (reduction and
// Adam). Units are claimed, not assigned: a helper that the OS has descheduled simply claims fewer,
// so an oversubscribed machine never waits for a thread that is not running, as a barrier would.
// Results do not depend on who ran a unit: a slice's gradient is a function of its rows and the
// weights, which only the leader changes, and only between phases.
class WorkBoard {
 public:
  static constexpr uint32_t kDone = 0xFFFFFFFFu;

  // [leader] Opens phase `gen` (increasing; kDone tells the helpers to exit).
  void publish(uint32_t gen) {
    done_.store(0, std::memory_order_relaxed);
    claim_.store(static_cast<uint64_t>(gen) << 32, std::memory_order_release);
    {
      // Under the lock, so a helper that checks gen_ and goes to sleep cannot miss the change.
      std::lock_guard<std::mutex> lk(mu_);
      gen_.store(gen, std::memory_order_release);
    }
    if (sleepers_.load(std::memory_order_acquire) > 0) cv_.notify_all();
  }

  // Claims the next unit of phase `gen` (< units); false when the phase is used up or over.
  bool claim(uint32_t gen, uint32_t units, uint32_t* unit) {
    uint64_t v = claim_.load(std::memory_order_acquire);
    for (;;) {
      if (static_cast<uint32_t>(v >> 32) != gen || static_cast<uint32_t>(v) >= units) return false;
      if (claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        *unit = static_cast<uint32_t>(v);
        return true;
      }
    }
  }

  // A claimed unit is finished (its results are published to the leader).
  void finished() { done_.fetch_add(1, std::memory_order_release); }

  // [leader] Waits until `units` units of the current phase are finished. A unit takes tens of
  // microseconds, so this spins, then yields to whatever thread still holds one.
  void waitDone(uint32_t units) {
    int spins = 0;
    while (done_.load(std::memory_order_acquire) < units) {
      if (++spins < kSpinsBeforeSleep) {
        cpuRelax();
      } else {
        std::this_thread::yield();
      }
    }
  }

  // [helper] Waits for a phase other than `seen` and returns it: spins about one unit's time, then
  // sleeps so an idle helper hands its core to others.
  uint32_t waitNext(uint32_t seen) {
    for (int spins = 0; spins < kSpinsBeforeSleep; ++spins) {
      const uint32_t g = gen_.load(std::memory_order_acquire);
      if (g != seen) return g;
      cpuRelax();
    }
    std::unique_lock<std::mutex> lk(mu_);
    sleepers_.fetch_add(1, std::memory_order_acq_rel);
    cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen; });
    sleepers_.fetch_sub(1, std::memory_order_acq_rel);
    return gen_.load(std::memory_order_acquire);
  }

 private:
  // ~2000 pauses: a few tens of microseconds, about one unit of work.
  static constexpr int kSpinsBeforeSleep = 2000;
  std::atomic<uint64_t> claim_{0};  // phase << 32 | next unit
  std::atomic<uint32_t> done_{0};
  std::atomic<uint32_t> gen_{0};
  std::atomic<int> sleepers_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

SliceGradFn kernelFor(SimdPath p) {
#if defined(__x86_64__) || defined(_M_X64)
  if (p == SimdPath::kAvx512) return train_avx512::sliceGrad;
  if (p == SimdPath::kAvx2) return train_avx2::sliceGrad;
#endif
  (void)p;
  return train_sse2::sliceGrad;
}

std::string optionsError(const TrainOptions& o) {
  if (!(o.lr > 0.f) || !std::isfinite(o.lr)) return "lr must be finite and > 0";
  if (!(o.weightDecay >= 0.f) || !std::isfinite(o.weightDecay))
    return "weightDecay must be finite and >= 0";
  if (!(o.dropout >= 0.f && o.dropout < 1.f)) return "dropout must be in [0, 1)";
  if (!(o.beta1 >= 0.f && o.beta1 < 1.f)) return "beta1 must be in [0, 1)";
  if (!(o.beta2 >= 0.f && o.beta2 < 1.f)) return "beta2 must be in [0, 1)";
  if (!(o.eps > 0.f) || !std::isfinite(o.eps)) return "eps must be finite and > 0";
  if (o.threads < 1 || o.threads > 1024) return "threads must be in [1, 1024]";
  if (o.batchSize < 1 || o.batchSize > (1 << 24)) return "batchSize must be in [1, 16777216]";
  if (o.cudaDevice < -1) return "cudaDevice must be -1 (CPU) or a device index >= 0";
  return "";
}

}  // namespace

uint32_t dropoutKeepThreshold(float p) {
  const double keep = std::ldexp(1.0 - static_cast<double>(p), 32);
  if (keep >= 4294967295.0) return 0xFFFFFFFFu;
  if (keep <= 0) return 0;
  return static_cast<uint32_t>(std::llround(keep));
}

namespace {
// Dropout masks are a counter-based hash of (seed, step, row, unit), so they do not depend on which
// thread draws them or in what order. One 64-bit hash serves two units (its high half the even
// unit, its low half the odd one): the mask costs one mix per two activations.
uint64_t dropoutKey(uint64_t seed) {
  return mix64(seed ^ 0x6A09E667F3BCC909ull);
}
uint64_t dropoutRowBase(uint64_t key, uint64_t step, uint32_t row) {
  return key + step * 0x9E3779B97F4A7C15ull + (static_cast<uint64_t>(row) << 32);
}
}  // namespace

bool dropoutKeep(uint64_t seed, uint64_t step, uint32_t row, uint32_t unit,
                 uint32_t keepThreshold) {
  const uint64_t h = mix64(dropoutRowBase(dropoutKey(seed), step, row) + (unit >> 1));
  const uint32_t bits = (unit & 1) ? static_cast<uint32_t>(h) : static_cast<uint32_t>(h >> 32);
  return bits < keepThreshold;
}

struct Trainer::Impl {
  ModelSpec spec;  // preprocessing + shapes; the weights in it are stale (see params)
  TrainOptions opt;
  SimdPath path;
  SliceGradFn kernel;
  TrainNetRef net;
  size_t paramCount = 0;  // padded, a multiple of kTrainPad
  int dP = 0;
  std::vector<uint8_t> log1p;
  std::vector<float> invScale;
  AlignedBuf params, wt, adamM, adamV;
  size_t wtOff[kMaxTrainLayers];
  uint64_t step = 0;
  Xoshiro256 rng{0};
  uint32_t keepThreshold = 0xFFFFFFFFu;
  float dropScale = 1.f;
  std::vector<size_t> perm;
  // Per-thread scratch: standardized slice, dropout mask, kernel scratch.
  struct ThreadScratch {
    AlignedBuf z, mask, work;
  };
  std::vector<ThreadScratch> scratch;
  AlignedBuf sliceGrads;  // maxSlices * paramCount
  std::vector<float> sliceLoss;
  int maxSlices = 0;
  // With options.cudaDevice >= 0: the device trainer that takes the steps (it holds the weights
  // and Adam's state; params above stay the initial weights), and one standardized minibatch.
  std::unique_ptr<CudaTrainer> gpu;
  std::vector<float> zBatch;

  void requireCpu(const char* what) const {
    if (gpu)
      throw std::logic_error(std::string(what) +
                             " is not available when the steps run on CUDA (cudaDevice >= 0)");
  }

  // One epoch whose steps run on the device: the rows were checked and perm drawn by the caller.
  // Each minibatch is gathered in perm's order, standardized on the host and stepped there.
  EpochResult gpuEpoch(const float* rows, size_t n, const std::atomic<bool>* cancel) {
    EpochResult res;
    const size_t B = static_cast<size_t>(opt.batchSize);
    const int d = spec.features;
    zBatch.resize(std::min(B, n) * d);
    double lossSum = 0;
    for (size_t b0 = 0; b0 < n; b0 += B) {
      const size_t count = std::min(B, n - b0);
      for (size_t i = 0; i < count; ++i)
        standardize(rows + perm[b0 + i] * d, zBatch.data() + i * d);
      lossSum += static_cast<double>(gpu->step(zBatch.data(), static_cast<int>(count))) *
                 static_cast<double>(count);
      ++res.batches;
      res.rows += count;
      if (cancel && cancel->load(std::memory_order_relaxed)) break;
    }
    res.cancelled = res.rows < n;
    res.loss = res.rows ? lossSum / static_cast<double>(res.rows) : 0.0;
    return res;
  }

  void buildLayout() {
    const int nl = static_cast<int>(spec.layers.size());
    net.layers = nl;
    dP = roundUp(spec.features, kTrainPad);
    net.dP = dP;
    net.maxP = dP;
    size_t off = 0, woff = 0;
    for (int l = 0; l < nl; ++l) {
      const DenseLayer& L = spec.layers[l];
      TrainLayerRef& R = net.L[l];
      R.in = L.in;
      R.out = L.out;
      R.inP = roundUp(L.in, kTrainPad);
      R.outP = roundUp(L.out, kTrainPad);
      net.maxP = std::max(net.maxP, R.outP);
      net.wOff[l] = off;
      off += static_cast<size_t>(R.outP) * R.inP;
      net.bOff[l] = off;
      off += R.outP;
      wtOff[l] = woff;
      woff += static_cast<size_t>(R.outP) * R.inP;
    }
    paramCount = off;
    params = allocAligned(paramCount);
    adamM = allocAligned(paramCount);
    adamV = allocAligned(paramCount);
    wt = allocAligned(std::max<size_t>(woff, 1));
    std::memset(params.get(), 0, paramCount * sizeof(float));
    std::memset(adamM.get(), 0, paramCount * sizeof(float));
    std::memset(adamV.get(), 0, paramCount * sizeof(float));
    std::memset(wt.get(), 0, std::max<size_t>(woff, 1) * sizeof(float));
    for (int l = 0; l < nl; ++l) {
      TrainLayerRef& R = net.L[l];
      R.W = params.get() + net.wOff[l];
      R.b = params.get() + net.bOff[l];
      R.Wt = wt.get() + wtOff[l];
      R.gradScale = (l == 0 && opt.dropout > 0.f && nl > 1) ? dropScale : 1.f;
    }
  }

  void loadWeights(const std::vector<DenseLayer>& layers) {
    for (size_t l = 0; l < layers.size(); ++l) {
      const DenseLayer& L = layers[l];
      const TrainLayerRef& R = net.L[l];
      float* W = params.get() + net.wOff[l];
      float* b = params.get() + net.bOff[l];
      float* Wt = wt.get() + wtOff[l];
      for (int o = 0; o < L.out; ++o) {
        for (int i = 0; i < L.in; ++i) {
          const float w = L.weight[static_cast<size_t>(o) * L.in + i];
          W[static_cast<size_t>(o) * R.inP + i] = w;
          Wt[static_cast<size_t>(i) * R.outP + o] = w;
        }
        b[o] = L.bias[o];
      }
    }
  }

  std::vector<DenseLayer> readWeights() const {
    std::vector<DenseLayer> out(spec.layers.size());
    for (size_t l = 0; l < out.size(); ++l) {
      const TrainLayerRef& R = net.L[l];
      DenseLayer& L = out[l];
      L.in = R.in;
      L.out = R.out;
      L.weight.resize(static_cast<size_t>(R.in) * R.out);
      L.bias.resize(R.out);
      const float* W = params.get() + net.wOff[l];
      const float* b = params.get() + net.bOff[l];
      for (int o = 0; o < R.out; ++o) {
        for (int i = 0; i < R.in; ++i)
          L.weight[static_cast<size_t>(o) * R.in + i] = W[static_cast<size_t>(o) * R.inP + i];
        L.bias[o] = b[o];
      }
    }
    return out;
  }

  void ensureScratch(int threads, int slices) {
    if (static_cast<int>(scratch.size()) < threads) {
      const size_t zf = static_cast<size_t>(kSliceRows) * dP;
      const size_t mf = static_cast<size_t>(kSliceRows) * net.L[0].outP;
      const size_t wf = trainScratchFloats(net, kSliceRows);
      while (static_cast<int>(scratch.size()) < threads) {
        ThreadScratch s;
        s.z = allocAligned(zf);
        s.mask = allocAligned(mf);
        s.work = allocAligned(wf);
        std::memset(s.z.get(), 0, zf * sizeof(float));  // padding columns stay zero
        scratch.push_back(std::move(s));
      }
    }
    if (maxSlices < slices) {
      sliceGrads = allocAligned(static_cast<size_t>(slices) * paramCount);
      sliceLoss.assign(slices, 0.f);
      maxSlices = slices;
    }
  }

  // Standardizes raw row `src` into z (the scoring kernel's arithmetic). Returns the first bad
  // column, or -1.
  int standardize(const float* src, float* z) const {
    int bad = -1;
    for (int j = 0; j < spec.features; ++j) {
      float x = src[j];
      if (log1p[j]) x = std::log1p(x);
      const float v = (x - spec.mean[j]) * invScale[j];
      if (!std::isfinite(v) && bad < 0) bad = j;
      z[j] = v;
    }
    return bad;
  }

  BadValue firstBad(const float* rows, size_t n) const {
    std::vector<float> z(spec.features);
    for (size_t r = 0; r < n; ++r) {
      const int c = standardize(rows + r * spec.features, z.data());
      if (c >= 0) return BadValue{static_cast<int64_t>(r), c};
    }
    return BadValue{};
  }

  // Gradient of slice s of a minibatch whose rows are idx[0 .. count) (positions batchRow0 ..);
  // writes sliceGrads[s] and sliceLoss[s].
  void runSlice(const float* rows, const size_t* idx, const size_t* idxEnd, int count, int s,
                int batchRow0, uint64_t stepNo, bool dropout, float gscale, ThreadScratch& ts) {
    // Shuffled rows are random reads from the whole training set: start loading the rows that
    // follow this slice in the permutation (usually this thread's next slice) now, so they arrive
    // while this slice computes instead of stalling the next gather.
    const size_t rowBytes = static_cast<size_t>(spec.features) * sizeof(float);
    for (const size_t* p = idx + count; p < idxEnd && p < idx + count + kSliceRows; ++p) {
      const char* a = reinterpret_cast<const char*>(rows + *p * static_cast<size_t>(spec.features));
      __builtin_prefetch(a);
      __builtin_prefetch(a + rowBytes - 1);
    }
    float* z = ts.z.get();
    for (int r = 0; r < count; ++r)
      standardize(rows + idx[r] * static_cast<size_t>(spec.features), z + r * dP);
    const float* mask = nullptr;
    if (dropout) {
      // Same bits as dropoutKeep(), with the per-row part hoisted (outP is even).
      const int u = net.L[0].outP;
      float* m = ts.mask.get();
      const uint64_t key = dropoutKey(opt.seed);
      for (int r = 0; r < count; ++r) {
        const uint64_t base = dropoutRowBase(key, stepNo, static_cast<uint32_t>(batchRow0 + r));
        float* mr = m + r * u;
        for (int c = 0; c < u; c += 2) {
          const uint64_t h = mix64(base + static_cast<uint64_t>(c >> 1));
          mr[c] = static_cast<uint32_t>(h >> 32) < keepThreshold ? dropScale : 0.f;
          mr[c + 1] = static_cast<uint32_t>(h) < keepThreshold ? dropScale : 0.f;
        }
      }
      mask = m;
    }
    sliceLoss[s] = kernel(net, z, count, mask, gscale, ts.work.get(),
                          sliceGrads.get() + static_cast<size_t>(s) * paramCount);
  }

  // Sums the slices' gradients for parameters [p0, p1) in slice order and applies Adam there,
  // refreshing the transposed copy of those weights.
  void reduceAndStep(size_t p0, size_t p1, int slices, uint64_t stepNo) {
    float* G = sliceGrads.get();
    float* P = params.get();
    float* M = adamM.get();
    float* Vv = adamV.get();
    // Slice sums accumulate into slice 0's buffer, (((g0 + g1) + g2) + ...) for every thread count.
    // Plain contiguous loops, so the compiler vectorizes them.
    for (int s = 1; s < slices; ++s) {
      const float* Gs = G + static_cast<size_t>(s) * paramCount;
      for (size_t i = p0; i < p1; ++i) G[i] += Gs[i];
    }
    const double t = static_cast<double>(stepNo + 1);
    const double bc1 = 1.0 - std::pow(static_cast<double>(opt.beta1), t);
    const double bc2 = 1.0 - std::pow(static_cast<double>(opt.beta2), t);
    const float stepSize = static_cast<float>(static_cast<double>(opt.lr) / bc1);
    const float bc2Sqrt = static_cast<float>(std::sqrt(bc2));
    const float b1c = 1.f - opt.beta1, b2 = opt.beta2, b2c = 1.f - opt.beta2, eps = opt.eps;
    const float wd = opt.weightDecay;
    for (size_t i = p0; i < p1; ++i) {
      const float g = G[i] + wd * P[i];
      const float m = M[i] + b1c * (g - M[i]);
      const float v = b2 * Vv[i] + b2c * g * g;
      M[i] = m;
      Vv[i] = v;
      P[i] -= stepSize * (m / (std::sqrt(v) / bc2Sqrt + eps));
    }
    // Transposed copy of the weights in [p0, p1), one W row segment at a time.
    for (int l = 0; l < net.layers; ++l) {
      const TrainLayerRef& R = net.L[l];
      const size_t w0 = net.wOff[l], w1 = net.bOff[l];
      const size_t b = std::min(p1, w1);
      float* Wt = wt.get() + wtOff[l];
      for (size_t k = std::max(p0, w0); k < b;) {
        const size_t o = (k - w0) / R.inP;
        size_t i = (k - w0) % R.inP;
        const size_t end = std::min(b, k + (R.inP - i));
        for (; k < end; ++k, ++i) Wt[i * R.outP + o] = P[k];
      }
    }
  }
};

Trainer::Trainer(const ModelSpec& spec, const TrainOptions& options) : impl_(new Impl) {
  std::string err = spec.validate();
  if (!err.empty()) throw std::invalid_argument("invalid model: " + err);
  if (spec.layers.size() > static_cast<size_t>(kMaxTrainLayers))
    throw std::invalid_argument("invalid model: layers has " + std::to_string(spec.layers.size()) +
                                " entries, at most " + std::to_string(kMaxTrainLayers) +
                                " can be trained");
  err = optionsError(options);
  if (!err.empty()) throw std::invalid_argument("invalid options: " + err);
  Impl& m = *impl_;
  m.spec = spec;
  m.opt = options;
  m.path = defaultSimd();
  m.kernel = kernelFor(m.path);
  m.rng = Xoshiro256(options.seed);
  if (options.dropout > 0.f) {
    m.keepThreshold = dropoutKeepThreshold(options.dropout);
    m.dropScale = static_cast<float>(1.0 / (1.0 - static_cast<double>(options.dropout)));
  }
  m.log1p.resize(spec.features);
  m.invScale.resize(spec.features);
  for (int j = 0; j < spec.features; ++j) {
    m.log1p[j] = spec.transform[j] == Transform::kLog1p ? 1 : 0;
    m.invScale[j] = static_cast<float>(1.0 / static_cast<double>(spec.scale[j]));
  }
  m.buildLayout();
  m.loadWeights(spec.layers);
  if (options.cudaDevice >= 0) {
    CudaTrainOptions g;
    g.lr = options.lr;
    g.beta1 = options.beta1;
    g.beta2 = options.beta2;
    g.eps = options.eps;
    g.weightDecay = options.weightDecay;
    if (options.dropout > 0.f && spec.layers.size() > 1) g.dropout = {options.dropout};
    g.seed = options.seed;
    g.device = options.cudaDevice;
    m.gpu = std::make_unique<CudaTrainer>(spec, g);
  }
}

Trainer::~Trainer() = default;

EpochResult Trainer::trainEpoch(const float* rows, size_t n, const std::atomic<bool>* cancel) {
  Impl& m = *impl_;
  EpochResult res;
  if (n == 0) return res;

  // The epoch's order, drawn from a copy of the generator: it is committed only when the epoch
  // runs, so a rejected call (bad input) leaves the trainer exactly as it was.
  Xoshiro256 rng = m.rng;
  m.perm.resize(n);
  for (size_t i = 0; i < n; ++i) m.perm[i] = i;
  for (size_t i = n - 1; i > 0; --i) std::swap(m.perm[i], m.perm[rng.below(i + 1)]);

  if (m.gpu) {
    const BadValue bad = m.firstBad(rows, n);
    if (bad.row >= 0) {
      res.bad = bad;
      return res;
    }
    m.rng = rng;
    return m.gpuEpoch(rows, n, cancel);
  }

  const size_t B = static_cast<size_t>(m.opt.batchSize);
  const size_t batches = (n + B - 1) / B;
  const int maxSlices = static_cast<int>((std::min(B, n) + kSliceRows - 1) / kSliceRows);
  const int T = std::max(1, std::min(m.opt.threads, maxSlices));
  m.ensureScratch(T, maxSlices);
  const bool dropout = m.opt.dropout > 0.f && m.spec.layers.size() > 1;
  const uint64_t step0 = m.step;
  const double d = m.spec.features;
  const int features = m.spec.features;

  // Phase 1 checks the input in chunks; phase 2 + b is minibatch b (one unit per slice).
  constexpr size_t kCheckRows = 8192;
  const size_t checkUnits = (n + kCheckRows - 1) / kCheckRows;
  if (batches > WorkBoard::kDone - 3 || checkUnits > WorkBoard::kDone)
    throw std::invalid_argument("trainEpoch: too many minibatches in one epoch");
  std::vector<BadValue> bads(checkUnits);
  auto batchRows = [&](size_t b) { return static_cast<int>(std::min(B, n - b * B)); };
  auto unitsOf = [&](uint32_t gen) -> uint32_t {
    if (gen == 1) return static_cast<uint32_t>(checkUnits);
    return static_cast<uint32_t>((batchRows(gen - 2) + kSliceRows - 1) / kSliceRows);
  };
  auto runUnit = [&](int t, uint32_t gen, uint32_t u) {
    if (gen == 1) {
      const size_t r0 = u * kCheckRows, r1 = std::min(n, r0 + kCheckRows);
      BadValue bv = m.firstBad(rows + r0 * features, r1 - r0);
      if (bv.row >= 0) bv.row += static_cast<int64_t>(r0);
      bads[u] = bv;
      return;
    }
    const size_t b = gen - 2;
    const int count = batchRows(b);
    const float gscale = static_cast<float>(2.0 / (static_cast<double>(count) * d));
    const int r0 = static_cast<int>(u) * kSliceRows;
    const int rc = std::min(kSliceRows, count - r0);
    m.runSlice(rows, m.perm.data() + b * B + r0, m.perm.data() + n, rc, static_cast<int>(u), r0,
               step0 + b, dropout, gscale, m.scratch[t]);
  };
  WorkBoard board;
  auto runPhase = [&](int t, uint32_t gen) {
    const uint32_t units = unitsOf(gen);
    uint32_t u;
    while (board.claim(gen, units, &u)) {
      runUnit(t, gen, u);
      board.finished();
    }
  };

  std::vector<std::thread> helpers;
  // Helpers never throw (runUnit does not allocate), so joining is always reached.
  try {
    for (int t = 1; t < T; ++t)
      helpers.emplace_back([&, t] {
        uint32_t seen = 0;
        for (;;) {
          const uint32_t g = board.waitNext(seen);
          if (g == WorkBoard::kDone) return;
          seen = g;
          runPhase(t, g);
        }
      });
  } catch (...) {
    board.publish(WorkBoard::kDone);
    for (auto& h : helpers) h.join();
    throw;
  }
  auto leaderPhase = [&](uint32_t gen) {
    board.publish(gen);
    runPhase(0, gen);
    board.waitDone(unitsOf(gen));
  };

  double lossSum = 0;  // sum of squared errors, in batch order
  size_t done = 0, rowsDone = 0;
  leaderPhase(1);
  for (const BadValue& bv : bads) {
    if (bv.row >= 0) {  // chunks are in row order: the first one found is the first bad row
      res.bad = bv;
      break;
    }
  }
  if (res.bad.row < 0) {
    for (size_t b = 0; b < batches; ++b) {
      const uint32_t gen = static_cast<uint32_t>(b + 2);
      leaderPhase(gen);
      const int slices = static_cast<int>(unitsOf(gen));
      m.reduceAndStep(0, m.paramCount, slices, step0 + b);
      double sse = 0;
      for (int s = 0; s < slices; ++s) sse += m.sliceLoss[s];
      lossSum += sse;
      ++done;
      rowsDone += batchRows(b);
      if (cancel && cancel->load(std::memory_order_relaxed)) break;
    }
  }
  board.publish(WorkBoard::kDone);
  for (auto& h : helpers) h.join();
  if (res.bad.row >= 0) return res;

  m.rng = rng;
  m.step = step0 + done;
  res.batches = done;
  res.rows = rowsDone;
  res.cancelled = done < batches;
  res.loss = rowsDone ? lossSum / (static_cast<double>(rowsDone) * d) : 0.0;
  return res;
}

double Trainer::evalLoss(const float* rows, size_t n, BadValue* bad, int threads) const {
  if (bad) *bad = BadValue{};
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  // The scoring kernel computes exactly this loss per row (without dropout): reuse it.
  CpuEngine engine(spec(), impl_->path);
  std::vector<float> scores(n);
  const BadValue b = engine.score(rows, n, scores.data(), nullptr, NonFinite::kError, threads);
  if (b.row >= 0) {
    if (bad) *bad = b;
    return std::numeric_limits<double>::quiet_NaN();
  }
  double s = 0;
  for (float x : scores) s += x;
  return s / static_cast<double>(n);
}

double Trainer::batchGradients(const float* rows, size_t n, bool dropout, uint64_t step,
                               std::vector<DenseLayer>* grads) {
  Impl& m = *impl_;
  m.requireCpu("batchGradients");
  if (n == 0) throw std::invalid_argument("batchGradients needs at least one row");
  const BadValue bad = m.firstBad(rows, n);
  if (bad.row >= 0)
    throw std::invalid_argument("row " + std::to_string(bad.row) + " column " +
                                std::to_string(bad.col) + " is not finite after preprocessing");
  const int slices = static_cast<int>((n + kSliceRows - 1) / kSliceRows);
  m.ensureScratch(1, slices);
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  const double d = m.spec.features;
  const float gscale = static_cast<float>(2.0 / (static_cast<double>(n) * d));
  const bool drop = dropout && m.opt.dropout > 0.f && m.spec.layers.size() > 1;
  for (int s = 0; s < slices; ++s) {
    const int r0 = s * kSliceRows;
    const int rc = static_cast<int>(std::min<size_t>(kSliceRows, n - r0));
    m.runSlice(rows, idx.data() + r0, idx.data() + n, rc, s, r0, step, drop, gscale, m.scratch[0]);
  }
  std::vector<float> sum(m.paramCount);
  double sse = 0;
  for (int s = 0; s < slices; ++s) {
    const float* G = m.sliceGrads.get() + static_cast<size_t>(s) * m.paramCount;
    for (size_t i = 0; i < m.paramCount; ++i) sum[i] += G[i];
    sse += m.sliceLoss[s];
  }
  if (grads) {
    grads->assign(m.spec.layers.size(), DenseLayer{});
    for (size_t l = 0; l < grads->size(); ++l) {
      const TrainLayerRef& R = m.net.L[l];
      DenseLayer& L = (*grads)[l];
      L.in = R.in;
      L.out = R.out;
      L.weight.resize(static_cast<size_t>(R.in) * R.out);
      L.bias.resize(R.out);
      for (int o = 0; o < R.out; ++o) {
        for (int i = 0; i < R.in; ++i)
          L.weight[static_cast<size_t>(o) * R.in + i] =
              sum[m.net.wOff[l] + static_cast<size_t>(o) * R.inP + i];
        L.bias[o] = sum[m.net.bOff[l] + o];
      }
    }
  }
  return sse / (static_cast<double>(n) * d);
}

std::vector<DenseLayer> Trainer::weights() const {
  return spec().layers;
}

ModelSpec Trainer::spec() const {
  ModelSpec s = impl_->spec;
  if (impl_->gpu)
    impl_->gpu->weights(&s);
  else
    s.layers = impl_->readWeights();
  return s;
}

void Trainer::setWeights(const std::vector<DenseLayer>& layers) {
  impl_->requireCpu("setWeights");
  if (layers.size() != impl_->spec.layers.size())
    throw std::invalid_argument("invalid weights: " + std::to_string(layers.size()) +
                                " layers, expected " + std::to_string(impl_->spec.layers.size()));
  ModelSpec s = impl_->spec;
  s.layers = layers;
  const std::string err = s.validate();
  if (!err.empty()) throw std::invalid_argument("invalid weights: " + err);
  for (size_t l = 0; l < layers.size(); ++l)
    if (layers[l].in != impl_->net.L[l].in || layers[l].out != impl_->net.L[l].out)
      throw std::invalid_argument(
          "invalid weights: layers[" + std::to_string(l) + "] is " + std::to_string(layers[l].in) +
          "x" + std::to_string(layers[l].out) + ", expected " + std::to_string(impl_->net.L[l].in) +
          "x" + std::to_string(impl_->net.L[l].out));
  impl_->loadWeights(layers);
}

uint64_t Trainer::steps() const {
  return impl_->gpu ? impl_->gpu->steps() : impl_->step;
}
const TrainOptions& Trainer::options() const {
  return impl_->opt;
}

size_t Trainer::bytes() const {
  const Impl& m = *impl_;
  size_t f = 4 * m.paramCount + static_cast<size_t>(m.maxSlices) * m.paramCount;
  f += m.scratch.size() * (static_cast<size_t>(kSliceRows) * (m.dP + m.net.L[0].outP) +
                           trainScratchFloats(m.net, kSliceRows));
  return f * sizeof(float) + m.perm.capacity() * sizeof(size_t);
}

}  // namespace fraudscore
