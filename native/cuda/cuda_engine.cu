// CudaEngine: model upload, kernel choice, and the host pipeline that streams chunks of a host
// batch through several CUDA streams (upload of chunk k+1 and download of chunk k-1 overlap the
// kernel of chunk k), with pinned staging for pageable caller memory.
#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "copy_pool.h"
#include "cuda_common.cuh"
#include "score_kernels.cuh"

namespace fraudscore {

using namespace cudakernels;

namespace {

// The fp32 fixed kernel variant used unless Options::fixedVariant says otherwise: shared-memory
// weights with one straight-line body per (in, out) size bucket was the fastest at 16M rows on an
// H100 (2.49 G rows/s against 1.36 for the constant-bank kernel;
// bench/results/gpu-2026-11-26-h100.md).
constexpr int kDefaultFixedVariant = kFixedVariantSmemBucket;

template <typename T>
void deviceAlloc(T** p, size_t count, const char* where) {
  FS_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(p), count * sizeof(T)), where);
}

}  // namespace

struct CudaEngine::Impl {
  ModelSpec spec;
  Options opt;
  int d = 0;
  bool fixed = false;
  FixedFp32 fixedFp32{};
  FixedInt8 fixedInt8{};
  Generic generic{};
  size_t genericSmem = 0;
  std::vector<void*> modelBuffers;  // generic path's device-resident model
  size_t modelBytes = 0;
  int sms = 1;

  struct Slot {
    cudaStream_t stream = nullptr;
    cudaEvent_t done = nullptr;
    float* dRows = nullptr;
    float* dScores = nullptr;
    float* dFe = nullptr;
    unsigned long long* dBad = nullptr;
    float* hRows = nullptr;  // pinned staging, allocated when a caller's buffer is pageable
    float* hScores = nullptr;
    float* hFe = nullptr;
    unsigned long long* hBad = nullptr;
    size_t cap = 0, feCap = 0, hRowsCap = 0, hOutCap = 0, hFeCap = 0;
    // The chunk in flight in this slot, finished (copied out) before the slot is reused.
    bool pending = false;
    size_t off = 0, rows = 0;
  };
  std::vector<Slot> slots;
  cudaEvent_t t0 = nullptr, t1 = nullptr;
  std::mutex mu;
  size_t deviceBytes = 0, pinnedBytes = 0;

  ~Impl() {
    cudaSetDevice(opt.device);
    for (Slot& s : slots) {
      if (s.stream) cudaStreamSynchronize(s.stream);
      cudaFree(s.dRows);
      cudaFree(s.dScores);
      cudaFree(s.dFe);
      cudaFree(s.dBad);
      cudaFreeHost(s.hRows);
      cudaFreeHost(s.hScores);
      cudaFreeHost(s.hFe);
      cudaFreeHost(s.hBad);
      if (s.done) cudaEventDestroy(s.done);
      if (s.stream) cudaStreamDestroy(s.stream);
    }
    for (void* p : modelBuffers) cudaFree(p);
    if (t0) cudaEventDestroy(t0);
    if (t1) cudaEventDestroy(t1);
  }

  void fillPrep(Prep& p) const {
    p.d = d;
    p.nLayers = static_cast<int>(spec.layers.size());
    p.log1pMask = 0;
    for (int j = 0; j < d; ++j) {
      p.mean[j] = spec.mean[j];
      p.invScale[j] = static_cast<float>(1.0 / static_cast<double>(spec.scale[j]));
      if (spec.transform[j] == Transform::kLog1p) p.log1pMask |= 1u << j;
    }
    for (size_t l = 0; l < spec.layers.size(); ++l) {
      p.in[l] = spec.layers[l].in;
      p.out[l] = spec.layers[l].out;
    }
  }

  template <typename T>
  const T* upload(const std::vector<T>& v, const char* where) {
    T* p = nullptr;
    deviceAlloc(&p, std::max<size_t>(v.size(), 1), where);
    modelBuffers.push_back(p);
    modelBytes += v.size() * sizeof(T);
    if (!v.empty())
      FS_CUDA_CHECK(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), where);
    return p;
  }

  void buildGeneric(const QuantSpec* q, const char* where) {
    Generic& g = generic;
    g.d = d;
    g.nLayers = static_cast<int>(spec.layers.size());
    int maxW = d;
    std::vector<float> wT, b, scale, invSx;
    std::vector<int> wq;
    std::vector<uint8_t> lg(d);
    for (int j = 0; j < d; ++j) lg[j] = spec.transform[j] == Transform::kLog1p ? 1 : 0;
    std::vector<float> invScale(d);
    for (int j = 0; j < d; ++j)
      invScale[j] = static_cast<float>(1.0 / static_cast<double>(spec.scale[j]));
    for (size_t l = 0; l < spec.layers.size(); ++l) {
      const DenseLayer& L = spec.layers[l];
      maxW = std::max(maxW, L.out);
      g.in[l] = L.in;
      g.out[l] = L.out;
      g.wOff[l] = static_cast<int64_t>(wT.size());
      g.bOff[l] = static_cast<int64_t>(b.size());
      g.qOff[l] = static_cast<int64_t>(wq.size());
      for (int i = 0; i < L.in; ++i)
        for (int o = 0; o < L.out; ++o) wT.push_back(L.weight[static_cast<size_t>(o) * L.in + i]);
      for (int o = 0; o < L.out; ++o) b.push_back(L.bias[o]);
      if (q) {
        const int in4 = (L.in + 3) / 4;
        for (int o = 0; o < L.out; ++o) {
          for (int g4 = 0; g4 < in4; ++g4) {
            uint32_t word = 0;
            for (int k = 0; k < 4; ++k) {
              const int i = 4 * g4 + k;
              const int8_t v = i < L.in ? q->wq[l][static_cast<size_t>(o) * L.in + i] : 0;
              word |= static_cast<uint32_t>(static_cast<uint8_t>(v)) << (8 * k);
            }
            wq.push_back(static_cast<int>(word));
          }
          scale.push_back(q->xscale[l] * q->wscale[l][o]);
        }
        invSx.push_back(1.0f / q->xscale[l]);
      }
    }
    g.maxWidth = (maxW + 3) & ~3;
    g.mean = upload(spec.mean, where);
    g.invScale = upload(invScale, where);
    g.log1p = upload(lg, where);
    g.wT = upload(wT, where);
    g.b = upload(b, where);
    if (q) {
      g.wq = upload(wq, where);
      g.scale = upload(scale, where);
      g.invSx = upload(invSx, where);
    }
    genericSmem = genericSmemBytes(g.maxWidth, d);
    if (genericSmem > 48 * 1024) FS_CUDA_CHECK(genericSetSmemLimit(genericSmem), where);
  }

  void buildFixed(const QuantSpec* q) {
    if (!q) {
      FixedFp32& f = fixedFp32;
      fillPrep(f.prep);
      for (size_t l = 0; l < spec.layers.size(); ++l) {
        const DenseLayer& L = spec.layers[l];
        for (int o = 0; o < L.out; ++o) {
          f.b[l][o] = L.bias[o];
          for (int i = 0; i < L.in; ++i) f.w[l][o][i] = L.weight[static_cast<size_t>(o) * L.in + i];
        }
      }
    } else {
      FixedInt8& f = fixedInt8;
      fillPrep(f.prep);
      for (size_t l = 0; l < spec.layers.size(); ++l) {
        const DenseLayer& L = spec.layers[l];
        f.invSx[l] = 1.0f / q->xscale[l];
        for (int o = 0; o < L.out; ++o) {
          f.b[l][o] = L.bias[o];
          f.scale[l][o] = q->xscale[l] * q->wscale[l][o];
          for (int i = 0; i < L.in; ++i) {
            const int8_t v = q->wq[l][static_cast<size_t>(o) * L.in + i];
            uint32_t& word = reinterpret_cast<uint32_t&>(f.wq[l][o][i / 4]);
            word |= static_cast<uint32_t>(static_cast<uint8_t>(v)) << (8 * (i % 4));
          }
        }
      }
    }
  }

  int variant = kFixedVariantConstR1;

  int blocksFor(size_t n) const {
    if (fixed) {
      const size_t per =
          opt.precision == CudaPrecision::kFp32 ? fixedRowsPerBlock(variant) : kFixedThreads;
      const size_t tiles = (n + per - 1) / per;
      return static_cast<int>(std::min<size_t>(tiles, static_cast<size_t>(sms) * 16));
    }
    const size_t groups = (n + kGenericWarps - 1) / kGenericWarps;
    return static_cast<int>(std::min<size_t>(groups, static_cast<size_t>(sms) * 16));
  }

  void launch(const Io& io, cudaStream_t s, const char* where) {
    if (io.n == 0) return;
    const int blocks = blocksFor(static_cast<size_t>(io.n));
    if (fixed && opt.precision == CudaPrecision::kFp32)
      launchFixedFp32(fixedFp32, variant, io, blocks, s);
    else if (fixed)
      launchFixedInt8(fixedInt8, io, blocks, s);
    else
      launchGeneric(generic, opt.precision == CudaPrecision::kInt8, io, blocks, genericSmem, s);
    FS_CUDA_CHECK_LAUNCH("scoring kernel", where);
  }

  // Grows a slot's device buffers (and, when asked, its pinned staging) to `rows` rows.
  void ensure(Slot& s, size_t rows, bool fe, bool stageRows, bool stageOut, bool stageFe,
              const char* where) {
    auto growDev = [&](float** p, size_t& cap, size_t want) {
      if (cap >= want) return;
      if (*p) {
        cudaFree(*p);
        deviceBytes -= cap * sizeof(float);
      }
      *p = nullptr;
      cap = 0;
      deviceAlloc(p, want, where);
      cap = want;
      deviceBytes += want * sizeof(float);
    };
    auto growHost = [&](float** p, size_t& cap, size_t want) {
      if (cap >= want) return;
      if (*p) {
        cudaFreeHost(*p);
        pinnedBytes -= cap * sizeof(float);
      }
      *p = nullptr;
      cap = 0;
      FS_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(p), want * sizeof(float)), where);
      cap = want;
      pinnedBytes += want * sizeof(float);
    };
    size_t rowsCap = s.cap * d;
    growDev(&s.dRows, rowsCap, rows * d);
    size_t scoresCap = s.cap;
    growDev(&s.dScores, scoresCap, rows);
    s.cap = std::max(s.cap, rows);
    if (fe) {
      size_t feCapF = s.feCap * d;
      growDev(&s.dFe, feCapF, rows * d);
      s.feCap = std::max(s.feCap, rows);
    }
    if (stageRows) {
      size_t c = s.hRowsCap * d;
      growHost(&s.hRows, c, rows * d);
      s.hRowsCap = std::max(s.hRowsCap, rows);
    }
    if (stageOut) growHost(&s.hScores, s.hOutCap, rows);
    if (stageFe) {
      size_t c = s.hFeCap * d;
      growHost(&s.hFe, c, rows * d);
      s.hFeCap = std::max(s.hFeCap, rows);
    }
  }
};

CudaEngine::CudaEngine(const ModelSpec& spec, const Options& options, const QuantSpec* quant)
    : impl_(new Impl) {
  const char* where = "CudaEngine";
  const std::string err = spec.validate();
  if (!err.empty()) throw std::invalid_argument("invalid model: " + err);
  if (options.streams < 2 || options.streams > 16)
    throw std::invalid_argument("options.streams must be in [2, 16], got " +
                                std::to_string(options.streams));
  const bool int8 = options.precision == CudaPrecision::kInt8;
  if (int8) {
    if (!quant)
      throw std::invalid_argument(
          "int8 precision needs a QuantSpec (weights, weight scales, input scales)");
    const std::string qerr = quant->validate(spec);
    if (!qerr.empty()) throw std::invalid_argument("invalid quantization: " + qerr);
  }
  Impl& I = *impl_;
  I.spec = spec;
  I.opt = options;
  I.d = spec.features;
  int maxW = spec.features;
  for (const DenseLayer& L : spec.layers) maxW = std::max(maxW, L.out);
  if (maxW > kGenericMaxWidth)
    throw std::invalid_argument("the CUDA engine supports layer widths up to " +
                                std::to_string(kGenericMaxWidth) + ", this model has " +
                                std::to_string(maxW));
  if (spec.layers.size() > static_cast<size_t>(kGenericMaxLayers))
    throw std::invalid_argument("the CUDA engine supports up to " +
                                std::to_string(kGenericMaxLayers) + " layers, this model has " +
                                std::to_string(spec.layers.size()));
  I.fixed = maxW <= kW && spec.layers.size() <= static_cast<size_t>(kFixedLayers);

  cudadetail::useDevice(options.device, where);
  int sms = 0;
  FS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, options.device),
                where);
  I.sms = std::max(1, sms);
  if (options.fixedVariant < -1 || options.fixedVariant >= kFixedVariantCount)
    throw std::invalid_argument("options.fixedVariant must be in [-1, " +
                                std::to_string(kFixedVariantCount - 1) + "], got " +
                                std::to_string(options.fixedVariant));
  I.variant = options.fixedVariant >= 0 ? options.fixedVariant : kDefaultFixedVariant;
  if (I.fixed) {
    I.buildFixed(int8 ? quant : nullptr);
    FS_CUDA_CHECK(fixedSetSmemLimit(), where);
  } else {
    I.buildGeneric(int8 ? quant : nullptr, where);
  }
  I.slots.resize(options.streams);
  for (Impl::Slot& s : I.slots) {
    FS_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), where);
    FS_CUDA_CHECK(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming), where);
    FS_CUDA_CHECK(cudaMalloc(&s.dBad, sizeof(unsigned long long)), where);
    FS_CUDA_CHECK(cudaMallocHost(&s.hBad, sizeof(unsigned long long)), where);
  }
  FS_CUDA_CHECK(cudaEventCreate(&I.t0), where);
  FS_CUDA_CHECK(cudaEventCreate(&I.t1), where);
}

CudaEngine::~CudaEngine() = default;

int CudaEngine::features() const {
  return impl_->d;
}
int CudaEngine::device() const {
  return impl_->opt.device;
}
CudaPrecision CudaEngine::precision() const {
  return impl_->opt.precision;
}
const char* CudaEngine::kernelName() const {
  if (!impl_->fixed) return "generic";
  if (impl_->opt.precision == CudaPrecision::kInt8) return "fixed32-int8";
  static_assert(kFixedVariantCount == kCudaFixedVariants, "cuda.h and the kernels disagree");
  static const char* const names[kFixedVariantCount] = {"fixed32-const-r1", "fixed32-smemfull-r1",
                                                        "fixed32-smem-bucket"};
  return names[impl_->variant];
}
size_t CudaEngine::deviceBytes() const {
  return impl_->deviceBytes + impl_->modelBytes;
}
size_t CudaEngine::pinnedBytes() const {
  return impl_->pinnedBytes;
}

BadValue CudaEngine::scoreDevice(const float* dRows, size_t n, float* dScores, float* dFe,
                                 NonFinite mode, float* kernelMs) {
  const char* where = "CudaEngine.scoreDevice";
  Impl& I = *impl_;
  std::lock_guard<std::mutex> g(I.mu);
  cudadetail::useDevice(I.opt.device, where);
  BadValue result;
  Impl::Slot& s = I.slots[0];
  FS_CUDA_CHECK(cudaMemsetAsync(s.dBad, 0xff, sizeof(unsigned long long), s.stream), where);
  Io io{dRows, dScores, dFe, static_cast<int64_t>(n), 0, s.dBad, mode == NonFinite::kNaN ? 1 : 0};
  FS_CUDA_CHECK(cudaEventRecord(I.t0, s.stream), where);
  I.launch(io, s.stream, where);
  FS_CUDA_CHECK(cudaEventRecord(I.t1, s.stream), where);
  FS_CUDA_CHECK(
      cudaMemcpyAsync(s.hBad, s.dBad, sizeof(unsigned long long), cudaMemcpyDeviceToHost, s.stream),
      where);
  FS_CUDA_CHECK(cudaStreamSynchronize(s.stream), where);
  if (kernelMs) FS_CUDA_CHECK(cudaEventElapsedTime(kernelMs, I.t0, I.t1), where);
  if (*s.hBad != ULLONG_MAX) {
    result.row = static_cast<int64_t>(*s.hBad / I.d);
    result.col = static_cast<int>(*s.hBad % I.d);
  }
  return result;
}

BadValue CudaEngine::score(const float* rows, size_t n, float* scores, float* featureErrors,
                           NonFinite mode) {
  const char* where = "CudaEngine.score";
  Impl& I = *impl_;
  std::lock_guard<std::mutex> g(I.mu);
  BadValue result;
  if (n == 0) return result;
  cudadetail::useDevice(I.opt.device, where);
  const size_t d = static_cast<size_t>(I.d);
  const bool fe = featureErrors != nullptr;
  const bool stageRows = !cudadetail::isPinned(rows);
  const bool stageOut = !cudadetail::isPinned(scores);
  const bool stageFe = fe && !cudadetail::isPinned(featureErrors);
  size_t chunk = I.opt.chunkRows;
  if (chunk == 0) {
    // Four chunks per call from 128k rows on, so transfers overlap compute; at least 32k rows per
    // chunk (at 65,536 rows, 2 chunks of 32k beat 4 of 16k on an H100: 290 vs 262 M rows/s, the
    // per-chunk cost outweighs the shorter pipeline drain); at most 256k rows (30 MB for 29
    // features) so the staging stays small.
    chunk = std::min<size_t>(std::max<size_t>((n + 3) / 4, 32768), 262144);
  }
  chunk = std::min(chunk, n);
  for (Impl::Slot& s : I.slots) {
    I.ensure(s, chunk, fe, stageRows, stageOut, stageFe, where);
    FS_CUDA_CHECK(cudaMemsetAsync(s.dBad, 0xff, sizeof(unsigned long long), s.stream), where);
    s.pending = false;
  }
  auto finish = [&](Impl::Slot& s) {
    if (!s.pending) return;
    FS_CUDA_CHECK(cudaEventSynchronize(s.done), where);
    if (stageOut) std::memcpy(scores + s.off, s.hScores, s.rows * sizeof(float));
    if (stageFe)
      cudadetail::copyPool().copy(featureErrors + s.off * d, s.hFe, s.rows * d * sizeof(float));
    s.pending = false;
  };
  const int S = static_cast<int>(I.slots.size());
  size_t k = 0;
  // If a call throws halfway, the streams may still run copies into the caller's buffers: wait for
  // them before the exception leaves (the caller frees its arrays after an error).
  try {
    for (size_t off = 0; off < n; off += chunk, ++k) {
      Impl::Slot& s = I.slots[k % S];
      finish(s);
      const size_t m = std::min(chunk, n - off);
      const float* src = rows + off * d;
      if (stageRows) {
        cudadetail::copyPool().copy(s.hRows, src, m * d * sizeof(float));
        src = s.hRows;
      }
      FS_CUDA_CHECK(
          cudaMemcpyAsync(s.dRows, src, m * d * sizeof(float), cudaMemcpyHostToDevice, s.stream),
          where);
      Io io{s.dRows,
            s.dScores,
            fe ? s.dFe : nullptr,
            static_cast<int64_t>(m),
            static_cast<int64_t>(off),
            s.dBad,
            mode == NonFinite::kNaN ? 1 : 0};
      I.launch(io, s.stream, where);
      FS_CUDA_CHECK(cudaMemcpyAsync(stageOut ? s.hScores : scores + off, s.dScores,
                                    m * sizeof(float), cudaMemcpyDeviceToHost, s.stream),
                    where);
      if (fe)
        FS_CUDA_CHECK(cudaMemcpyAsync(stageFe ? s.hFe : featureErrors + off * d, s.dFe,
                                      m * d * sizeof(float), cudaMemcpyDeviceToHost, s.stream),
                      where);
      FS_CUDA_CHECK(cudaEventRecord(s.done, s.stream), where);
      s.pending = true;
      s.off = off;
      s.rows = m;
    }
    unsigned long long bad = ULLONG_MAX;
    for (Impl::Slot& s : I.slots) {
      finish(s);
      FS_CUDA_CHECK(cudaMemcpyAsync(s.hBad, s.dBad, sizeof(unsigned long long),
                                    cudaMemcpyDeviceToHost, s.stream),
                    where);
    }
    for (Impl::Slot& s : I.slots) {
      FS_CUDA_CHECK(cudaStreamSynchronize(s.stream), where);
      bad = std::min(bad, *s.hBad);
    }
    if (bad != ULLONG_MAX) {
      result.row = static_cast<int64_t>(bad / d);
      result.col = static_cast<int>(bad % d);
    }
  } catch (...) {
    for (Impl::Slot& s : I.slots) cudaStreamSynchronize(s.stream);
    throw;
  }
  return result;
}

}  // namespace fraudscore
