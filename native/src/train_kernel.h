// The training kernel: forward + backward of one slice (<= kSliceRows rows) of a minibatch,
// written once with GCC/Clang vector extensions and compiled per instruction set
// (train_kernel_avx512.cpp, train_kernel_avx2.cpp, train_kernel_sse2.cpp) with FS_V floats per
// vector and FS_NS as the namespace. The trainer picks one at run time.
//
// Layout: every width is padded to a multiple of 16 floats (so one layout serves every vector
// width) and the padding holds zeros that stay zero (their gradients are exactly zero).
// Activations are row-major [rows][widthPadded]. Each layer keeps W [outP][inP] (for the input
// gradient, vectorized over inputs) and Wt [inP][outP] (for the forward pass, vectorized over
// outputs): each product is a register tile of R rows x NV vectors fed by broadcasts, like the
// scoring kernel. The weight gradient is a tile of OT outputs x NVI input vectors accumulated over
// the slice's rows in registers, stored once.
//
// This header is shared by the ISA files and the trainer: below the `FS_V` guard is the
// instruction-set-specific part; above it only plain declarations (no standard-library templates,
// so nothing compiled for AVX-512 can leak into baseline code through an ODR-merged inline).
#ifndef FRAUDSCORE_TRAIN_KERNEL_DECLS
#define FRAUDSCORE_TRAIN_KERNEL_DECLS

#include <cstddef>
#include <cstdint>

namespace fraudscore {

constexpr int kMaxTrainLayers = 16;
constexpr int kTrainPad = 16;  // every width is padded to a multiple of this

struct TrainLayerRef {
  int in = 0, out = 0;        // real sizes
  int inP = 0, outP = 0;      // padded to kTrainPad
  const float* W = nullptr;   // [outP][inP]
  const float* Wt = nullptr;  // [inP][outP]
  const float* b = nullptr;   // [outP]
  // Multiplier for the gradient through this layer's output activation where it is > 0: 1, or
  // 1 / (1 - p) when dropout follows this layer (the kept units were scaled by it).
  float gradScale = 1.f;
};

struct TrainNetRef {
  int layers = 0;
  int dP = 0;    // padded feature count
  int maxP = 0;  // widest padded activation
  TrainLayerRef L[kMaxTrainLayers];
  size_t wOff[kMaxTrainLayers];  // offsets of W and b of each layer in a parameter/gradient buffer
  size_t bOff[kMaxTrainLayers];
};

// Floats of scratch sliceGrad needs for rowsMax rows.
inline size_t trainScratchFloats(const TrainNetRef& N, int rowsMax) {
  size_t f = 0;
  for (int l = 0; l < N.layers; ++l) f += static_cast<size_t>(rowsMax) * N.L[l].outP;
  return f + 2 * static_cast<size_t>(rowsMax) * N.maxP;
}

// Forward and backward of `rows` standardized rows z ([rows][dP], zero padded). dropMask is null or
// [rows][L[0].outP] multipliers (0 or 1/(1-p)) applied after the first hidden ReLU. The loss
// gradient at the output is gscale * (y - z). Writes the slice's summed gradient into grad (the
// parameter layout given by wOff/bOff; padding entries written as 0) and returns the sum of
// squared errors over the slice (float, accumulated in a fixed order).
using SliceGradFn = float (*)(const TrainNetRef& N, const float* z, int rows, const float* dropMask,
                              float gscale, float* scratch, float* grad);

#define FS_DECLARE_TRAIN_KERNEL(ns)                                                      \
  namespace ns {                                                                         \
  float sliceGrad(const TrainNetRef& N, const float* z, int rows, const float* dropMask, \
                  float gscale, float* scratch, float* grad);                            \
  }
#if defined(__x86_64__) || defined(_M_X64)
FS_DECLARE_TRAIN_KERNEL(train_avx512)
FS_DECLARE_TRAIN_KERNEL(train_avx2)
#endif
FS_DECLARE_TRAIN_KERNEL(train_sse2)
#undef FS_DECLARE_TRAIN_KERNEL

}  // namespace fraudscore

#endif  // FRAUDSCORE_TRAIN_KERNEL_DECLS

#ifdef FS_V

namespace fraudscore {
namespace FS_NS {

constexpr int V = FS_V;
typedef float vf __attribute__((vector_size(V * sizeof(float))));
// Accumulator registers: 32 vector registers with AVX-512, 16 otherwise.
constexpr int kAcc = (V == 16) ? 24 : 12;

static inline vf loadv(const float* p) {
  vf v;
  __builtin_memcpy(&v, p, sizeof(vf));
  return v;
}
static inline void storev(float* p, vf v) {
  __builtin_memcpy(p, &v, sizeof(vf));
}

constexpr int pow2Floor(int x) {
  return x >= 16 ? 16 : x >= 8 ? 8 : x >= 4 ? 4 : x >= 2 ? 2 : 1;
}

// y[r][0 .. NV*V) = (b or 0) + sum_i x[r][i] * w[i][0 .. NV*V) for R rows; ReLU when asked.
template <int NV, int R>
static inline void tile(const float* __restrict x, int xs, int in, const float* __restrict w,
                        int ws, const float* __restrict b, float* __restrict y, int ys, bool relu) {
  vf acc[R][NV];
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    const vf bv = b ? loadv(b + v * V) : vf{};
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r][v] = bv;
  }
  for (int i = 0; i < in; ++i) {
    vf wv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) wv[v] = loadv(w + static_cast<size_t>(i) * ws + v * V);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const float xv = x[r * xs + i];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] += xv * wv[v];
    }
  }
  const vf zero = {};
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      vf a = acc[r][v];
      if (relu) a = a > zero ? a : zero;
      storev(y + r * ys + v * V, a);
    }
  }
}

// Every row in tiles of R, then R/2, ... down to single rows (slices are multiples of 8 rows
// except a batch's last one).
template <int NV, int R>
static inline void rowTiles(int r, int rows, const float* x, int xs, int in, const float* w, int ws,
                            const float* b, float* y, int ys, bool relu) {
  for (; r + R <= rows; r += R) tile<NV, R>(x + r * xs, xs, in, w, ws, b, y + r * ys, ys, relu);
  if constexpr (R > 1) rowTiles<NV, R / 2>(r, rows, x, xs, in, w, ws, b, y, ys, relu);
}

template <int NV>
static inline void chunk(const float* x, int xs, int in, const float* w, int ws, const float* b,
                         float* y, int ys, bool relu, int rows) {
  constexpr int R = pow2Floor(kAcc / NV);
  rowTiles<NV, R>(0, rows, x, xs, in, w, ws, b, y, ys, relu);
}

// y [rows][outP] = x [rows][>= in] . w [in][outP] (+ b), column chunks of up to 4 vectors.
static void product(const float* x, int xs, int in, const float* w, int outP, const float* b,
                    float* y, int ys, bool relu, int rows) {
  const int nvec = outP / V;
  int c = 0;
  for (; c + 4 <= nvec; c += 4)
    chunk<4>(x, xs, in, w + c * V, outP, b ? b + c * V : nullptr, y + c * V, ys, relu, rows);
  const float* ww = w + c * V;
  const float* bb = b ? b + c * V : nullptr;
  float* yy = y + c * V;
  switch (nvec - c) {
    case 3: chunk<3>(x, xs, in, ww, outP, bb, yy, ys, relu, rows); break;
    case 2: chunk<2>(x, xs, in, ww, outP, bb, yy, ys, relu, rows); break;
    case 1: chunk<1>(x, xs, in, ww, outP, bb, yy, ys, relu, rows); break;
    default: break;
  }
}

// dW[o0 + o][v0*V .. (v0 + NVI)*V) = sum_r g[r][o0 + o] * x[r][...] for OT outputs.
template <int OT, int NVI>
static inline void wgradTile(const float* __restrict g, int gs, int o0, const float* __restrict x,
                             int xs, int v0, int rows, float* __restrict dW, int inP) {
  vf acc[OT][NVI];
#pragma GCC unroll 16
  for (int o = 0; o < OT; ++o)
#pragma GCC unroll 4
    for (int v = 0; v < NVI; ++v) acc[o][v] = vf{};
  for (int r = 0; r < rows; ++r) {
    vf xv[NVI];
#pragma GCC unroll 4
    for (int v = 0; v < NVI; ++v) xv[v] = loadv(x + r * xs + (v0 + v) * V);
    const float* gr = g + r * gs + o0;
#pragma GCC unroll 16
    for (int o = 0; o < OT; ++o) {
      const float gv = gr[o];
#pragma GCC unroll 4
      for (int v = 0; v < NVI; ++v) acc[o][v] += gv * xv[v];
    }
  }
#pragma GCC unroll 16
  for (int o = 0; o < OT; ++o)
#pragma GCC unroll 4
    for (int v = 0; v < NVI; ++v)
      storev(dW + static_cast<size_t>(o0 + o) * inP + (v0 + v) * V, acc[o][v]);
}

// dW [outP][inP] = g^T x over the slice's rows. outP is a multiple of 16, so OT (8 or 4) divides
// it.
static void weightGrad(const float* g, int gs, int outP, const float* x, int xs, int inP, int rows,
                       float* dW) {
  constexpr int OT = (V == 16) ? 8 : 4;
  const int nvi = inP / V;
  for (int o0 = 0; o0 < outP; o0 += OT) {
    int v0 = 0;
    for (; v0 + 2 <= nvi; v0 += 2) wgradTile<OT, 2>(g, gs, o0, x, xs, v0, rows, dW, inP);
    if (v0 < nvi) wgradTile<OT, 1>(g, gs, o0, x, xs, v0, rows, dW, inP);
  }
}

float sliceGrad(const TrainNetRef& N, const float* z, int rows, const float* dropMask, float gscale,
                float* scratch, float* grad) {
  const int nl = N.layers;
  const int dP = N.dP;
  // Activations: act[l] is layer l's output ([rows][outP]); act[nl - 1] is the reconstruction.
  const float* act[kMaxTrainLayers] = {};
  float* p = scratch;
  for (int l = 0; l < nl; ++l) {
    act[l] = p;
    p += static_cast<size_t>(rows) * N.L[l].outP;
  }
  float* gA = p;
  float* gB = p + static_cast<size_t>(rows) * N.maxP;

  // Forward.
  const float* x = z;
  int xs = dP;
  for (int l = 0; l < nl; ++l) {
    const TrainLayerRef& L = N.L[l];
    float* y = const_cast<float*>(act[l]);
    const bool hidden = l + 1 < nl;
    product(x, xs, L.in, L.Wt, L.outP, L.b, y, L.outP, hidden, rows);
    if (l == 0 && dropMask && hidden) {
      const int cnt = rows * L.outP;
      for (int k = 0; k < cnt; k += V) storev(y + k, loadv(y + k) * loadv(dropMask + k));
    }
    x = y;
    xs = L.outP;
  }

  // Output gradient and loss: g = gscale * (y - z); padded lanes are 0 - 0.
  const float* yOut = act[nl - 1];
  vf sse = {};
  for (int r = 0; r < rows; ++r) {
    for (int k = 0; k < dP; k += V) {
      const vf diff = loadv(yOut + r * dP + k) - loadv(z + r * dP + k);
      sse += diff * diff;
      storev(gA + r * dP + k, diff * gscale);
    }
  }

  // Backward: g is dLoss/dh_l ([rows][outP_l]).
  float* g = gA;
  float* gOther = gB;
  for (int l = nl - 1; l >= 0; --l) {
    const TrainLayerRef& L = N.L[l];
    const float* xin = l == 0 ? z : act[l - 1];
    const int xins = L.inP;
    weightGrad(g, L.outP, L.outP, xin, xins, L.inP, rows, grad + N.wOff[l]);
    float* db = grad + N.bOff[l];
    for (int k = 0; k < L.outP; k += V) {
      vf s = {};
      for (int r = 0; r < rows; ++r) s += loadv(g + r * L.outP + k);
      storev(db + k, s);
    }
    if (l == 0) break;
    // dLoss/d(input) = g . W, then through the previous layer's ReLU (and dropout): zero where the
    // activation is 0, scaled by the dropout factor where it was kept.
    product(g, L.outP, L.out, L.W, L.inP, nullptr, gOther, L.inP, false, rows);
    const float s = N.L[l - 1].gradScale;
    const vf zero = {};
    const int cnt = rows * L.inP;
    const float* a = act[l - 1];
    for (int k = 0; k < cnt; k += V) {
      const vf gv = loadv(gOther + k) * s;
      storev(gOther + k, loadv(a + k) > zero ? gv : zero);
    }
    float* t = g;
    g = gOther;
    gOther = t;
  }
  float total = 0.f;
  for (int k = 0; k < V; ++k) total += sse[k];
  return total;
}

}  // namespace FS_NS
}  // namespace fraudscore

#endif  // FS_V
