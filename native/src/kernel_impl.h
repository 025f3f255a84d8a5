// The fused CPU scoring kernel, written once and compiled once per instruction set
// (kernel_avx512.cpp, kernel_avx2.cpp, kernel_sse2.cpp) with FS_V floats per vector and FS_NS as
// the namespace. The engine picks one at run time. Everything here is `static` or inside FS_NS, so
// no AVX-512 code can be picked by the linker for another translation unit (ODR).
//
//   raw rows -> (log1p?, -mean, *1/std) -> z -> [dense + ReLU]* -> dense -> y -> mean((y - z)^2)
//
// Two layouts of the same arithmetic:
//  - Group path (the throughput path): a block of rowVecs * V rows is transposed so that each
//    vector holds one feature of V rows. A dense layer is then a register tile of T outputs x
//    rowVecs row vectors (tileShapeFor): per input, rowVecs vector loads and T weight broadcasts
//    feed T * rowVecs FMAs; no lane is wasted on padding whatever the layer sizes, and the
//    preprocessing, the finiteness check and the error sum are plain vertical vector code.
//  - Row path (single rows, short tails): one row with features/outputs in lanes, weights in the
//    transposed [in][outPad] layout. A lone row costs ~0.2 us (AVX-512, engine call included)
//    where a padded 16-row group would cost ~1 us.
// Both paths perform the same float operations in the same order for every row (bias, then one
// FMA per input in input order, the same log1p, the error summed in feature order), so a row's
// score is bit-identical whichever path, block position or thread count scored it.
#ifndef FS_V
#error "define FS_V (floats per vector) before including kernel_impl.h"
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernel_api.h"
#include "packed.h"

#if (FS_V == 16 || FS_V == 8) && (defined(__x86_64__) || defined(_M_X64))
#include <immintrin.h>

#include "simd_transpose.h"
#define FS_X86_WIDE 1
#else
#define FS_X86_WIDE 0
#endif

namespace fraudscore {
namespace FS_NS {

constexpr int V = FS_V;
constexpr TileShape kShape = tileShapeFor(V);
constexpr int kTileOut = kShape.out;
constexpr int kRowVecs = kShape.rowVecs;
constexpr int S = kRowVecs * V;  // rows per block; the stride of the block's activation rows

typedef int32_t vi __attribute__((vector_size(V * sizeof(int32_t))));

// ---- per-ISA primitives -------------------------------------------------------------------------
#if FS_V == 16 && FS_X86_WIDE
// GCC 12 reports the _mm512_undefined_ps() inside AVX-512 intrinsics (unpack, shuffle, max) as
// "may be used uninitialized" once they are inlined; those operands are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
typedef __m512 vf;
static inline vf vload(const float* p) {
  return _mm512_loadu_ps(p);
}
static inline void vstore(float* p, vf v) {
  _mm512_storeu_ps(p, v);
}
static inline vf vset1(float x) {
  return _mm512_set1_ps(x);
}
static inline vf vfma(vf a, vf b, vf c) {
  return _mm512_fmadd_ps(a, b, c);
}
// The masked forms (all lanes) avoid GCC 12's false 'may be used uninitialized' on the intrinsics'
// _mm512_undefined_ps(); they compile to the same instructions.
static inline vf vmax0(vf a) {
  return _mm512_maskz_max_ps(0xFFFF, a, _mm512_setzero_ps());
}
static inline float sfma(float a, float b, float c) {
  return __builtin_fmaf(a, b, c);
}
// Transposes V rows (features [c, c + cnt) of each, rows `d` floats apart) into cnt vectors of
// one feature each, stored `S` floats apart in z. In-register 16x16 transpose: 64 shuffles for
// 256 values, about 3x cheaper than 16 gathers on Zen 4 (~20 cycles per vgatherdps zmm).
static inline void transposeRows(const float* src, int d, int cnt, float* z) {
  const __mmask16 m = static_cast<__mmask16>((1u << cnt) - 1);
  __m512 r[16], col[16];
  for (int k = 0; k < 16; ++k) r[k] = _mm512_maskz_loadu_ps(m, src + static_cast<size_t>(k) * d);
  transpose16x16(r, col);
  for (int k = 0; k < cnt; ++k) _mm512_storeu_ps(z + static_cast<size_t>(k) * S, col[k]);
}
#elif FS_V == 8 && FS_X86_WIDE
typedef __m256 vf;
static inline vf vload(const float* p) {
  return _mm256_loadu_ps(p);
}
static inline void vstore(float* p, vf v) {
  _mm256_storeu_ps(p, v);
}
static inline vf vset1(float x) {
  return _mm256_set1_ps(x);
}
static inline vf vfma(vf a, vf b, vf c) {
  return _mm256_fmadd_ps(a, b, c);
}
static inline vf vmax0(vf a) {
  return _mm256_max_ps(a, _mm256_setzero_ps());
}
static inline float sfma(float a, float b, float c) {
  return __builtin_fmaf(a, b, c);
}
// See the AVX-512 version: the classic 8x8 transpose (24 shuffles for 64 values).
static inline void transposeRows(const float* src, int d, int cnt, float* z) {
  alignas(32) static const int32_t kLanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                 0,  0,  0,  0,  0,  0,  0,  0};
  const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLanes + 8 - cnt));
  __m256 r[8];
  for (int k = 0; k < 8; ++k) r[k] = _mm256_maskload_ps(src + static_cast<size_t>(k) * d, m);
  __m256 col[8];
  transpose8x8(r, col);
  for (int k = 0; k < cnt; ++k) _mm256_storeu_ps(z + static_cast<size_t>(k) * S, col[k]);
}
#else
// Portable vectors (SSE2 on x86-64, NEON elsewhere). No FMA is assumed: multiply then add, in both
// the vector and the scalar code, so the two paths still round alike.
typedef float vf __attribute__((vector_size(V * sizeof(float))));
static inline vf vload(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof(vf));
  return v;
}
static inline void vstore(float* p, vf v) {
  std::memcpy(p, &v, sizeof(vf));
}
static inline vf vset1(float x) {
  return vf{} + x;
}
static inline vf vfma(vf a, vf b, vf c) {
  return a * b + c;
}
static inline vf vmax0(vf a);  // defined after select()
static inline float sfma(float a, float b, float c) {
  return a * b + c;
}
// Transposes V rows (features [c, c + cnt) of each, rows `d` floats apart) into cnt vectors of
// one feature each, stored `S` floats apart in z.
static inline void transposeRows(const float* src, int d, int cnt, float* z) {
  for (int k = 0; k < cnt; ++k)
    for (int r = 0; r < V; ++r)
      z[static_cast<size_t>(k) * S + r] = src[static_cast<size_t>(r) * d + k];
}
#endif

static inline vi asInt(vf v) {
  vi r;
  std::memcpy(&r, &v, sizeof(vi));
  return r;
}
static inline vf asFloat(vi v) {
  vf r;
  std::memcpy(&r, &v, sizeof(vf));
  return r;
}
static inline vf select(vi mask, vf a, vf b) {
  return asFloat((asInt(a) & mask) | (asInt(b) & ~mask));
}
#if !FS_X86_WIDE
static inline vf vmax0(vf a) {
  return select(a > vf{}, a, vf{});
}
#endif

// log1p of every lane, within a few ulp, for lanes with -1 < x < +inf; every other lane (x <= -1,
// +inf, NaN) gets NaN, which the caller reports as a non-finite input, as std::log1p's -inf/NaN/inf
// would be. log(u) for u = 1 + x is Cephes' logf (mantissa in [sqrt(1/2), sqrt(2)), degree-8
// polynomial, ln 2 split in two), and log1p(x) = log(u) * x / (u - 1) recovers the bits of x that
// rounding 1 + x lost (Goldberg's trick).
static inline vf log1pv(vf x) {
  const vf one = vset1(1.f);
  const vf u = x + one;
  const vi bits = asInt(u);
  vi e = ((bits >> 23) & 0xff) - 127;
  vf m = asFloat((bits & 0x007fffff) | 0x3f800000);  // [1, 2)
  const vi big = m > vset1(1.41421356237f);
  m = select(big, m * vset1(0.5f), m);
  e = e - big;  // big is -1 where m was halved
  const vf f = m - one;
  const vf f2 = f * f;
  vf p = vset1(7.0376836292E-2f);
  p = vfma(p, f, vset1(-1.1514610310E-1f));
  p = vfma(p, f, vset1(1.1676998740E-1f));
  p = vfma(p, f, vset1(-1.2420140846E-1f));
  p = vfma(p, f, vset1(1.4249322787E-1f));
  p = vfma(p, f, vset1(-1.6668057665E-1f));
  p = vfma(p, f, vset1(2.0000714765E-1f));
  p = vfma(p, f, vset1(-2.4999993993E-1f));
  p = vfma(p, f, vset1(3.3333331174E-1f));
  const vf ef = __builtin_convertvector(e, vf);
  vf y = p * f * f2;
  y = vfma(ef, vset1(-2.12194440e-4f), y);
  y = vfma(vset1(-0.5f), f2, y);
  vf lg = f + y;
  lg = vfma(ef, vset1(0.693359375f), lg);
  const vf um1 = u - one;
  const vf r = select(um1 == vf{}, x, lg * (x / um1));
  const vi valid = (x > vset1(-1.f)) & (x < vset1(std::numeric_limits<float>::infinity()));
  return select(valid, r, vset1(std::numeric_limits<float>::quiet_NaN()));
}

// ---- row path -----------------------------------------------------------------------------------

// Standardizes one raw row into z (featPad floats, padding 0). Returns the first column whose value
// is not finite (or whose log1p input is out of range), -1 when none.
static int prepRow(const PackedModel& P, const float* src, float* raw, float* z) {
  std::memcpy(raw, src, sizeof(float) * P.features);
  for (int j = P.features; j < P.featPad; ++j) raw[j] = 0.f;
  vf chk = vf{};
  for (int c = 0; c < P.featPad; c += V) {
    vf x = vload(raw + c);
    if (P.log1pChunk[c / V]) {  // log1pv only where a lane needs it (one chunk for Amount)
      vi lm;
      std::memcpy(&lm, P.log1pLane.data() + c, sizeof(vi));
      x = select(lm, log1pv(x), x);
    }
    const vf zv = (x - vload(P.mean.get() + c)) * vload(P.invScale.get() + c);
    chk = vfma(zv, vf{}, chk);  // NaN in a lane iff some z in it is not finite
    vstore(z + c, zv);
  }
  const vi badv = chk != chk;
  bool any = false;
  for (int k = 0; k < V; ++k) any = any || badv[k] != 0;
  if (any)
    for (int j = 0; j < P.features; ++j)
      if (!std::isfinite(z[j])) return j;
  return -1;
}

// NC vectors of one layer's outputs for one row, from column c. Each vector is a chain of one FMA
// per input (latency-bound), so several chains run side by side.
template <int NC>
static inline void rowChunks(const PackedLayer& L, const float* x, float* y, int c) {
  vf acc[NC];
  for (int k = 0; k < NC; ++k) acc[k] = vload(L.bias.get() + c + k * V);
  const float* w = L.wt.get() + c;
  for (int i = 0; i < L.in; ++i) {
    const vf xi = vset1(x[i]);
    const float* wi = w + static_cast<size_t>(i) * L.outPad;
    for (int k = 0; k < NC; ++k) acc[k] = vfma(xi, vload(wi + k * V), acc[k]);
  }
  for (int k = 0; k < NC; ++k) vstore(y + c + k * V, L.relu ? vmax0(acc[k]) : acc[k]);
}

// Scores one standardized row: the layers with outputs in lanes, then the error in feature order.
static float scoreRow(const PackedModel& P, const float* z, float* a, float* b, float* t,
                      float* fe) {
  const float* x = z;
  float* outs[2] = {a, b};
  int which = 0;
  for (const PackedLayer& L : P.layers) {
    float* y = outs[which];
    int c = 0;
    for (; c + 4 * V <= L.outPad; c += 4 * V) rowChunks<4>(L, x, y, c);
    switch ((L.outPad - c) / V) {
      case 3: rowChunks<3>(L, x, y, c); break;
      case 2: rowChunks<2>(L, x, y, c); break;
      case 1: rowChunks<1>(L, x, y, c); break;
      default: break;
    }
    x = y;
    which ^= 1;
  }
  for (int c = 0; c < P.featPad; c += V) vstore(t + c, vload(x + c) - vload(z + c));
  float s = 0.f;
  for (int j = 0; j < P.features; ++j) s = sfma(t[j], t[j], s);
  if (fe)
    for (int j = 0; j < P.features; ++j) fe[j] = t[j] * t[j];
  return s * (1.0f / static_cast<float>(P.features));
}

// ---- group path ---------------------------------------------------------------------------------

// y[o][rows] = act(b[o] + sum_i w[i][o] * x[i][rows]) for NO outputs and NR vectors of rows. x and
// y rows are S floats apart; w is the tile's [in][NO] block.
template <int NO, int NR>
static inline void tile(const float* __restrict x, int in, const float* __restrict w,
                        const float* __restrict bias, float* __restrict y, bool relu) {
  vf acc[NO][NR];
#pragma GCC unroll 16
  for (int o = 0; o < NO; ++o) {
    const vf bo = vset1(bias[o]);
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) acc[o][r] = bo;
  }
  for (int i = 0; i < in; ++i) {
    vf xv[NR];
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r) xv[r] = vload(x + static_cast<size_t>(i) * S + r * V);
#pragma GCC unroll 16
    for (int o = 0; o < NO; ++o) {
      const vf wv = vset1(w[i * NO + o]);
#pragma GCC unroll 8
      for (int r = 0; r < NR; ++r) acc[o][r] = vfma(wv, xv[r], acc[o][r]);
    }
  }
#pragma GCC unroll 16
  for (int o = 0; o < NO; ++o)
#pragma GCC unroll 8
    for (int r = 0; r < NR; ++r)
      vstore(y + static_cast<size_t>(o) * S + r * V, relu ? vmax0(acc[o][r]) : acc[o][r]);
}

// The last tile of a layer whose width is not a multiple of kTileOut: NO = rem, found by recursion.
template <int K, int NR>
static inline void tailTile(int rem, const float* x, int in, const float* w, const float* bias,
                            float* y, bool relu) {
  if constexpr (K > 0) {
    if (rem == K) return tile<K, NR>(x, in, w, bias, y, relu);
    tailTile<K - 1, NR>(rem, x, in, w, bias, y, relu);
  }
}

// Not inlined: inlining every layer's tiles into scoreRange measured 2% slower (one huge function,
// worse register allocation around the tiles).
template <int NR>
__attribute__((noinline)) static void groupLayer(const PackedLayer& L, const float* x, float* y) {
  int o0 = 0;
  const float* w = L.wg.get();
  for (; o0 + kTileOut <= L.out; o0 += kTileOut)
    tile<kTileOut, NR>(x, L.in, w + static_cast<size_t>(o0) * L.in, L.bias.get() + o0,
                       y + static_cast<size_t>(o0) * S, L.relu);
  if (o0 < L.out)
    tailTile<kTileOut - 1, NR>(L.out - o0, x, L.in, w + static_cast<size_t>(o0) * L.in,
                               L.bias.get() + o0, y + static_cast<size_t>(o0) * S, L.relu);
}

// Runs the layers over NR row vectors of the block: z [featPad][S] in, the last layer's output out.
template <int NR>
static const float* groupMlp(const PackedModel& P, const float* z, float* a, float* b) {
  const float* x = z;
  float* outs[2] = {a, b};
  int which = 0;
  for (const PackedLayer& L : P.layers) {
    groupLayer<NR>(L, x, outs[which]);
    x = outs[which];
    which ^= 1;
  }
  return x;
}

// Calls f(std::integral_constant<int, nr>) so per-group arrays (accumulators, finiteness checks,
// error sums) have a compile-time size and stay in registers; a runtime count would keep them on
// the stack, turning each FMA chain into a store-forward chain.
template <class F>
static inline decltype(auto) withNR(int nr, F&& f) {
  static_assert(kRowVecs >= 1 && kRowVecs <= 4, "withNR dispatches 1..4 row vectors");
  switch (nr) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant < int, kRowVecs >= 2 ? 2 : 1 > {});
    case 3: return f(std::integral_constant < int, kRowVecs >= 3 ? 3 : 1 > {});
    default: return f(std::integral_constant<int, kRowVecs>{});
  }
}

// Standardizes the block's NR transposed row vectors in place: z[j] = (log1p?(x[j]) - mean) / std.
// Sets laneBad[r] to -1 for rows holding a non-finite z, 0 otherwise; returns whether any does.
template <int NR>
static bool standardize(const PackedModel& P, float* z, int32_t* laneBad) {
  vf chk[NR];
  for (int g = 0; g < NR; ++g) chk[g] = vf{};
  for (int j = 0; j < P.features; ++j) {
    const vf mean = vset1(P.mean[j]);
    const vf inv = vset1(P.invScale[j]);
    float* zj = z + static_cast<size_t>(j) * S;
    if (P.log1p[j]) {
      for (int g = 0; g < NR; ++g) {
        const vf zv = (log1pv(vload(zj + g * V)) - mean) * inv;
        chk[g] = vfma(zv, vf{}, chk[g]);  // 0 * inf and 0 * NaN are NaN: marks the lane
        vstore(zj + g * V, zv);
      }
    } else {
      for (int g = 0; g < NR; ++g) {
        const vf zv = (vload(zj + g * V) - mean) * inv;
        chk[g] = vfma(zv, vf{}, chk[g]);
        vstore(zj + g * V, zv);
      }
    }
  }
  bool any = false;
  for (int g = 0; g < NR; ++g) {
    const vi badv = chk[g] != chk[g];
    std::memcpy(laneBad + g * V, &badv, sizeof(vi));
    for (int k = 0; k < V; ++k) any = any || badv[k] != 0;
  }
  return any;
}

// Squared error of NR row vectors against z, summed in feature order (each group's sum is its own
// FMA chain; the groups interleave). Writes the NR mean errors to sums; per-feature errors, when
// wanted (kFe), go to fe (row-major, rows r0 + lane, `valid` rows of the block). kFe is a template
// argument so that the version without feature errors keeps the sums in registers: with a run-time
// test the stores to `lane` made GCC keep them on the stack, each FMA a store-forward chain
// (bench_cpu --path avx512, one thread, SPR, 15 alternating runs: 55.5% -> 57.3% of the FMA peak).
template <int NR, bool kFe>
static void blockError(const float* y, const float* z, int d, vf* sums, float* fe, int valid,
                       float* lane) {
  vf sum[NR];
  for (int g = 0; g < NR; ++g) sum[g] = vf{};
  const size_t ds = static_cast<size_t>(d);
  for (int j = 0; j < d; ++j) {
    const float* yj = y + static_cast<size_t>(j) * S;
    const float* zj = z + static_cast<size_t>(j) * S;
    for (int g = 0; g < NR; ++g) {
      const vf e = vload(yj + g * V) - vload(zj + g * V);
      sum[g] = vfma(e, e, sum[g]);
      if constexpr (kFe) {
        vstore(lane, e * e);
        const int n = valid - g * V < V ? valid - g * V : V;
        for (int k = 0; k < n; ++k) fe[(g * V + k) * ds + j] = lane[k];
      }
    }
  }
  const vf invD = vset1(1.0f / static_cast<float>(d));
  for (int g = 0; g < NR; ++g) sums[g] = sum[g] * invD;
}

// How far ahead the group path prefetches raw rows (~45 KB for 29 features).
constexpr size_t kPrefetchRows = 384;

// Tail rows (fewer than V after the last full group) up to this many go through the row path one
// by one; more get a zero-padded group. Measured on the benchmark model (Zen 4, CPU us per call):
// a lone row costs 0.22 (AVX-512, AVX2) / 0.30 (SSE2), a padded group 1.1 / 0.8 / 1.3.
constexpr int kRowPathMax = V == 16 ? 4 : 3;

// Scores rows [begin, end) of the call. Scratch must hold P.scratchFloats floats.
// Returns false when it stopped at a bad value (NonFinite::kError); `bad` then holds it.
// `stopBelow` lets the caller stop chunks that start after an already-found bad row.
bool scoreRange(const PackedModel& P, const float* rows, size_t begin, size_t end, float* scores,
                float* featureErrors, NonFinite mode, float* scratch, BadValue* bad,
                const std::atomic<int64_t>* stopBelow) {
  const int d = P.features;
  const size_t ds = static_cast<size_t>(d);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  float* z = scratch;
  float* a = z + static_cast<size_t>(P.featPad) * S;
  float* b = a + static_cast<size_t>(P.maxPad) * S;
  float* stage = b + static_cast<size_t>(P.maxPad) * S;
  float* rowRaw = stage + roundUp(S * d, 16);
  float* rowZ = rowRaw + P.maxPad;
  float* rowA = rowZ + P.maxPad;
  float* rowB = rowA + P.maxPad;
  float* rowT = rowB + P.maxPad;
  alignas(64) float lane[V];
  alignas(64) int32_t laneBad[S];

  size_t r0 = begin;
  while (r0 < end) {
    if (stopBelow && stopBelow->load(std::memory_order_relaxed) < static_cast<int64_t>(r0))
      return true;  // an earlier bad row was found elsewhere; these rows cannot hold the first
    const size_t left = end - r0;
    int nb = left < static_cast<size_t>(S) ? static_cast<int>(left) : S;
    if (nb < S && nb % V != 0 && nb % V <= kRowPathMax) nb -= nb % V;  // tail rows: row path
    if (nb == 0) {
      // 1 .. kRowPathMax rows left: the row path, one row at a time.
      for (; r0 < end; ++r0) {
        const int col = prepRow(P, rows + r0 * ds, rowRaw, rowZ);
        if (col >= 0) {
          if (mode == NonFinite::kError) {
            bad->row = static_cast<int64_t>(r0);
            bad->col = col;
            return false;
          }
          scores[r0] = nan;
          if (featureErrors)
            for (int j = 0; j < d; ++j) featureErrors[r0 * ds + j] = nan;
          continue;
        }
        scores[r0] =
            scoreRow(P, rowZ, rowA, rowB, rowT, featureErrors ? featureErrors + r0 * ds : nullptr);
      }
      break;
    }
    const int nr = (nb + V - 1) / V;
    // 1. Transpose + standardize into z[j][row]. A partial block is first copied into a zero-padded
    //    staging area so the transposes never read past the caller's rows.
    const float* src = rows + r0 * ds;
    if (nb < nr * V) {
      std::memcpy(stage, src, sizeof(float) * nb * ds);
      std::memset(stage + nb * ds, 0, sizeof(float) * (nr * V - nb) * ds);
      src = stage;
    }
    {
      // Ask for this block's rows kPrefetchRows ahead into L2. The hardware streams follow the
      // transposes' row order too, but on batches beyond L2 (65,536 rows = 7.6 MB) this measured
      // +5% (13.7 -> 14.5 Mrows per CPU-second, AVX-512, one thread); distances of 2-4 blocks or
      // prefetches into L1 gained nothing.
      const size_t pf0 = std::min(end, r0 + kPrefetchRows),
                   pf1 = std::min(end, pf0 + static_cast<size_t>(nb));
      const char* p = reinterpret_cast<const char*>(rows + pf0 * ds);
      const char* q = reinterpret_cast<const char*>(rows + pf1 * ds);
      for (; p < q; p += 64) __builtin_prefetch(p, 0, 2);
    }
    for (int g = 0; g < nr; ++g)
      for (int c = 0; c < d; c += V)
        transposeRows(src + static_cast<size_t>(g) * V * ds + c, d, d - c < V ? d - c : V,
                      z + static_cast<size_t>(c) * S + g * V);
    const bool anyBad =
        withNR(nr, [&](auto k) { return standardize<decltype(k)::value>(P, z, laneBad); });
    if (anyBad) {
      for (int r = 0; r < nb; ++r) {
        if (!laneBad[r]) continue;
        if (mode == NonFinite::kError) {
          bad->row = static_cast<int64_t>(r0) + r;
          bad->col = prepRow(P, rows + (r0 + r) * ds, rowRaw, rowZ);
          return false;
        }
        for (int j = 0; j < d; ++j) z[static_cast<size_t>(j) * S + r] = 0.f;  // harmless values
      }
    }
    // 2. The layers, 3. the error.
    vf sums[kRowVecs];
    withNR(nr, [&](auto k) {
      constexpr int NR = decltype(k)::value;
      const float* y = groupMlp<NR>(P, z, a, b);
      if (featureErrors)
        blockError<NR, true>(y, z, d, sums, featureErrors + r0 * ds, nb, lane);
      else
        blockError<NR, false>(y, z, d, sums, nullptr, nb, lane);
    });
    for (int g = 0; g < nr; ++g) {
      const int base = g * V;
      const int valid = nb - base < V ? nb - base : V;
      const vf sc = sums[g];
      if (valid == V && !anyBad) {
        vstore(scores + r0 + base, sc);
      } else {
        vstore(lane, sc);
        for (int k = 0; k < valid; ++k) scores[r0 + base + k] = laneBad[base + k] ? nan : lane[k];
      }
    }
    if (anyBad && featureErrors)
      for (int r = 0; r < nb; ++r)
        if (laneBad[r])
          for (int j = 0; j < d; ++j) featureErrors[(r0 + r) * ds + j] = nan;
    r0 += nb;
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
  vf a0 = vset1(1.f), a1 = vset1(2.f), a2 = vset1(3.f), a3 = vset1(4.f), a4 = vset1(5.f),
     a5 = vset1(6.f), a6 = vset1(7.f), a7 = vset1(8.f), a8 = vset1(9.f), a9 = vset1(10.f),
     a10 = vset1(11.f), a11 = vset1(12.f);
  const vf m = vset1(0.999999f), c = vset1(1e-7f);
  for (long i = 0; i < iters; ++i) {
    a0 = vfma(a0, m, c);
    a1 = vfma(a1, m, c);
    a2 = vfma(a2, m, c);
    a3 = vfma(a3, m, c);
    a4 = vfma(a4, m, c);
    a5 = vfma(a5, m, c);
    a6 = vfma(a6, m, c);
    a7 = vfma(a7, m, c);
    a8 = vfma(a8, m, c);
    a9 = vfma(a9, m, c);
    a10 = vfma(a10, m, c);
    a11 = vfma(a11, m, c);
    __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
  }
  const vf s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  float sum = 0.f;
  for (int k = 0; k < V; ++k) sum += s[k];
  volatile float sink = sum;
  (void)sink;
  return 12.0 * 2 * V;
}
}  // namespace FS_NS
}  // namespace fraudscore
