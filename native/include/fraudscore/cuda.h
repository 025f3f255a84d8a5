// CUDA backend: fused GPU scoring (fp32 and int8) and a GPU training step.
//
// This header compiles with or without CUDA. In a build without it (WITH_CUDA=OFF, or no nvcc),
// cudaBuilt() is false, cudaInfo() reports "built without CUDA" and every constructor throws a
// CudaError with code ERR_FRAUDSCORE_CUDA_UNAVAILABLE. In a CUDA build the CUDA runtime is linked
// statically, so a process on a machine with no driver still loads: cudaInfo() then says why no
// device answered, and constructors throw the same unavailable error instead of crashing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fraudscore/model.h"
#include "fraudscore/quant.h"

namespace fraudscore {

// A failed CUDA call, or no usable device. code() is stable for callers (JS errors carry it):
//   ERR_FRAUDSCORE_CUDA_UNAVAILABLE  no driver / no device / built without CUDA
//   ERR_FRAUDSCORE_CUDA              a CUDA runtime or device error; status() holds cudaError_t
class CudaError : public std::runtime_error {
 public:
  CudaError(const std::string& what, std::string code, int status)
      : std::runtime_error(what), code_(std::move(code)), status_(status) {}
  const std::string& code() const { return code_; }
  int status() const { return status_; }

 private:
  std::string code_;
  int status_;
};

// True when this library was compiled with the CUDA backend.
bool cudaBuilt();

struct CudaInfo {
  bool built = false;
  bool available = false;
  std::string reason;  // why not available (empty when available)
  int deviceCount = 0;
  int device = -1;
  std::string name;
  int ccMajor = 0, ccMinor = 0;
  int multiprocessors = 0;
  size_t totalMemory = 0, freeMemory = 0;     // bytes
  int driverVersion = 0, runtimeVersion = 0;  // 1000 * major + 10 * minor, as CUDA reports them
};

// [sync] Never throws: every failure is reported through `available` and `reason`.
CudaInfo cudaInfo(int device = 0);

enum class CudaPrecision : uint8_t { kFp32 = 0, kInt8 = 1 };

// Number of variants of the fp32 fixed kernel (CudaEngine::Options::fixedVariant).
constexpr int kCudaFixedVariants = 3;

// A scoring engine bound to one device. Device buffers and pinned host staging buffers are
// allocated on first use, grown when a call needs more, and reused across calls. Calls on one
// engine are serialized by an internal mutex (one engine owns one set of streams); use one engine
// per concurrent caller for overlap between callers.
class CudaEngine {
 public:
  struct Options {
    CudaPrecision precision = CudaPrecision::kFp32;
    int device = 0;
    // Rows per streamed chunk of a host call; 0 picks from the batch size (4 chunks of 32k to 256k
    // rows for large batches, so copies of one chunk overlap the kernel of another).
    size_t chunkRows = 0;
    int streams = 3;  // >= 2: a chunk's upload, kernel and download overlap the neighbours'
    // fp32 "fixed32" kernel variant, -1 for the default, else [0, kCudaFixedVariants): 0 weights in
    // the constant bank with guarded loops, 1 weights in shared memory with the padded product,
    // 2 (the default) shared memory with one straight body per size bucket. All compute the same
    // function; bench_cuda times each (bench/results/gpu-*.md says why the default is the default).
    int fixedVariant = -1;
  };

  // [sync] @throws std::invalid_argument when the spec (or, for int8, the quant spec) is invalid;
  //        CudaError when no device answers or an allocation fails.
  CudaEngine(const ModelSpec& spec, const Options& options, const QuantSpec* quant = nullptr);
  ~CudaEngine();
  CudaEngine(const CudaEngine&) = delete;
  CudaEngine& operator=(const CudaEngine&) = delete;

  // [sync] Scores n raw rows held in host memory (pageable or pinned; pinned buffers are copied
  // directly, pageable ones through pinned staging), streaming chunks through the engine's streams.
  // Same contract as CpuEngine::score: with NonFinite::kError the first bad (row, col) is returned
  // and the outputs are unspecified; with kNaN bad rows score NaN and row -1 is returned.
  // @throws CudaError on a driver or device error.
  BadValue score(const float* rows, size_t n, float* scores, float* featureErrors, NonFinite mode);

  // [sync] Device-resident scoring: every pointer is device memory. Launches on the engine's first
  // stream and waits. kernelMs, when given, receives the kernel time measured with CUDA events.
  BadValue scoreDevice(const float* dRows, size_t n, float* dScores, float* dFeatureErrors,
                       NonFinite mode, float* kernelMs = nullptr);

  int features() const;
  int device() const;
  CudaPrecision precision() const;
  // Which kernel serves this model: "fixed32..." (every width <= 32, up to 6 layers; the suffix
  // names the variant: "-const"/"-smem" weights, "-r1"/"-r2" rows per thread) or "generic" (one
  // warp per row, any width up to 1024).
  const char* kernelName() const;
  // Device and pinned host bytes currently held (for the JS heap's external-memory accounting).
  size_t deviceBytes() const;
  size_t pinnedBytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Hyper-parameters of the GPU training step. Adam as torch.optim.Adam: L2 weight decay added to the
// gradient, bias-corrected moments, eps added to sqrt(v_hat).
struct CudaTrainOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weightDecay = 0.f;
  // Dropout rate after each hidden layer's ReLU (index l = after layers[l]); missing entries are 0.
  // Inverted dropout: kept activations are scaled by 1 / (1 - p) in training.
  std::vector<float> dropout;
  uint64_t seed = 42;  // dropout masks are a pure function of (seed, step, row, unit)
  int device = 0;
};

// Trains the autoencoder on standardized rows z (the network reconstructs its input), MSE loss =
// mean over rows and features of (y - z)^2, as torch.nn.MSELoss. The preprocessing fields of the
// initial spec are kept as they are and returned by weights().
class CudaTrainer {
 public:
  // [sync] @throws std::invalid_argument on a bad spec or option; CudaError when no device answers.
  CudaTrainer(const ModelSpec& init, const CudaTrainOptions& options);
  ~CudaTrainer();
  CudaTrainer(const CudaTrainer&) = delete;
  CudaTrainer& operator=(const CudaTrainer&) = delete;

  // [sync] One Adam step on a batch of n standardized rows (host memory, n * features floats).
  // @returns the batch's loss before the update.
  float step(const float* zBatch, int n);
  // [sync] The same with the batch already in device memory.
  float stepDevice(const float* dZ, int n);
  // [sync] Forward and backward without dropout and without an update: fills grads (shaped like
  // the model: each layer's weight and bias hold dLoss/dW and dLoss/db). @returns the loss.
  float gradients(const float* zBatch, int n, ModelSpec* grads);
  // [sync] Copies the current weights into *out (the initial spec with the trained layers).
  void weights(ModelSpec* out) const;
  int64_t steps() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- Diagnostics and memory helpers for tests and benchmarks
// --------------------------------------

// Measured ceilings of the device, for the benchmark's floors (each a median of several runs).
struct CudaPeaks {
  double d2dGBs = 0;          // device-to-device copy, bytes read + written per second
  double h2dPinnedGBs = 0;    // host-to-device from pinned memory
  double d2hPinnedGBs = 0;    // device-to-host into pinned memory
  double h2dPageableGBs = 0;  // host-to-device from pageable memory
  double fp32Tflops = 0;      // FFMA throughput, 2 FLOPs per FMA
  double dp4aTops = 0;        // dp4a throughput, 8 ops per dp4a
};
// [sync] @throws CudaError when no device answers.
CudaPeaks cudaMeasurePeaks(int device = 0);

// RAII device / pinned-host buffers (bytes). @throws CudaError on failure.
class CudaBuffer {
 public:
  enum Kind { kDevice, kPinnedHost };
  CudaBuffer(size_t bytes, Kind kind, int device = 0);
  ~CudaBuffer();
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
  void* data() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }
  // [sync] Copies between this buffer and host memory (offsets and sizes in bytes).
  void upload(const void* src, size_t bytes, size_t offset = 0);
  void download(void* dst, size_t bytes, size_t offset = 0) const;
  // [sync] Fills with one byte value (tests poison outputs before a run).
  void fill(uint8_t byte);

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  Kind kind_;
  int device_;
};

}  // namespace fraudscore
