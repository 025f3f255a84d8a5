// Scoring kernels; see score_kernels.cuh for their shapes and why.
#include <math.h>

#include <algorithm>

#include "score_kernels.cuh"

namespace fraudscore {
namespace cudakernels {

namespace {

__device__ __forceinline__ void reportBad(const Io& io, int64_t row, int col, int d) {
  atomicMin(io.badKey, static_cast<unsigned long long>(io.rowBase + row) * d + col);
}

// Rounds half away from zero and clamps to [-127, 127] (the contract's q), as an int.
__device__ __forceinline__ int quantize(float x, float invSx) {
  const float q = fminf(fmaxf(roundf(x * invSx), -127.f), 127.f);
  return static_cast<int>(q);
}

__device__ __forceinline__ int pack4(int a, int b, int c, int d) {
  return (a & 0xff) | ((b & 0xff) << 8) | ((c & 0xff) << 16) |
         (static_cast<unsigned>(d & 0xff) << 24);
}

// Coalesced copy of `count` floats from global to shared (16-byte loads when aligned).
__device__ __forceinline__ void loadTile(float* dst, const float* src, int count) {
  if ((reinterpret_cast<uintptr_t>(src) & 15) == 0) {
    const int n4 = count >> 2;
    const float4* s4 = reinterpret_cast<const float4*>(src);
    for (int k = threadIdx.x; k < n4; k += blockDim.x) {
      const float4 v = __ldg(s4 + k);
      dst[4 * k] = v.x;
      dst[4 * k + 1] = v.y;
      dst[4 * k + 2] = v.z;
      dst[4 * k + 3] = v.w;
    }
    for (int k = 4 * n4 + threadIdx.x; k < count; k += blockDim.x) dst[k] = __ldg(src + k);
  } else {
    for (int k = threadIdx.x; k < count; k += blockDim.x) dst[k] = __ldg(src + k);
  }
}

__device__ __forceinline__ void storeTile(float* dst, const float* src, int count) {
  for (int k = threadIdx.x; k < count; k += blockDim.x) dst[k] = src[k];
}

// Preprocesses the thread's row from the shared tile into z (padded lanes 0). Returns the first bad
// column, or -1.
__device__ __forceinline__ int preprocess(const Prep& p, const float* row, float (&z)[kW]) {
  int badCol = -1;
#pragma unroll
  for (int j = 0; j < kW; ++j) {
    if (j < p.d) {
      float x = row[j];
      if ((p.log1pMask >> j) & 1u) x = log1pf(x);
      const float v = (x - p.mean[j]) * p.invScale[j];
      if (!isfinite(v) && badCol < 0) badCol = j;
      z[j] = v;
    } else {
      z[j] = 0.f;
    }
  }
  return badCol;
}

// One fp32 layer with compile-time indices into the parameter's weights.
template <int L>
__device__ __forceinline__ void layerFp32(const FixedFp32& p, float (&a)[kW]) {
  if (L >= p.prep.nLayers) return;
  const bool relu = L + 1 < p.prep.nLayers;
  const int in = p.prep.in[L], out = p.prep.out[L];
  float y[kW];
#pragma unroll
  for (int o = 0; o < kW; ++o) {
    float s = 0.f;
    if (o < out) {
      s = p.b[L][o];
#pragma unroll
      for (int g = 0; g < kW / 8; ++g) {
        if (g * 8 < in) {
#pragma unroll
          for (int k = 0; k < 8; ++k) s = fmaf(p.w[L][o][g * 8 + k], a[g * 8 + k], s);
        }
      }
      if (relu) s = s > 0.f ? s : 0.f;
    }
    y[o] = s;
  }
#pragma unroll
  for (int o = 0; o < kW; ++o) a[o] = y[o];
}

template <int L>
__device__ __forceinline__ void layerInt8(const FixedInt8& p, float (&a)[kW]) {
  if (L >= p.prep.nLayers) return;
  const bool relu = L + 1 < p.prep.nLayers;
  const int in = p.prep.in[L], out = p.prep.out[L];
  const float inv = p.invSx[L];
  int q[kW / 4];
#pragma unroll
  for (int g = 0; g < kW / 4; ++g)
    q[g] = pack4(quantize(a[4 * g], inv), quantize(a[4 * g + 1], inv), quantize(a[4 * g + 2], inv),
                 quantize(a[4 * g + 3], inv));
  float y[kW];
#pragma unroll
  for (int o = 0; o < kW; ++o) {
    float s = 0.f;
    if (o < out) {
      int acc = 0;
#pragma unroll
      for (int g = 0; g < kW / 8; ++g) {
        if (g * 8 < in) {
          acc = __dp4a(q[2 * g], p.wq[L][o][2 * g], acc);
          acc = __dp4a(q[2 * g + 1], p.wq[L][o][2 * g + 1], acc);
        }
      }
      s = fmaf(static_cast<float>(acc), p.scale[L][o], p.b[L][o]);
      if (relu) s = s > 0.f ? s : 0.f;
    }
    y[o] = s;
  }
#pragma unroll
  for (int o = 0; o < kW; ++o) a[o] = y[o];
}

template <typename P>
__device__ __forceinline__ void forwardAll(const P& p, float (&a)[kW]);

template <>
__device__ __forceinline__ void forwardAll(const FixedFp32& p, float (&a)[kW]) {
  static_assert(kFixedLayers == 6, "unroll below lists kFixedLayers layers");
  layerFp32<0>(p, a);
  layerFp32<1>(p, a);
  layerFp32<2>(p, a);
  layerFp32<3>(p, a);
  layerFp32<4>(p, a);
  layerFp32<5>(p, a);
}

template <>
__device__ __forceinline__ void forwardAll(const FixedInt8& p, float (&a)[kW]) {
  layerInt8<0>(p, a);
  layerInt8<1>(p, a);
  layerInt8<2>(p, a);
  layerInt8<3>(p, a);
  layerInt8<4>(p, a);
  layerInt8<5>(p, a);
}

template <typename P>
__global__ void __launch_bounds__(kFixedThreads)
    fixedKernel(const __grid_constant__ P p, const Io io) {
  __shared__ float tile[kFixedThreads * kW];
  const int d = p.prep.d;
  const float invD = 1.0f / static_cast<float>(d);
  for (int64_t t0 = static_cast<int64_t>(blockIdx.x) * kFixedThreads; t0 < io.n;
       t0 += static_cast<int64_t>(gridDim.x) * kFixedThreads) {
    const int rowsHere = io.n - t0 < kFixedThreads ? static_cast<int>(io.n - t0) : kFixedThreads;
    loadTile(tile, io.rows + t0 * d, rowsHere * d);
    __syncthreads();
    const int r = threadIdx.x;
    if (r < rowsHere) {
      float* myRow = tile + r * d;
      float z[kW];
      const int badCol = preprocess(p.prep, myRow, z);
      if (badCol >= 0 && !io.nanMode) {
        reportBad(io, t0 + r, badCol, d);
      } else {
        float a[kW];
#pragma unroll
        for (int j = 0; j < kW; ++j) a[j] = badCol >= 0 ? 0.f : z[j];
        forwardAll(p, a);
        float s = 0.f;
#pragma unroll
        for (int j = 0; j < kW; ++j) {
          if (j < d) {
            const float e = a[j] - z[j];
            // The row's own slot of the tile is free now: stage feature errors there for a
            // coalesced store below.
            if (io.featureErrors) myRow[j] = badCol >= 0 ? __int_as_float(0x7fc00000) : e * e;
            s = fmaf(e, e, s);
          }
        }
        io.scores[t0 + r] = badCol >= 0 ? __int_as_float(0x7fc00000) : s * invD;
      }
    }
    if (io.featureErrors) {
      __syncthreads();
      storeTile(io.featureErrors + t0 * d, tile, rowsHere * d);
    }
    __syncthreads();
  }
}

// ---- fixed fp32 with R rows per thread, weights from the constant bank or shared memory
// ---- fixed fp32 with shared-memory weights ---------------------------------------------------
// The weights are copied once per block into shared memory and read as 16-byte broadcasts (LDS.128
// at compile-time offsets) rather than through the constant cache, which the model's ~12 KB of
// weights overflow; and no branch splits a layer, so the compiler can interleave the outputs'
// independent FMA chains. The machinery below is written for R rows per thread and several weight
// sources because the benchmark compared them; the kept instantiations are listed in kVariants.

// Weight sources / loop shapes of the fixed fp32 kernel (see FixedVariant in the header).
enum Mode { kConstGuarded, kSmemGuarded, kConstFull, kSmemFull, kSmemBucket };

__host__ __device__ constexpr bool usesSmem(int mode) {
  return mode == kSmemGuarded || mode == kSmemFull || mode == kSmemBucket;
}

// Guarded modes skip padded outputs and padded groups of 8 inputs with uniform branches; those
// branches cut the layer into small basic blocks the compiler cannot interleave. Full modes run the
// padded 32 x 32 product straight through (zero weights on the padding), one basic block per layer.
template <int L, int R, int MODE>
__device__ __forceinline__ void layerMulti(const FixedFp32& p, const float4* W4,
                                           float (&a)[R][kW]) {
  if (L >= p.prep.nLayers) return;
  constexpr bool GUARD = MODE == kConstGuarded || MODE == kSmemGuarded;
  const bool relu = L + 1 < p.prep.nLayers;
  const int in = p.prep.in[L], out = p.prep.out[L];
  float y[R][kW];
#pragma unroll
  for (int o = 0; o < kW; ++o) {
    float s[R];
#pragma unroll
    for (int r = 0; r < R; ++r) s[r] = 0.f;
    if (!GUARD || o < out) {
      const float bo = p.b[L][o];
#pragma unroll
      for (int r = 0; r < R; ++r) s[r] = bo;
#pragma unroll
      for (int g = 0; g < kW / 8; ++g) {
        if (!GUARD || g * 8 < in) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int i = g * 8 + h * 4;
            float4 w;
            if (usesSmem(MODE)) {
              w = W4[(L * kW + o) * (kW / 4) + i / 4];
            } else {
              w = make_float4(p.w[L][o][i], p.w[L][o][i + 1], p.w[L][o][i + 2], p.w[L][o][i + 3]);
            }
#pragma unroll
            for (int r = 0; r < R; ++r) {
              s[r] = fmaf(w.x, a[r][i], s[r]);
              s[r] = fmaf(w.y, a[r][i + 1], s[r]);
              s[r] = fmaf(w.z, a[r][i + 2], s[r]);
              s[r] = fmaf(w.w, a[r][i + 3], s[r]);
            }
          }
        }
      }
      if (relu) {
#pragma unroll
        for (int r = 0; r < R; ++r) s[r] = s[r] > 0.f ? s[r] : 0.f;
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) y[r][o] = s[r];
  }
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int o = 0; o < kW; ++o) a[r][o] = y[r][o];
}

// Bucketed layer: IN and OUT are the layer's sizes rounded up to 8, so the body is one straight
// block of exactly the (nearly) useful FMAs; the layer picks its body with one switch.
template <int IN, int OUT>
__device__ __forceinline__ void layerBucket(const float4* W4, const float* bias, bool relu,
                                            float (&a)[1][kW]) {
  float y[OUT];
#pragma unroll
  for (int o = 0; o < OUT; ++o) {
    float s = bias[o];
#pragma unroll
    for (int i = 0; i < IN; i += 4) {
      const float4 w = W4[o * (kW / 4) + i / 4];
      s = fmaf(w.x, a[0][i], s);
      s = fmaf(w.y, a[0][i + 1], s);
      s = fmaf(w.z, a[0][i + 2], s);
      s = fmaf(w.w, a[0][i + 3], s);
    }
    y[o] = relu ? (s > 0.f ? s : 0.f) : s;
  }
#pragma unroll
  for (int o = 0; o < kW; ++o) a[0][o] = o < OUT ? y[o] : 0.f;
}

__device__ __forceinline__ void forwardBucket(const FixedFp32& p, const float4* W4, const float* bS,
                                              float (&a)[1][kW]) {
  const int nL = p.prep.nLayers;
  for (int l = 0; l < nL; ++l) {
    const float4* w = W4 + l * (kW * kW / 4);
    const float* b = bS + l * kW;
    const bool relu = l + 1 < nL;
    const int key = ((p.prep.in[l] + 7) / 8 - 1) * 4 + ((p.prep.out[l] + 7) / 8 - 1);
    switch (key) {
// clang-format off
#define FS_BUCKET(I, O) \
  case ((I) / 8 - 1) * 4 + ((O) / 8 - 1): layerBucket<I, O>(w, b, relu, a); break;
      FS_BUCKET(8, 8)  FS_BUCKET(8, 16)  FS_BUCKET(8, 24)  FS_BUCKET(8, 32)
      FS_BUCKET(16, 8) FS_BUCKET(16, 16) FS_BUCKET(16, 24) FS_BUCKET(16, 32)
      FS_BUCKET(24, 8) FS_BUCKET(24, 16) FS_BUCKET(24, 24) FS_BUCKET(24, 32)
      FS_BUCKET(32, 8) FS_BUCKET(32, 16) FS_BUCKET(32, 24) FS_BUCKET(32, 32)
#undef FS_BUCKET
      default: break;
    }
    // clang-format on
  }
}

template <int R, int MODE>
__global__ void __launch_bounds__(kFixedThreads)
    fixedFp32Multi(const __grid_constant__ FixedFp32 p, const Io io) {
  extern __shared__ float4 smem4[];
  const int d = p.prep.d;
  const float invD = 1.0f / static_cast<float>(d);
  const int nL = p.prep.nLayers;
  const int wVec = usesSmem(MODE) ? nL * kW * kW / 4 : 0;
  const int bVec = MODE == kSmemBucket ? nL * kW / 4 : 0;
  float4* W4 = smem4;
  float* bS = reinterpret_cast<float*>(smem4 + wVec);
  float* tile = reinterpret_cast<float*>(smem4 + wVec + bVec);
  if (usesSmem(MODE)) {
    const float* src = &p.w[0][0][0];
    for (int k = threadIdx.x; k < wVec; k += blockDim.x)
      W4[k] = make_float4(src[4 * k], src[4 * k + 1], src[4 * k + 2], src[4 * k + 3]);
    const float* bsrc = &p.b[0][0];
    for (int k = threadIdx.x; k < 4 * bVec; k += blockDim.x) bS[k] = bsrc[k];
    __syncthreads();
  }
  constexpr int kRows = kFixedThreads * R;
  for (int64_t t0 = static_cast<int64_t>(blockIdx.x) * kRows; t0 < io.n;
       t0 += static_cast<int64_t>(gridDim.x) * kRows) {
    const int rowsHere = io.n - t0 < kRows ? static_cast<int>(io.n - t0) : kRows;
    loadTile(tile, io.rows + t0 * d, rowsHere * d);
    __syncthreads();
    float a[R][kW];
    int state[R];  // -2: no row; -1: finite row; >= 0: first bad column
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int row = threadIdx.x + r * kFixedThreads;
      state[r] = -2;
      float z[kW];
      if (row < rowsHere) {
        state[r] = preprocess(p.prep, tile + row * d, z);
        if (state[r] >= 0 && !io.nanMode) reportBad(io, t0 + row, state[r], d);
      }
#pragma unroll
      for (int j = 0; j < kW; ++j) a[r][j] = state[r] == -1 ? z[j] : 0.f;
    }
    if constexpr (MODE == kSmemBucket) {
      static_assert(R == 1, "the bucketed kernel takes one row per thread");
      forwardBucket(p, W4, bS, a);
    } else {
      layerMulti<0, R, MODE>(p, W4, a);
      layerMulti<1, R, MODE>(p, W4, a);
      layerMulti<2, R, MODE>(p, W4, a);
      layerMulti<3, R, MODE>(p, W4, a);
      layerMulti<4, R, MODE>(p, W4, a);
      layerMulti<5, R, MODE>(p, W4, a);
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int row = threadIdx.x + r * kFixedThreads;
      if (state[r] == -2 || (state[r] >= 0 && !io.nanMode)) continue;
      float* myRow = tile + row * d;
      // z again from the raw row (same operations, same bits) instead of holding it in registers.
      float z[kW];
      preprocess(p.prep, myRow, z);
      const bool bad = state[r] >= 0;
      float s = 0.f;
#pragma unroll
      for (int j = 0; j < kW; ++j) {
        if (j < d) {
          const float e = a[r][j] - z[j];
          if (io.featureErrors) myRow[j] = bad ? __int_as_float(0x7fc00000) : e * e;
          s = fmaf(e, e, s);
        }
      }
      io.scores[t0 + row] = bad ? __int_as_float(0x7fc00000) : s * invD;
    }
    if (io.featureErrors) {
      __syncthreads();
      storeTile(io.featureErrors + t0 * d, tile, rowsHere * d);
    }
    __syncthreads();
  }
}

// ---- generic: one warp per row
// --------------------------------------------------------------------

template <bool INT8>
__global__ void __launch_bounds__(kGenericWarps * 32)
    genericKernel(const __grid_constant__ Generic p, const Io io) {
  extern __shared__ float smem[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int W = p.maxWidth;
  const int d = p.d;
  const int dPad = (d + 3) & ~3;
  float* z = smem + warp * (2 * W + dPad + W / 4);
  float* const act0 = z + dPad;
  float* const act1 = z + dPad + W;
  int* qbuf = reinterpret_cast<int*>(z + dPad + 2 * W);
  const int64_t warpsTotal = static_cast<int64_t>(gridDim.x) * kGenericWarps;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kGenericWarps + warp; row < io.n;
       row += warpsTotal) {
    const float* src = io.rows + row * d;
    int myBad = d;  // first bad column seen by this lane
    for (int j = lane; j < d; j += 32) {
      float x = src[j];
      if (p.log1p[j]) x = log1pf(x);
      const float v = (x - p.mean[j]) * p.invScale[j];
      if (!isfinite(v) && j < myBad) myBad = j;
      z[j] = v;
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1)
      myBad = min(myBad, __shfl_xor_sync(0xffffffffu, myBad, off));
    const bool bad = myBad < d;
    if (bad && !io.nanMode) {
      if (lane == 0) reportBad(io, row, myBad, d);
      continue;
    }
    for (int j = lane; j < W; j += 32) act0[j] = (j < d && !bad) ? z[j] : 0.f;
    __syncwarp();
    int cur = 0;
    for (int l = 0; l < p.nLayers; ++l) {
      const int in = p.in[l], out = p.out[l];
      const bool relu = l + 1 < p.nLayers;
      const float* x = cur ? act1 : act0;
      float* y = cur ? act0 : act1;
      if (INT8) {
        const float inv = p.invSx[l];
        const int in4 = (in + 3) >> 2;
        for (int g = lane; g < in4; g += 32) {
          const int i = 4 * g;
          qbuf[g] = pack4(quantize(x[i], inv), i + 1 < in ? quantize(x[i + 1], inv) : 0,
                          i + 2 < in ? quantize(x[i + 2], inv) : 0,
                          i + 3 < in ? quantize(x[i + 3], inv) : 0);
        }
        __syncwarp();
        const int* wq = p.wq + p.qOff[l];
        const float* sc = p.scale + p.bOff[l];
        const float* b = p.b + p.bOff[l];
        for (int o = lane; o < out; o += 32) {
          int acc = 0;
          const int* wr = wq + static_cast<int64_t>(o) * in4;
          for (int g = 0; g < in4; ++g) acc = __dp4a(qbuf[g], __ldg(wr + g), acc);
          float s = fmaf(static_cast<float>(acc), sc[o], b[o]);
          y[o] = relu ? (s > 0.f ? s : 0.f) : s;
        }
      } else {
        const float* wT = p.wT + p.wOff[l];
        const float* b = p.b + p.bOff[l];
        for (int o = lane; o < out; o += 32) {
          float s = __ldg(b + o);
          for (int i = 0; i < in; ++i)
            s = fmaf(__ldg(wT + static_cast<int64_t>(i) * out + o), x[i], s);
          y[o] = relu ? (s > 0.f ? s : 0.f) : s;
        }
      }
      __syncwarp();
      cur ^= 1;
    }
    const float* yv = cur ? act1 : act0;
    float s = 0.f;
    for (int j = lane; j < d; j += 32) {
      const float e = yv[j] - z[j];
      s = fmaf(e, e, s);
      if (io.featureErrors)
        io.featureErrors[row * d + j] = bad ? __int_as_float(0x7fc00000) : e * e;
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0) io.scores[row] = bad ? __int_as_float(0x7fc00000) : s / static_cast<float>(d);
    __syncwarp();
  }
}

}  // namespace

namespace {
struct VariantInfo {
  int rows;  // rows per thread
  int mode;
};
constexpr VariantInfo kVariants[kFixedVariantCount] = {
    {1, kConstGuarded},  // kFixedVariantConstR1 (fixedKernel)
    {1, kSmemFull},      // kFixedVariantSmemFullR1
    {1, kSmemBucket},    // kFixedVariantSmemBucket
};

template <typename F>
cudaError_t forEachKernel(F&& f) {
  cudaError_t e = f(fixedFp32Multi<1, kSmemFull>);
  if (e != cudaSuccess) return e;
  return f(fixedFp32Multi<1, kSmemBucket>);
}
}  // namespace

int fixedRowsPerBlock(int variant) {
  return kVariants[variant].rows * kFixedThreads;
}

size_t fixedSmemBytes(int variant, int nLayers, int d) {
  const int mode = kVariants[variant].mode;
  size_t bytes = static_cast<size_t>(fixedRowsPerBlock(variant)) * d * sizeof(float);
  if (usesSmem(mode)) bytes += static_cast<size_t>(nLayers) * kW * kW * sizeof(float);
  if (mode == kSmemBucket) bytes += static_cast<size_t>(nLayers) * kW * sizeof(float);
  return bytes;
}

cudaError_t fixedSetSmemLimit() {
  size_t most = 0;
  for (int v = 0; v < kFixedVariantCount; ++v)
    most = std::max(most, fixedSmemBytes(v, kFixedLayers, kW));
  return forEachKernel([&](auto kernel) {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                static_cast<int>(most));
  });
}

void launchFixedFp32(const FixedFp32& p, int variant, const Io& io, int blocks, cudaStream_t s) {
  const size_t smem = fixedSmemBytes(variant, p.prep.nLayers, p.prep.d);
  switch (variant) {
    case kFixedVariantConstR1:
      fixedKernel<FixedFp32><<<blocks, kFixedThreads, 0, s>>>(p, io);
      break;
    case kFixedVariantSmemFullR1:
      fixedFp32Multi<1, kSmemFull><<<blocks, kFixedThreads, smem, s>>>(p, io);
      break;
    default: fixedFp32Multi<1, kSmemBucket><<<blocks, kFixedThreads, smem, s>>>(p, io); break;
  }
}

void launchFixedInt8(const FixedInt8& p, const Io& io, int blocks, cudaStream_t s) {
  fixedKernel<FixedInt8><<<blocks, kFixedThreads, 0, s>>>(p, io);
}

size_t genericSmemBytes(int maxWidth, int d) {
  const int dPad = (d + 3) & ~3;
  return static_cast<size_t>(kGenericWarps) * (2 * maxWidth + dPad + maxWidth / 4) * sizeof(float);
}

cudaError_t genericSetSmemLimit(size_t bytes) {
  cudaError_t e = cudaFuncSetAttribute(
      genericKernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (e != cudaSuccess) return e;
  return cudaFuncSetAttribute(genericKernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(bytes));
}

void launchGeneric(const Generic& p, bool int8, const Io& io, int blocks, size_t smem,
                   cudaStream_t s) {
  if (int8)
    genericKernel<true><<<blocks, kGenericWarps * 32, smem, s>>>(p, io);
  else
    genericKernel<false><<<blocks, kGenericWarps * 32, smem, s>>>(p, io);
}

}  // namespace cudakernels
}  // namespace fraudscore
