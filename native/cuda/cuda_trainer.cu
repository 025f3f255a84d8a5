// CudaTrainer: forward, backward and Adam for the dense autoencoder, on the GPU.
//
// Each layer's products are one tiled SGEMM kernel with a fused epilogue (bias + ReLU + dropout on
// the forward pass, the ReLU/dropout derivative on the backward pass, split-K atomics for the
// weight gradients). A step is ~4 launches per layer; to keep launch gaps out of small batches the
// whole step is captured once per batch size into a CUDA graph and replayed. Values that change per
// step (the step count, Adam's bias corrections, the dropout stream) live in device memory, so the
// same graph serves every step.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include "copy_pool.h"
#include "cuda_common.cuh"

namespace fraudscore {

namespace {

constexpr int kBM = 64, kBN = 32, kBK = 16, kGemmThreads = 256;
constexpr int kMaxTrainLayers = 32;

enum Epi { kEpiBiasAct = 0, kEpiAtomic = 1, kEpiDerivMask = 2 };

struct StepState {
  int64_t t;       // Adam step count after this step
  float bc1, bc2;  // 1 - beta^t
  float loss;      // the batch loss (sum, divided by n * d in the kernel that adds to it)
};

struct EpiArgs {
  const float* bias;       // kEpiBiasAct
  int relu;                // kEpiBiasAct
  float dropP;             // kEpiBiasAct: dropout rate (0: none)
  uint64_t seed;           // kEpiBiasAct: mixed with the step count and the layer
  const StepState* state;  // kEpiBiasAct: step count for the dropout stream
  const float* mask;       // kEpiDerivMask: the post-activation values of the layer's input
  float keepScale;         // kEpiDerivMask: 1 / (1 - p) of that input's dropout
};

__device__ __forceinline__ uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// C[M x N] = sum_k opA(m, k) opB(k, n), opA(m, k) = TA ? A[k * lda + m] : A[m * lda + k],
// opB(k, n) = TB ? B[n * ldb + k] : B[k * ldb + n]. blockIdx.z takes rows [z * kSlice, ...) of K.
template <bool TA, bool TB, int EPI>
__global__ void __launch_bounds__(kGemmThreads)
    gemmKernel(int M, int N, int K, int kSlice, const float* __restrict__ A, int lda,
               const float* __restrict__ B, int ldb, float* __restrict__ C, int ldc, EpiArgs e) {
  __shared__ float As[kBK][kBM + 1];
  __shared__ float Bs[kBK][kBN + 1];
  const int tid = threadIdx.x;
  const int tx = tid % 8, ty = tid / 8;  // 8 x 32 threads, each 2 rows x 4 columns
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  const int kBegin = blockIdx.z * kSlice;
  const int kEnd = min(K, kBegin + kSlice);
  float acc[2][4] = {};
  for (int k0 = kBegin; k0 < kEnd; k0 += kBK) {
#pragma unroll
    for (int i = 0; i < (kBM * kBK) / kGemmThreads; ++i) {
      const int el = tid + i * kGemmThreads;
      int m, k;
      if (TA) {
        m = el % kBM;
        k = el / kBM;
      } else {
        m = el / kBK;
        k = el % kBK;
      }
      const int gm = m0 + m, gk = k0 + k;
      float v = 0.f;
      if (gm < M && gk < kEnd)
        v = TA ? A[static_cast<int64_t>(gk) * lda + gm] : A[static_cast<int64_t>(gm) * lda + gk];
      As[k][m] = v;
    }
#pragma unroll
    for (int i = 0; i < (kBN * kBK) / kGemmThreads; ++i) {
      const int el = tid + i * kGemmThreads;
      int n, k;
      if (TB) {
        n = el / kBK;
        k = el % kBK;
      } else {
        n = el % kBN;
        k = el / kBN;
      }
      const int gn = n0 + n, gk = k0 + k;
      float v = 0.f;
      if (gn < N && gk < kEnd)
        v = TB ? B[static_cast<int64_t>(gn) * ldb + gk] : B[static_cast<int64_t>(gk) * ldb + gn];
      Bs[k][n] = v;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kBK; ++k) {
      const float a0 = As[k][ty * 2], a1 = As[k][ty * 2 + 1];
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const float b = Bs[k][tx * 4 + c];
        acc[0][c] = fmaf(a0, b, acc[0][c]);
        acc[1][c] = fmaf(a1, b, acc[1][c]);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int gm = m0 + ty * 2 + r;
    if (gm >= M) continue;
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int gn = n0 + tx * 4 + c;
      if (gn >= N) continue;
      float v = acc[r][c];
      float* dst = C + static_cast<int64_t>(gm) * ldc + gn;
      if (EPI == kEpiBiasAct) {
        v += e.bias[gn];
        if (e.relu) v = v > 0.f ? v : 0.f;
        if (e.dropP > 0.f) {
          const uint64_t h = mix64(e.seed ^ mix64(static_cast<uint64_t>(e.state->t)) ^
                                   (static_cast<uint64_t>(gm) * static_cast<uint64_t>(N) + gn));
          const float u = static_cast<float>(h >> 40) * (1.0f / 16777216.0f);
          v = u < e.dropP ? 0.f : v * (1.0f / (1.0f - e.dropP));
        }
        *dst = v;
      } else if (EPI == kEpiAtomic) {
        atomicAdd(dst, v);
      } else {
        // ReLU then inverted dropout: the stored output is > 0 exactly when the unit was active and
        // kept, and its derivative is then 1 / (1 - p); otherwise 0.
        *dst = e.mask[static_cast<int64_t>(gm) * ldc + gn] > 0.f ? v * e.keepScale : 0.f;
      }
    }
  }
}

// dY = 2 (y - z) / (n d) and the loss sum((y - z)^2) / (n d).
__global__ void outputGradKernel(const float* y, const float* z, float* dY, int64_t count,
                                 float inv, StepState* st) {
  __shared__ float part[8];
  float s = 0.f;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float e = y[i] - z[i];
    dY[i] = 2.f * e * inv;
    s = fmaf(e, e, s);
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    float t = 0.f;
    for (int w = 0; w < (blockDim.x >> 5); ++w) t += part[w];
    atomicAdd(&st->loss, t * inv);
  }
}

// db[c] += sum over rows of D[r][c]; block (32 x 8) covers 32 columns and kBiasRows rows.
constexpr int kBiasRows = 512;
__global__ void biasGradKernel(const float* D, int n, int cols, float* db) {
  __shared__ float part[8][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  const int r0 = blockIdx.y * kBiasRows;
  const int r1 = min(n, r0 + kBiasRows);
  float s = 0.f;
  if (c < cols)
    for (int r = r0 + threadIdx.y; r < r1; r += 8) s += D[static_cast<int64_t>(r) * cols + c];
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float t = 0.f;
#pragma unroll
    for (int k = 0; k < 8; ++k) t += part[k][threadIdx.x];
    atomicAdd(db + c, t);
  }
}

__global__ void beginStepKernel(StepState* st, float beta1, float beta2) {
  st->t += 1;
  st->bc1 = static_cast<float>(1.0 - pow(static_cast<double>(beta1), static_cast<double>(st->t)));
  st->bc2 = static_cast<float>(1.0 - pow(static_cast<double>(beta2), static_cast<double>(st->t)));
  st->loss = 0.f;
}

// torch.optim.Adam: g += wd * w; m, v moments; w -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps).
__global__ void adamKernel(float* w, const float* g, float* m, float* v, int64_t count, float lr,
                           float b1, float b2, float eps, float wd, const StepState* st) {
  const float bc1 = st->bc1, sqrtBc2 = sqrtf(st->bc2);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float gi = g[i] + wd * w[i];
    const float mi = b1 * m[i] + (1.f - b1) * gi;
    const float vi = b2 * v[i] + (1.f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] -= (lr / bc1) * mi / (sqrtf(vi) / sqrtBc2 + eps);
  }
}

template <bool TA, bool TB, int EPI>
void gemm(int M, int N, int K, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
          const EpiArgs& e, int splits, cudaStream_t s) {
  const int slice = ((K + splits - 1) / splits + kBK - 1) / kBK * kBK;
  splits = (K + slice - 1) / slice;
  dim3 grid((N + kBN - 1) / kBN, (M + kBM - 1) / kBM, std::max(1, splits));
  gemmKernel<TA, TB, EPI><<<grid, kGemmThreads, 0, s>>>(M, N, K, slice, A, lda, B, ldb, C, ldc, e);
}

}  // namespace

struct CudaTrainer::Impl {
  ModelSpec spec;
  CudaTrainOptions opt;
  int d = 0, L = 0, maxW = 0, sms = 1;
  std::vector<int64_t> wOff, bOff;
  int64_t nParams = 0;
  float* params = nullptr;  // per layer: W [out][in], then b [out]
  float* grads = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  StepState* state = nullptr;
  StepState* hState = nullptr;  // pinned
  // Per batch capacity: z, each layer's output, two delta buffers.
  int cap = 0;
  float* z = nullptr;
  std::vector<float*> acts;
  float* delta[2] = {nullptr, nullptr};
  float* hStage = nullptr;  // pinned copy of the caller's batch
  cudaStream_t stream = nullptr;
  std::map<std::pair<int, bool>, cudaGraphExec_t> graphs;  // (n, update) -> the captured step
  int64_t steps = 0;

  ~Impl() {
    cudaSetDevice(opt.device);
    if (stream) cudaStreamSynchronize(stream);
    for (auto& kv : graphs) cudaGraphExecDestroy(kv.second);
    freeBatch();
    cudaFree(params);
    cudaFree(grads);
    cudaFree(m);
    cudaFree(v);
    cudaFree(state);
    cudaFreeHost(hState);
    if (stream) cudaStreamDestroy(stream);
  }

  void freeBatch() {
    cudaFree(z);
    for (float* a : acts) cudaFree(a);
    acts.clear();
    cudaFree(delta[0]);
    cudaFree(delta[1]);
    cudaFreeHost(hStage);
    z = delta[0] = delta[1] = hStage = nullptr;
    cap = 0;
  }

  void ensureBatch(int n, const char* where) {
    if (n <= cap) return;
    cudaStreamSynchronize(stream);
    for (auto& kv : graphs) cudaGraphExecDestroy(kv.second);
    graphs.clear();
    freeBatch();
    FS_CUDA_CHECK(cudaMalloc(&z, sizeof(float) * n * d), where);
    acts.assign(L, nullptr);
    for (int l = 0; l < L; ++l)
      FS_CUDA_CHECK(cudaMalloc(&acts[l], sizeof(float) * n * spec.layers[l].out), where);
    for (float*& p : delta) FS_CUDA_CHECK(cudaMalloc(&p, sizeof(float) * n * maxW), where);
    FS_CUDA_CHECK(cudaMallocHost(&hStage, sizeof(float) * n * d), where);
    cap = n;
  }

  float dropAfter(int l) const {
    return l < static_cast<int>(opt.dropout.size()) && l + 1 < L ? opt.dropout[l] : 0.f;
  }

  // Enqueues one step (update = Adam after the gradients, else gradients only, without dropout).
  void enqueue(int n, bool update, const char* where) {
    cudaStream_t s = stream;
    const int splitsFor = std::max(1, std::min((n + 255) / 256, sms * 2));
    if (update) {
      beginStepKernel<<<1, 1, 0, s>>>(state, opt.beta1, opt.beta2);
    } else {
      FS_CUDA_CHECK(cudaMemsetAsync(&state->loss, 0, sizeof(float), s), where);
    }
    FS_CUDA_CHECK(cudaMemsetAsync(grads, 0, sizeof(float) * nParams, s), where);
    // Forward.
    const float* x = z;
    for (int l = 0; l < L; ++l) {
      const DenseLayer& Ly = spec.layers[l];
      EpiArgs e{};
      e.bias = params + bOff[l];
      e.relu = l + 1 < L;
      e.dropP = update ? dropAfter(l) : 0.f;
      e.seed = opt.seed * 0x100000001B3ull + static_cast<uint64_t>(l) * 0x9E3779B97F4A7C15ull;
      e.state = state;
      gemm<false, true, kEpiBiasAct>(n, Ly.out, Ly.in, x, Ly.in, params + wOff[l], Ly.in, acts[l],
                                     Ly.out, e, 1, s);
      x = acts[l];
    }
    // Loss and its gradient.
    const int64_t count = static_cast<int64_t>(n) * d;
    const int blocks = static_cast<int>(std::min<int64_t>((count + 255) / 256, sms * 8));
    outputGradKernel<<<blocks, 256, 0, s>>>(acts[L - 1], z, delta[0], count,
                                            1.0f / static_cast<float>(count), state);
    // Backward.
    int cur = 0;
    for (int l = L - 1; l >= 0; --l) {
      const DenseLayer& Ly = spec.layers[l];
      const float* in = l > 0 ? acts[l - 1] : z;
      float* D = delta[cur];
      EpiArgs none{};
      gemm<true, false, kEpiAtomic>(Ly.out, Ly.in, n, D, Ly.out, in, Ly.in, grads + wOff[l], Ly.in,
                                    none, splitsFor, s);
      dim3 bg((Ly.out + 31) / 32, (n + kBiasRows - 1) / kBiasRows);
      biasGradKernel<<<bg, dim3(32, 8), 0, s>>>(D, n, Ly.out, grads + bOff[l]);
      if (l > 0) {
        EpiArgs e{};
        e.mask = acts[l - 1];
        const float p = update ? dropAfter(l - 1) : 0.f;
        e.keepScale = 1.0f / (1.0f - p);
        gemm<false, false, kEpiDerivMask>(n, Ly.in, Ly.out, D, Ly.out, params + wOff[l], Ly.in,
                                          delta[cur ^ 1], Ly.in, e, 1, s);
        cur ^= 1;
      }
    }
    if (update) {
      const int ab = static_cast<int>(std::min<int64_t>((nParams + 255) / 256, sms * 4));
      adamKernel<<<ab, 256, 0, s>>>(params, grads, m, v, nParams, opt.lr, opt.beta1, opt.beta2,
                                    opt.eps, opt.weightDecay, state);
    }
    FS_CUDA_CHECK_LAUNCH("training kernels", where);
  }

  // Runs a step from the batch already in `z`, through the cached graph for (n, update).
  float run(int n, bool update, const char* where) {
    auto key = std::make_pair(n, update);
    auto it = graphs.find(key);
    if (it == graphs.end()) {
      if (graphs.size() >= 8) {
        for (auto& kv : graphs) cudaGraphExecDestroy(kv.second);
        graphs.clear();
      }
      cudaGraph_t g = nullptr;
      FS_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), where);
      try {
        enqueue(n, update, where);
      } catch (...) {
        cudaStreamEndCapture(stream, &g);
        if (g) cudaGraphDestroy(g);
        throw;
      }
      FS_CUDA_CHECK(cudaStreamEndCapture(stream, &g), where);
      cudaGraphExec_t exec = nullptr;
      const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
      cudaGraphDestroy(g);
      if (e != cudaSuccess) cudadetail::fail(e, "cudaGraphInstantiate", where);
      it = graphs.emplace(key, exec).first;
    }
    FS_CUDA_CHECK(cudaGraphLaunch(it->second, stream), where);
    FS_CUDA_CHECK(cudaMemcpyAsync(hState, state, sizeof(StepState), cudaMemcpyDeviceToHost, stream),
                  where);
    FS_CUDA_CHECK(cudaStreamSynchronize(stream), where);
    if (update) ++steps;
    return hState->loss;
  }

  void checkBatch(int n, const char* where) const {
    if (n <= 0)
      throw std::invalid_argument(std::string(where) + ": n must be > 0, got " + std::to_string(n));
    if (static_cast<int64_t>(n) * std::max(d, maxW) > (int64_t(1) << 31) - 1)
      throw std::invalid_argument(std::string(where) + ": batch of " + std::to_string(n) +
                                  " rows is too large");
  }

  // A pinned caller buffer is copied directly; a pageable one through the pinned staging buffer,
  // filled by the copy pool (one core's memcpy is several times slower than the PCIe link).
  void uploadHost(const float* zBatch, int n, const char* where) {
    const size_t bytes = sizeof(float) * static_cast<size_t>(n) * d;
    const float* src = zBatch;
    if (!cudadetail::isPinned(zBatch)) {
      cudadetail::copyPool().copy(hStage, zBatch, bytes);
      src = hStage;
    }
    FS_CUDA_CHECK(cudaMemcpyAsync(z, src, bytes, cudaMemcpyHostToDevice, stream), where);
  }
};

CudaTrainer::CudaTrainer(const ModelSpec& init, const CudaTrainOptions& o) : impl_(new Impl) {
  const char* where = "CudaTrainer";
  const std::string err = init.validate();
  if (!err.empty()) throw std::invalid_argument("invalid model: " + err);
  if (init.layers.size() > static_cast<size_t>(kMaxTrainLayers))
    throw std::invalid_argument("CudaTrainer supports up to " + std::to_string(kMaxTrainLayers) +
                                " layers");
  auto bad = [](float x) { return !std::isfinite(x); };
  if (bad(o.lr) || o.lr <= 0)
    throw std::invalid_argument("lr must be finite and > 0, got " + std::to_string(o.lr));
  if (bad(o.beta1) || o.beta1 < 0 || o.beta1 >= 1)
    throw std::invalid_argument("beta1 must be in [0, 1)");
  if (bad(o.beta2) || o.beta2 < 0 || o.beta2 >= 1)
    throw std::invalid_argument("beta2 must be in [0, 1)");
  if (bad(o.eps) || o.eps <= 0) throw std::invalid_argument("eps must be finite and > 0");
  if (bad(o.weightDecay) || o.weightDecay < 0)
    throw std::invalid_argument("weightDecay must be finite and >= 0");
  for (size_t l = 0; l < o.dropout.size(); ++l)
    if (bad(o.dropout[l]) || o.dropout[l] < 0 || o.dropout[l] >= 1)
      throw std::invalid_argument("dropout[" + std::to_string(l) + "] must be in [0, 1), got " +
                                  std::to_string(o.dropout[l]));
  Impl& I = *impl_;
  I.spec = init;
  I.opt = o;
  I.d = init.features;
  I.L = static_cast<int>(init.layers.size());
  I.maxW = init.features;
  std::vector<float> host;
  for (const DenseLayer& Ly : init.layers) {
    I.maxW = std::max(I.maxW, Ly.out);
    I.wOff.push_back(static_cast<int64_t>(host.size()));
    host.insert(host.end(), Ly.weight.begin(), Ly.weight.end());
    I.bOff.push_back(static_cast<int64_t>(host.size()));
    host.insert(host.end(), Ly.bias.begin(), Ly.bias.end());
  }
  I.nParams = static_cast<int64_t>(host.size());
  cudadetail::useDevice(o.device, where);
  int sms = 0;
  FS_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, o.device), where);
  I.sms = std::max(1, sms);
  FS_CUDA_CHECK(cudaStreamCreateWithFlags(&I.stream, cudaStreamNonBlocking), where);
  const size_t bytes = sizeof(float) * I.nParams;
  FS_CUDA_CHECK(cudaMalloc(&I.params, bytes), where);
  FS_CUDA_CHECK(cudaMalloc(&I.grads, bytes), where);
  FS_CUDA_CHECK(cudaMalloc(&I.m, bytes), where);
  FS_CUDA_CHECK(cudaMalloc(&I.v, bytes), where);
  FS_CUDA_CHECK(cudaMalloc(&I.state, sizeof(StepState)), where);
  FS_CUDA_CHECK(cudaMallocHost(&I.hState, sizeof(StepState)), where);
  FS_CUDA_CHECK(cudaMemcpy(I.params, host.data(), bytes, cudaMemcpyHostToDevice), where);
  FS_CUDA_CHECK(cudaMemset(I.m, 0, bytes), where);
  FS_CUDA_CHECK(cudaMemset(I.v, 0, bytes), where);
  FS_CUDA_CHECK(cudaMemset(I.state, 0, sizeof(StepState)), where);
}

CudaTrainer::~CudaTrainer() = default;

float CudaTrainer::step(const float* zBatch, int n) {
  const char* where = "CudaTrainer.step";
  Impl& I = *impl_;
  I.checkBatch(n, where);
  cudadetail::useDevice(I.opt.device, where);
  I.ensureBatch(n, where);
  I.uploadHost(zBatch, n, where);
  return I.run(n, true, where);
}

float CudaTrainer::stepDevice(const float* dZ, int n) {
  const char* where = "CudaTrainer.stepDevice";
  Impl& I = *impl_;
  I.checkBatch(n, where);
  cudadetail::useDevice(I.opt.device, where);
  I.ensureBatch(n, where);
  FS_CUDA_CHECK(
      cudaMemcpyAsync(I.z, dZ, sizeof(float) * n * I.d, cudaMemcpyDeviceToDevice, I.stream), where);
  return I.run(n, true, where);
}

float CudaTrainer::gradients(const float* zBatch, int n, ModelSpec* grads) {
  const char* where = "CudaTrainer.gradients";
  Impl& I = *impl_;
  I.checkBatch(n, where);
  cudadetail::useDevice(I.opt.device, where);
  I.ensureBatch(n, where);
  I.uploadHost(zBatch, n, where);
  const float loss = I.run(n, false, where);
  std::vector<float> host(I.nParams);
  FS_CUDA_CHECK(cudaMemcpy(host.data(), I.grads, sizeof(float) * I.nParams, cudaMemcpyDeviceToHost),
                where);
  *grads = I.spec;
  for (int l = 0; l < I.L; ++l) {
    DenseLayer& Ly = grads->layers[l];
    std::copy(host.begin() + I.wOff[l], host.begin() + I.wOff[l] + Ly.weight.size(),
              Ly.weight.begin());
    std::copy(host.begin() + I.bOff[l], host.begin() + I.bOff[l] + Ly.bias.size(), Ly.bias.begin());
  }
  return loss;
}

void CudaTrainer::weights(ModelSpec* out) const {
  const char* where = "CudaTrainer.weights";
  const Impl& I = *impl_;
  cudadetail::useDevice(I.opt.device, where);
  std::vector<float> host(I.nParams);
  FS_CUDA_CHECK(cudaStreamSynchronize(I.stream), where);
  FS_CUDA_CHECK(
      cudaMemcpy(host.data(), I.params, sizeof(float) * I.nParams, cudaMemcpyDeviceToHost), where);
  *out = I.spec;
  for (int l = 0; l < I.L; ++l) {
    DenseLayer& Ly = out->layers[l];
    std::copy(host.begin() + I.wOff[l], host.begin() + I.wOff[l] + Ly.weight.size(),
              Ly.weight.begin());
    std::copy(host.begin() + I.bOff[l], host.begin() + I.bOff[l] + Ly.bias.size(), Ly.bias.begin());
  }
}

int64_t CudaTrainer::steps() const {
  return impl_->steps;
}

}  // namespace fraudscore
