// The fused CPU scoring kernel, written once with GCC/Clang vector extensions and compiled once per
// instruction set (kernel_avx512.cpp, kernel_avx2.cpp, kernel_sse2.cpp) with FS_V floats per vector
// and FS_NS as the namespace. The engine picks one at run time.
//
// Data flow for a block of up to kBlockRows rows:
//   raw rows -> (log1p?, -mean, *1/std) -> z -> [dense + ReLU]* -> dense -> y -> mean((y - z)^2)
// Each dense layer is a register-tiled product: R rows x NV vectors of outputs are accumulated in
// registers while the transposed weights stream from L1, so every loaded weight vector feeds R FMAs.
#ifndef FS_V
#error "define FS_V (floats per vector) before including kernel_impl.h"
#endif

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernel_api.h"
#include "packed.h"

namespace fraudscore {
namespace FS_NS {

constexpr int V = FS_V;
typedef float vf __attribute__((vector_size(V * sizeof(float))));
// Register budget for accumulators: 32 vector registers with AVX-512, 16 otherwise.
constexpr int kAccRegs = (V == 16) ? 24 : 12;

static inline vf loadv(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(vf));
  return v;
}
static inline void storev(float* p, vf v) { std::memcpy(p, &v, sizeof(vf)); }

// y[r][c0 .. c0 + NV*V) = act(b + x[r] . W) for R rows. x rows have stride xs, weights are the
// layer's transposed [in][ws] block already offset to column c0.
template <int NV, int R>
static inline void tile(const float* __restrict x, int xs, int in, const float* __restrict w, int ws,
                        const float* __restrict b, float* __restrict y, int ys, bool relu) {
  vf acc[R][NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    vf bv = loadv(b + v * V);
#pragma GCC unroll 24
    for (int r = 0; r < R; ++r) acc[r][v] = bv;
  }
  for (int i = 0; i < in; ++i) {
    vf wv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) wv[v] = loadv(w + static_cast<size_t>(i) * ws + v * V);
#pragma GCC unroll 24
    for (int r = 0; r < R; ++r) {
      const float xv = x[r * xs + i];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] += xv * wv[v];
    }
  }
  const vf zero = {};
#pragma GCC unroll 24
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      vf a = acc[r][v];
      if (relu) a = a > zero ? a : zero;
      storev(y + r * ys + v * V, a);
    }
  }
}

// One column chunk of NV vectors over `rows` rows: full R-row tiles, then single rows.
template <int NV>
static inline void chunk(const float* x, int xs, int in, const float* w, int ws, const float* b,
                         float* y, int ys, bool relu, int rows) {
  constexpr int R = kAccRegs / NV > 0 ? kAccRegs / NV : 1;
  int r = 0;
  for (; r + R <= rows; r += R) tile<NV, R>(x + r * xs, xs, in, w, ws, b, y + r * ys, ys, relu);
  for (; r < rows; ++r) tile<NV, 1>(x + r * xs, xs, in, w, ws, b, y + r * ys, ys, relu);
}

static void denseLayer(const PackedLayer& L, const float* x, int xs, float* y, int ys, int rows) {
  const int nvec = L.outPad / V;
  int c = 0;
  // Chunks of 4 vectors (64 outputs with AVX-512), then the remainder.
  for (; c + 4 <= nvec; c += 4)
    chunk<4>(x, xs, L.in, L.wt.get() + c * V, L.outPad, L.bias.get() + c * V, y + c * V, ys, L.relu,
             rows);
  const float* w = L.wt.get() + c * V;
  const float* b = L.bias.get() + c * V;
  float* yy = y + c * V;
  switch (nvec - c) {
    case 3: chunk<3>(x, xs, L.in, w, L.outPad, b, yy, ys, L.relu, rows); break;
    case 2: chunk<2>(x, xs, L.in, w, L.outPad, b, yy, ys, L.relu, rows); break;
    case 1: chunk<1>(x, xs, L.in, w, L.outPad, b, yy, ys, L.relu, rows); break;
    default: break;
  }
}

static inline float hsum(vf v) {
  float s = 0.f;
  for (int k = 0; k < V; ++k) s += v[k];
  return s;
}

// Scores rows [begin, end) of the call. Scratch must hold 3 * kBlockRows * maxPad floats.
// Returns false when it stopped at a bad value (NonFinite::kError); `bad` then holds it.
// `stopBelow` lets the caller stop chunks that start after an already-found bad row.
bool scoreRange(const PackedModel& P, const float* rows, size_t begin, size_t end, float* scores,
                float* featureErrors, NonFinite mode, float* scratch, BadValue* bad,
                const std::atomic<int64_t>* stopBelow) {
  const int d = P.features;
  const int fp = P.featPad;
  const int mp = P.maxPad;
  float* z = scratch;
  float* a = scratch + kBlockRows * mp;
  float* bbuf = a + kBlockRows * mp;
  uint8_t rowBad[kBlockRows];
  const float invD = 1.0f / static_cast<float>(d);
  const float nan = std::numeric_limits<float>::quiet_NaN();

  for (size_t r0 = begin; r0 < end; r0 += kBlockRows) {
    if (stopBelow && stopBelow->load(std::memory_order_relaxed) < static_cast<int64_t>(r0))
      return true;  // an earlier bad row was found elsewhere; this block cannot be the first
    const int nb = static_cast<int>(end - r0 < static_cast<size_t>(kBlockRows) ? end - r0
                                                                                 : kBlockRows);
    // 1. Preprocess into z (stride fp, zero padding so padded lanes contribute nothing).
    for (int r = 0; r < nb; ++r) {
      const float* src = rows + (r0 + r) * static_cast<size_t>(d);
      float* zr = z + r * fp;
      bool ok = true;
      int badCol = -1;
      for (int j = 0; j < d; ++j) {
        float x = src[j];
        if (P.log1p[j]) x = std::log1p(x);
        const float v = (x - P.mean[j]) * P.invScale[j];
        if (!std::isfinite(v)) {
          if (ok) badCol = j;
          ok = false;
        }
        zr[j] = v;
      }
      for (int j = d; j < fp; ++j) zr[j] = 0.f;
      rowBad[r] = ok ? 0 : 1;
      if (!ok) {
        if (mode == NonFinite::kError) {
          bad->row = static_cast<int64_t>(r0) + r;
          bad->col = badCol;
          return false;
        }
        for (int j = 0; j < fp; ++j) zr[j] = 0.f;  // harmless values; the row's result is NaN
      }
    }
    // 2. The MLP, ping-ponging between two buffers.
    const float* x = z;
    int xs = fp;
    float* outs[2] = {a, bbuf};
    int which = 0;
    for (const PackedLayer& L : P.layers) {
      float* y = outs[which];
      denseLayer(L, x, xs, y, mp, nb);
      x = y;
      xs = mp;
      which ^= 1;
    }
    // 3. Squared error against z (padded lanes are zero on both sides).
    for (int r = 0; r < nb; ++r) {
      const float* yr = x + r * xs;
      const float* zr = z + r * fp;
      const size_t row = r0 + r;
      if (rowBad[r]) {
        scores[row] = nan;
        if (featureErrors)
          for (int j = 0; j < d; ++j) featureErrors[row * d + j] = nan;
        continue;
      }
      vf s = {};
      for (int k = 0; k < fp; k += V) {
        vf diff = loadv(yr + k) - loadv(zr + k);
        s += diff * diff;
      }
      scores[row] = hsum(s) * invD;
      if (featureErrors) {
        float* fe = featureErrors + row * d;
        for (int j = 0; j < d; ++j) {
          const float e = yr[j] - zr[j];
          fe[j] = e * e;
        }
      }
    }
  }
  return true;
}

}  // namespace FS_NS
}  // namespace fraudscore

namespace fraudscore {
namespace FS_NS {
// 12 independent FMA chains in named registers (covers the FMA latency on 2 pipes); returns flops
// per iteration. The empty asm keeps the chains live without forcing them to memory.
double fmaLoop(long iters) {
  vf a0 = vf{} + 1.f, a1 = vf{} + 2.f, a2 = vf{} + 3.f, a3 = vf{} + 4.f, a4 = vf{} + 5.f,
     a5 = vf{} + 6.f, a6 = vf{} + 7.f, a7 = vf{} + 8.f, a8 = vf{} + 9.f, a9 = vf{} + 10.f,
     a10 = vf{} + 11.f, a11 = vf{} + 12.f;
  const vf m = vf{} + 0.999999f, c = vf{} + 1e-7f;
  for (long i = 0; i < iters; ++i) {
    a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c;
    a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c;
    a8 = a8 * m + c; a9 = a9 * m + c; a10 = a10 * m + c; a11 = a11 * m + c;
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
  }
  const vf s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  volatile float sink = hsum(s);
  (void)sink;
  return 12.0 * 2 * V;
}
}  // namespace FS_NS
}  // namespace fraudscore
