// The fused int8 scoring kernel (the arithmetic of fraudscore/quant.h), written once with GCC/Clang
// vector extensions plus one dot-product intrinsic per instruction set, and compiled per ISA in
// kernel_int8_{avx512,avx2,sse2}.cpp. Included without FS_I8_NS it only declares the packed model
// and the entry points (for int8_engine.cpp).
//
// Layout: rows live in vector lanes. A strip of L rows (16 with AVX-512) is preprocessed into
// z[feature] vectors, quantized and packed K values per 32-bit lane (4 bytes for vpdpbusd, 2 int16
// for pmaddwd), then every output o of a layer is one accumulator vector over the strip's rows:
//   acc[o] += dot(act[g], broadcast(w[o][gK .. gK+K)))      for each group g of K inputs
// so each weight word is read once per strip as an embedded broadcast, and the requantization of
// the next layer's input (scale, bias, ReLU, * 1/sx, round, clamp, pack) is lane-wise with no
// shuffles. The last layer's fp32 outputs meet z in registers: the score is a lane-wise sum.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fraudscore/int8.h"
#include "fraudscore/model.h"

namespace fraudscore {

struct Int8Layer {
  int in = 0;
  int out = 0;
  int outPad = 0;  // out rounded up to 4 (a multiple of K and of the output chunk step)
  int groups = 0;  // input words per row: inPad / K, inPad = in rounded up to 4
  bool relu = false;
  std::vector<int32_t> w;     // [groups][outPad]: K packed weights w[o][gK + k] per word
  std::vector<int32_t> init;  // [outPad]: accumulator start (-128 * sum_i w_q[o][i] for VNNI layer 0)
  std::vector<float> wscale;  // [outPad]: sw[o] (1 for padding)
  std::vector<float> scale;   // [outPad]: sx * sw[o] rounded once to fp32 (static scales)
  std::vector<float> bias;    // [outPad] (0 for padding)
  float sx = 1.f;             // static input scale
  float invSx = 1.f;          // 1 / sx rounded to fp32: inputs are quantized as x * invSx
};

struct Int8Model {
  int features = 0;
  int featPad = 0;  // features rounded up to 4
  int maxPad = 0;   // widest padded activation (features included)
  int lanes = 0;    // rows per strip
  int k = 0;        // values packed per 32-bit lane
  bool dynamic = false;
  std::vector<uint8_t> log1p;
  std::vector<float> mean;
  std::vector<float> invScale;  // 1 / std rounded once to fp32, as the fp32 engine
  std::vector<Int8Layer> layers;
  size_t bytes = 0;
};

// 4-byte words of per-thread scratch one scoreRange call needs.
inline size_t int8ScratchWords(const Int8Model& P) {
  const size_t B = kInt8DynamicBlockRows;
  return B * P.featPad + 2 * B * P.maxPad + 2 * B + 2 * static_cast<size_t>(P.featPad) * P.lanes +
         2 * static_cast<size_t>(P.maxPad) * P.lanes + 64;
}

#define FS_DECLARE_INT8_KERNEL(ns)                                                              \
  namespace ns {                                                                                \
  bool scoreRangeInt8(const Int8Model& P, const float* rows, size_t begin, size_t end,          \
                      float* scores, float* featureErrors, NonFinite mode, void* scratch,       \
                      BadValue* bad, const std::atomic<int64_t>* stopBelow);                    \
  }

namespace int8k {
#if defined(__x86_64__) || defined(_M_X64)
FS_DECLARE_INT8_KERNEL(avx512)
FS_DECLARE_INT8_KERNEL(avx2)
#endif
FS_DECLARE_INT8_KERNEL(sse2)
}  // namespace int8k

#undef FS_DECLARE_INT8_KERNEL

}  // namespace fraudscore

#ifdef FS_I8_NS

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace fraudscore {
namespace int8k {
namespace FS_I8_NS {

constexpr int L = FS_I8_LANES;
constexpr int K = FS_I8_K;
// Accumulators per output chunk: 16 of the 32 zmm registers with AVX-512, 8 of 16 otherwise.
constexpr int kChunk = FS_I8_CHUNK;
constexpr int kDynBlock = kInt8DynamicBlockRows;
static_assert(kDynBlock % L == 0, "dynamic blocks are whole strips");

typedef float vf __attribute__((vector_size(L * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(L * sizeof(int32_t))));
typedef uint32_t vu __attribute__((vector_size(L * sizeof(uint32_t))));

#define FS_INLINE inline __attribute__((always_inline))

static FS_INLINE vf splat(float x) { return vf{} + x; }
static FS_INLINE vi splati(int32_t x) { return vi{} + x; }
static FS_INLINE vf loadf(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
static FS_INLINE void storef(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
static FS_INLINE vf vmax(vf a, vf b) { return a > b ? a : b; }
static FS_INLINE vf vmin(vf a, vf b) { return a < b ? a : b; }
static FS_INLINE vf vabs(vf a) { return (vf)((vu)a & 0x7fffffffu); }

// acc + sum over the K products of the lane's packed activations and the broadcast weight word.
static FS_INLINE vi dot(vi acc, vi a, int32_t w) {
#if FS_I8_VNNI
  return (vi)_mm512_dpbusd_epi32((__m512i)acc, (__m512i)a, _mm512_set1_epi32(w));
#elif FS_I8_AVX2
  return (vi)_mm256_add_epi32((__m256i)acc, _mm256_madd_epi16((__m256i)a, _mm256_set1_epi32(w)));
#elif defined(__SSE2__)
  return (vi)_mm_add_epi32((__m128i)acc, _mm_madd_epi16((__m128i)a, _mm_set1_epi32(w)));
#else
  const int32_t w0 = static_cast<int16_t>(w & 0xffff);
  const int32_t w1 = static_cast<int16_t>(static_cast<uint32_t>(w) >> 16);
  for (int k = 0; k < L; ++k)
    acc[k] += static_cast<int16_t>(a[k] & 0xffff) * w0 +
              static_cast<int16_t>(static_cast<uint32_t>(a[k]) >> 16) * w1;
  return acc;
#endif
}

// Round half away from zero of v already clamped to [-127, 127]: truncate, then step away from
// zero when the dropped fraction (exact in fp32 at this magnitude) is at least one half.
static FS_INLINE vi roundAway(vf v) {
  vi t = __builtin_convertvector(v, vi);
  const vf d = v - __builtin_convertvector(t, vf);
  t -= (vi)(d >= splat(0.5f));  // a true comparison is -1
  t += (vi)(d <= splat(-0.5f));
  return t;
}

// q = clamp(round(x * inv), -127, 127) for the signed first-layer input.
static FS_INLINE vi quantSigned(vf x, vf inv) {
  return roundAway(vmin(vmax(x * inv, splat(-127.f)), splat(127.f)));
}

// q = clamp(round(relu(y) * inv), 0, 127) for a hidden layer's input (ReLU folded in, inv > 0).
static FS_INLINE vi quantRelu(vf y, vf inv) {
  const vf v = vmin(vmax(y * inv, splat(0.f)), splat(127.f));
#if FS_I8_VNNI
  // v >= 0: round-half-away is floor(v + 0.5) with the sum rounded toward zero, so it can never
  // round up onto the next integer (embedded rounding, one instruction).
  return (vi)_mm512_cvttps_epi32(
      _mm512_add_round_ps((__m512)v, _mm512_set1_ps(0.5f), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC));
#else
  return roundAway(v);
#endif
}

// K quantized values (one per output) into one word per lane; `offset` makes signed values
// unsigned for vpdpbusd (its activations are u8).
static FS_INLINE vi pack(const vi* q, int32_t offset) {
  if constexpr (K == 4) {
    const vu b0 = (vu)(q[0] + offset), b1 = (vu)(q[1] + offset), b2 = (vu)(q[2] + offset),
             b3 = (vu)(q[3] + offset);
    return (vi)(b0 | (b1 << 8) | (b2 << 16) | (b3 << 24));
  } else {
    return (vi)(((vu)q[0] & 0xffffu) | ((vu)q[1] << 16));
  }
}

// One chunk of CH outputs of layer Ly for a strip whose packed input is a[groups].
template <int CH, class Sink>
static FS_INLINE void chunk(const Int8Layer& Ly, const vi* __restrict a, int o0, Sink& sink) {
  vi acc[CH];
#pragma GCC unroll 16
  for (int c = 0; c < CH; ++c) acc[c] = splati(Ly.init[o0 + c]);
  const int32_t* __restrict w = Ly.w.data() + o0;
  const int G = Ly.groups;
  const int ws = Ly.outPad;
  for (int g = 0; g < G; ++g) {
    const vi av = a[g];
    const int32_t* wg = w + static_cast<size_t>(g) * ws;
#pragma GCC unroll 16
    for (int c = 0; c < CH; ++c) acc[c] = dot(acc[c], av, wg[c]);
  }
  sink.template emit<CH>(o0, acc);
}

template <class Sink>
static FS_INLINE void layerDots(const Int8Layer& Ly, const vi* a, Sink& sink) {
  int o = 0;
  for (; o + kChunk <= Ly.outPad; o += kChunk) chunk<kChunk>(Ly, a, o, sink);
  const int rem = Ly.outPad - o;  // a multiple of 4 below kChunk
  if constexpr (kChunk > 8) {
    if (rem == 12) chunk<12>(Ly, a, o, sink);
    if (rem == 8) chunk<8>(Ly, a, o, sink);
  }
  if constexpr (kChunk > 4) {
    if (rem == 4) chunk<4>(Ly, a, o, sink);
  }
}

// Hidden layer, static scales: y -> quantized, packed input of the next layer.
struct HiddenSink {
  const float* scale;
  const float* bias;
  vf inv;  // 1 / sx of the next layer
  vi* next;
  template <int CH>
  FS_INLINE void emit(int o0, const vi* acc) {
#pragma GCC unroll 16
    for (int c = 0; c < CH; c += K) {
      vi q[K];
#pragma GCC unroll 4
      for (int k = 0; k < K; ++k) {
        const int o = o0 + c + k;
        const vf y = __builtin_convertvector(acc[c + k], vf) * splat(scale[o]) + splat(bias[o]);
        q[k] = quantRelu(y, inv);
      }
      next[(o0 + c) / K] = pack(q, 0);
    }
  }
};

// Hidden layer, dynamic scales: y (after ReLU) stored as floats; the next layer's scale needs the
// whole block first.
struct HiddenStoreSink {
  const float* wscale;
  const float* bias;
  float sx;
  vf* out;
  template <int CH>
  FS_INLINE void emit(int o0, const vi* acc) {
#pragma GCC unroll 16
    for (int c = 0; c < CH; ++c) {
      const int o = o0 + c;
      const vf y =
          __builtin_convertvector(acc[c], vf) * splat(sx * wscale[o]) + splat(bias[o]);
      out[o] = vmax(y, splat(0.f));
    }
  }
};

// Last layer: fp32 outputs, squared error against z summed lane-wise.
struct ErrorSink {
  const float* scale;   // static: sx * sw[o]; dynamic: sw[o] (times sx below)
  float sx;             // 1 when `scale` already holds the product
  const float* bias;
  const vf* z;
  int d;
  vf sum;
  vf* fe;  // null, or one vector per feature
  template <int CH>
  FS_INLINE void emit(int o0, const vi* acc) {
#pragma GCC unroll 16
    for (int c = 0; c < CH; ++c) {
      const int o = o0 + c;
      if (o >= d) break;
      const float s = sx == 1.f ? scale[o] : sx * scale[o];
      const vf y = __builtin_convertvector(acc[c], vf) * splat(s) + splat(bias[o]);
      const vf e = y - z[o];
      sum += e * e;
      if (fe) fe[o] = e * e;
    }
  }
};

// Raw rows [r0, r0 + cnt) (cnt <= L) into z[featPad] vectors. Lanes of bad rows and lanes past
// cnt hold 0 (so they neither fault nor move a dynamic scale); `valid` marks the others.
// Returns the mask of lanes whose row holds a non-finite standardized value.
static FS_INLINE vi preprocess(const Int8Model& P, const float* rows, size_t r0, int cnt, vf* z,
                               vi* valid) {
  const int d = P.features;
  const float* base = rows + r0 * static_cast<size_t>(d);
  vi bad = {};
#if FS_I8_VNNI || FS_I8_AVX2
  vi idx = {};
  for (int k = 0; k < L; ++k) idx[k] = k * d;
#endif
  for (int j = 0; j < d; ++j) {
    vf x = {};
#if FS_I8_VNNI
    if (cnt == L)
      x = (vf)_mm512_i32gather_ps((__m512i)idx, base + j, 4);
    else
#elif FS_I8_AVX2
    if (cnt == L)
      x = (vf)_mm256_i32gather_ps(base + j, (__m256i)idx, 4);
    else
#endif
    {
      for (int k = 0; k < L; ++k) x[k] = k < cnt ? base[static_cast<size_t>(k) * d + j] : 0.f;
    }
    if (P.log1p[j])
      for (int k = 0; k < L; ++k) x[k] = std::log1p(x[k]);
    const vf v = (x - splat(P.mean[j])) * splat(P.invScale[j]);
    bad |= ~(vi)(vabs(v) <= splat(FLT_MAX));  // NaN compares false
    z[j] = v;
  }
  for (int j = d; j < P.featPad; ++j) z[j] = vf{};
  vi inRange = {};
  for (int k = 0; k < L; ++k) inRange[k] = k < cnt ? -1 : 0;
  bad &= inRange;
  *valid = inRange & ~bad;
  const vi ok = *valid;
  const bool all = cnt == L && !bad[0] && [&] {
    for (int k = 1; k < L; ++k)
      if (bad[k]) return false;
    return true;
  }();
  if (!all)
    for (int j = 0; j < d; ++j) z[j] = (vf)((vi)z[j] & ok);
  return bad;
}

// First non-finite column of one raw row, computed exactly as preprocess() does.
static int firstBadColumn(const Int8Model& P, const float* row) {
  for (int j = 0; j < P.features; ++j) {
    float x = row[j];
    if (P.log1p[j]) x = std::log1p(x);
    const float v = (x - P.mean[j]) * P.invScale[j];
    if (!std::isfinite(v)) return j;
  }
  return 0;
}

static FS_INLINE bool anyLane(vi m) {
  for (int k = 0; k < L; ++k)
    if (m[k]) return true;
  return false;
}

// Scores, NaN for bad lanes, and optional feature errors of the strip's first cnt rows.
static FS_INLINE void writeStrip(const Int8Model& P, size_t r0, int cnt, vf sum, vi bad,
                                 const vf* fe, float* scores, float* featureErrors) {
  const int d = P.features;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const vf sc = (vf)(((vi)(sum * splat(1.0f / static_cast<float>(d))) & ~bad) |
                     ((vi)splat(nan) & bad));
  if (cnt == L) {
    storef(scores + r0, sc);
  } else {
    for (int k = 0; k < cnt; ++k) scores[r0 + k] = sc[k];
  }
  if (featureErrors) {
    for (int k = 0; k < cnt; ++k) {
      float* out = featureErrors + (r0 + k) * static_cast<size_t>(d);
      if (bad[k]) {
        for (int j = 0; j < d; ++j) out[j] = nan;
      } else {
        for (int j = 0; j < d; ++j) out[j] = fe[j][k];
      }
    }
  }
}

// Quantizes a strip's layer-l input x[inPad] into packed words a[inPad / K].
static FS_INLINE void quantizeInput(const vf* x, int inPad, bool first, vf inv, vi* a) {
  for (int i = 0; i < inPad; i += K) {
    vi q[K];
    for (int k = 0; k < K; ++k) q[k] = first ? quantSigned(x[i + k], inv) : quantRelu(x[i + k], inv);
#if FS_I8_VNNI
    a[i / K] = pack(q, first ? 128 : 0);
#else
    a[i / K] = pack(q, 0);
#endif
  }
}

static bool scoreStatic(const Int8Model& P, const float* rows, size_t begin, size_t end,
                        float* scores, float* featureErrors, NonFinite mode, int32_t* scratch,
                        BadValue* badOut, const std::atomic<int64_t>* stopBelow) {
  vf* z = reinterpret_cast<vf*>(scratch);
  vf* fe = z + P.featPad;
  vi* pa = reinterpret_cast<vi*>(fe + P.featPad);
  vi* pb = pa + P.maxPad;
  const size_t nLayers = P.layers.size();
  for (size_t r0 = begin; r0 < end; r0 += L) {
    if (stopBelow && (r0 - begin) % kDynBlock == 0 &&
        stopBelow->load(std::memory_order_relaxed) < static_cast<int64_t>(r0))
      return true;  // an earlier bad row was found elsewhere; this one cannot be the first
    const int cnt = static_cast<int>(end - r0 < static_cast<size_t>(L) ? end - r0 : L);
    vi valid;
    const vi bad = preprocess(P, rows, r0, cnt, z, &valid);
    if (mode == NonFinite::kError && anyLane(bad)) {
      int k = 0;
      while (!bad[k]) ++k;
      badOut->row = static_cast<int64_t>(r0) + k;
      badOut->col = firstBadColumn(P, rows + (r0 + k) * static_cast<size_t>(P.features));
      return false;
    }
    quantizeInput(z, P.featPad, true, splat(P.layers[0].invSx), pa);
    vi* a = pa;
    vi* b = pb;
    ErrorSink err{nullptr, 1.f, nullptr, z, P.features, vf{}, featureErrors ? fe : nullptr};
    for (size_t l = 0; l < nLayers; ++l) {
      const Int8Layer& Ly = P.layers[l];
      if (l + 1 < nLayers) {
        HiddenSink s{Ly.scale.data(), Ly.bias.data(), splat(P.layers[l + 1].invSx), b};
        layerDots(Ly, a, s);
        vi* t = a;
        a = b;
        b = t;
      } else {
        err.scale = Ly.scale.data();
        err.bias = Ly.bias.data();
        layerDots(Ly, a, err);
      }
    }
    writeStrip(P, r0, cnt, err.sum, bad, fe, scores, featureErrors);
  }
  return true;
}

static bool scoreDynamic(const Int8Model& P, const float* rows, size_t begin, size_t end,
                         float* scores, float* featureErrors, NonFinite mode, int32_t* scratch,
                         BadValue* badOut, const std::atomic<int64_t>* stopBelow) {
  constexpr int S = kDynBlock / L;  // strips per block
  const int fp = P.featPad, mp = P.maxPad;
  vf* zb = reinterpret_cast<vf*>(scratch);  // [S][fp]
  vf* xa = zb + S * fp;                     // [S][mp]
  vf* xb = xa + S * mp;                     // [S][mp]
  vi* validB = reinterpret_cast<vi*>(xb + S * mp);
  vi* badB = validB + S;
  vf* fe = reinterpret_cast<vf*>(badB + S);
  vi* pa = reinterpret_cast<vi*>(fe + fp);
  const size_t nLayers = P.layers.size();
  for (size_t b0 = begin; b0 < end; b0 += kDynBlock) {
    if (stopBelow && stopBelow->load(std::memory_order_relaxed) < static_cast<int64_t>(b0))
      return true;
    const int nb = static_cast<int>(end - b0 < static_cast<size_t>(kDynBlock) ? end - b0 : kDynBlock);
    const int ns = (nb + L - 1) / L;
    for (int s = 0; s < ns; ++s) {
      const size_t r0 = b0 + static_cast<size_t>(s) * L;
      const int cnt = nb - s * L < L ? nb - s * L : L;
      badB[s] = preprocess(P, rows, r0, cnt, zb + s * fp, &validB[s]);
      if (mode == NonFinite::kError && anyLane(badB[s])) {
        int k = 0;
        while (!badB[s][k]) ++k;
        badOut->row = static_cast<int64_t>(r0) + k;
        badOut->col = firstBadColumn(P, rows + (r0 + k) * static_cast<size_t>(P.features));
        return false;
      }
    }
    vf* x = zb;
    int xs = fp;
    vf* outs[2] = {xa, xb};
    int which = 0;
    for (size_t l = 0; l < nLayers; ++l) {
      const Int8Layer& Ly = P.layers[l];
      // sx = max |input| over the block's valid rows / 127, as the reference computes it.
      vf m = {};
      for (int s = 0; s < ns; ++s)
        for (int i = 0; i < Ly.in; ++i) m = vmax(m, (vf)((vi)vabs(x[s * xs + i]) & validB[s]));
      float mx = 0.f;
      for (int k = 0; k < L; ++k) mx = mx > m[k] ? mx : m[k];
      const float sx = mx > 0.f ? static_cast<float>(static_cast<double>(mx) / 127.0) : 1.f;
      const vf inv = splat(1.0f / sx);
      const int inPad = Ly.groups * K;
      vf* y = outs[which];
      for (int s = 0; s < ns; ++s) {
        quantizeInput(x + s * xs, inPad, l == 0, inv, pa);
        if (l + 1 < nLayers) {
          HiddenStoreSink hs{Ly.wscale.data(), Ly.bias.data(), sx, y + s * mp};
          layerDots(Ly, pa, hs);
        } else {
          ErrorSink err{Ly.wscale.data(), sx, Ly.bias.data(), zb + s * fp, P.features, vf{},
                        featureErrors ? fe : nullptr};
          layerDots(Ly, pa, err);
          const size_t r0 = b0 + static_cast<size_t>(s) * L;
          const int cnt = nb - s * L < L ? nb - s * L : L;
          writeStrip(P, r0, cnt, err.sum, badB[s], fe, scores, featureErrors);
        }
      }
      x = y;
      xs = mp;
      which ^= 1;
    }
  }
  return true;
}

bool scoreRangeInt8(const Int8Model& P, const float* rows, size_t begin, size_t end,
                    float* scores, float* featureErrors, NonFinite mode, void* scratch,
                    BadValue* bad, const std::atomic<int64_t>* stopBelow) {
  int32_t* s = static_cast<int32_t*>(scratch);
  return P.dynamic
             ? scoreDynamic(P, rows, begin, end, scores, featureErrors, mode, s, bad, stopBelow)
             : scoreStatic(P, rows, begin, end, scores, featureErrors, mode, s, bad, stopBelow);
}

#undef FS_INLINE

}  // namespace FS_I8_NS
}  // namespace int8k
}  // namespace fraudscore

#endif  // FS_I8_NS
