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
  std::vector<int32_t> w;  // [groups][outPad]: K packed weights w[o][gK + k] per word
  std::vector<int32_t>
      init;  // [outPad]: accumulator start (-128 * sum_i w_q[o][i] for VNNI layer 0)
  std::vector<float> wscale;  // [outPad]: sw[o] (1 for padding)
  std::vector<float> scale;   // [outPad]: sx * sw[o] rounded once to fp32 (static scales)
  std::vector<float> bias;    // [outPad] (0 for padding)
  // Hidden layers, static scales: scale[o] and bias[o] times the next layer's 1 / sx, so that
  // y / sx' is one FMA on the accumulator (rounded once to fp32 each). On the AVX-512 VNNI paths
  // biasNext also holds the + 1/2 of round-half-away (see kHalfInBias): y / sx' + 1/2 comes out of
  // that FMA and a truncation rounds it, one addition fewer per value.
  std::vector<float> scaleNext, biasNext;
  float sx = 1.f;     // static input scale
  float invSx = 1.f;  // 1 / sx rounded to fp32: inputs are quantized as x * invSx
  // AMX (tdpbsud) form of w, packed only for the avx512_amx kernel: A tiles of 16 outputs x 16
  // input words (64 bytes), [chunk][kblock][16 rows][16 words], zero past outPad and groups;
  // amxInit holds each chunk's accumulator start as a C tile ([chunk][16 rows][16 lanes]), empty
  // when every start is 0.
  bool amx = false;
  int amxChunks = 0;   // outPad / 16 rounded up
  int amxKBlocks = 0;  // groups / 16 rounded up
  std::vector<int32_t> amxW, amxInit;
};

struct Int8Model {
  int features = 0;
  int featPad = 0;  // features rounded up to 4
  int maxPad = 0;   // widest padded activation (features included)
  int lanes = 0;    // rows per strip
  int k = 0;        // values packed per 32-bit lane
  bool dynamic = false;
  bool fallback = false;  // static scales: rows beyond the calibrated range go to fp32
  // VNNI builds, static scales: no hidden layer's acc * scaleNext + biasNext can reach 2^31 in
  // magnitude for any inputs in [0, 255] (packInt8 checks), so its truncation never overflows.
  bool hiddenBounded = true;
  // How the static kernels prefetch raw rows: non-temporal (prefetchnta) on AMD, where it was tuned
  // (Zen 4), into all cache levels (prefetcht0) elsewhere: on Sapphire Rapids prefetchnta held
  // 17% of the kernel's samples and T0 made int8 1.45x faster (bench_int8, 2026-12-03).
  bool prefetchNta = false;
  std::vector<uint8_t> log1p;
  std::vector<float> mean;
  std::vector<float> invScale;  // 1 / std rounded once to fp32, as the fp32 engine
  std::vector<Int8Layer> layers;
  size_t bytes = 0;
};

// Vectors in each packed-activation buffer of a strip: one per activation (more than the words a
// layer reads), and at least whole 16-word AMX B tiles, which may read past a layer's last word
// (their weights there are 0).
inline size_t int8ActVectors(const Int8Model& P) {
  const size_t tiles = (static_cast<size_t>(P.maxPad) / 4 + 15) / 16 * 16;
  return static_cast<size_t>(P.maxPad) > tiles ? P.maxPad : tiles;
}

// Strips the AMX kernel carries through each layer together: the tile unit works on one while the
// vector units requantize another, and a tile store is read back (or a vector store tile-loaded)
// only strips later, when it has reached L1 (tile loads and stores do not forward).
constexpr int kInt8AmxStrips = 8;

// 4-byte words of per-thread scratch one scoreRange call needs.
inline size_t int8ScratchWords(const Int8Model& P) {
  const size_t B = kInt8DynamicBlockRows;
  const size_t words = B * P.featPad + 2 * B * P.maxPad + 2 * B +
                       2 * static_cast<size_t>(P.featPad) * P.lanes +
                       2 * int8ActVectors(P) * P.lanes + 64;
  size_t chunks = 0;
  for (const Int8Layer& Ly : P.layers)
    chunks = Ly.amxChunks > 0 && static_cast<size_t>(Ly.amxChunks) > chunks ? Ly.amxChunks : chunks;
  if (chunks == 0) return words;
  const size_t amx = kInt8AmxStrips * (2 * static_cast<size_t>(P.featPad) * P.lanes +
                                       2 * int8ActVectors(P) * P.lanes + chunks * 256) +
                     64;
  return words > amx ? words : amx;
}

#define FS_DECLARE_INT8_KERNEL(ns)                                                        \
  namespace ns {                                                                          \
  bool scoreRangeInt8(const Int8Model& P, const float* rows, size_t begin, size_t end,    \
                      float* scores, float* featureErrors, NonFinite mode, void* scratch, \
                      BadValue* bad, const std::atomic<int64_t>* stopBelow,               \
                      std::vector<size_t>* overflow, size_t prefetchEnd);                 \
  }

namespace int8k {
#if defined(__x86_64__) || defined(_M_X64)
FS_DECLARE_INT8_KERNEL(avx512)
FS_DECLARE_INT8_KERNEL(avx2)
#if FRAUDSCORE_HAVE_AMX
FS_DECLARE_INT8_KERNEL(avx512_amx)
#endif
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

#include "simd_transpose.h"
#endif

namespace fraudscore {
namespace int8k {
namespace FS_I8_NS {

constexpr int L = FS_I8_LANES;
constexpr int K = FS_I8_K;
#if FS_I8_VNNI
constexpr bool kVnni = true;
#else
constexpr bool kVnni = false;
#endif
// Accumulators per output chunk: 16 of the 32 zmm registers with AVX-512, 8 of 16 otherwise.
constexpr int kChunk = FS_I8_CHUNK;
// The AVX-512 VNNI builds (and AMX) take the hidden layers' + 1/2 from biasNext (packInt8 adds it
// for them): their requantization is FMA, ReLU (and the clamp), truncation. The running maximum
// of the fallback's range test then holds y / sx' + 1/2 for the hidden layers, so layer 0's
// |x| / sx joins it + 1/2 too and the test is >= 128 (127.5 + 1/2) for both.
constexpr bool kHalfInBias = kVnni;
constexpr float kOverAt = kHalfInBias ? 128.f : 127.5f;
constexpr int kDynBlock = kInt8DynamicBlockRows;
constexpr int kPrefetchStrips = 4;
static_assert(kDynBlock % L == 0, "dynamic blocks are whole strips");

typedef float vf __attribute__((vector_size(L * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(L * sizeof(int32_t))));
typedef uint32_t vu __attribute__((vector_size(L * sizeof(uint32_t))));

#define FS_INLINE inline __attribute__((always_inline))

// Broadcasts through the intrinsics: vf{} + x would also cost a scalar add (0 + x is not x for
// x = -0, so it cannot be folded).
#if FS_I8_VNNI
static FS_INLINE vf splat(float x) {
  return (vf)_mm512_set1_ps(x);
}
static FS_INLINE vi splati(int32_t x) {
  return (vi)_mm512_set1_epi32(x);
}
#elif FS_I8_AVX2
static FS_INLINE vf splat(float x) {
  return (vf)_mm256_set1_ps(x);
}
static FS_INLINE vi splati(int32_t x) {
  return (vi)_mm256_set1_epi32(x);
}
#elif defined(__SSE2__)
static FS_INLINE vf splat(float x) {
  return (vf)_mm_set1_ps(x);
}
static FS_INLINE vi splati(int32_t x) {
  return (vi)_mm_set1_epi32(x);
}
#else
static FS_INLINE vf splat(float x) {
  return vf{} + x;
}
static FS_INLINE vi splati(int32_t x) {
  return vi{} + x;
}
#endif
static FS_INLINE vf loadf(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
static FS_INLINE void storef(float* p, vf v) {
  std::memcpy(p, &v, sizeof v);
}
// min/max as single instructions (the vector ?: form compiles to a compare and a blend).
#if FS_I8_VNNI
static FS_INLINE vf vmax(vf a, vf b) {
  return (vf)_mm512_max_ps((__m512)a, (__m512)b);
}
static FS_INLINE vf vmin(vf a, vf b) {
  return (vf)_mm512_min_ps((__m512)a, (__m512)b);
}
#elif FS_I8_AVX2
static FS_INLINE vf vmax(vf a, vf b) {
  return (vf)_mm256_max_ps((__m256)a, (__m256)b);
}
static FS_INLINE vf vmin(vf a, vf b) {
  return (vf)_mm256_min_ps((__m256)a, (__m256)b);
}
#elif defined(__SSE2__)
static FS_INLINE vf vmax(vf a, vf b) {
  return (vf)_mm_max_ps((__m128)a, (__m128)b);
}
static FS_INLINE vf vmin(vf a, vf b) {
  return (vf)_mm_min_ps((__m128)a, (__m128)b);
}
#else
static FS_INLINE vf vmax(vf a, vf b) {
  return a > b ? a : b;
}
static FS_INLINE vf vmin(vf a, vf b) {
  return a < b ? a : b;
}
#endif
// a * b + c with one rounding where the ISA has FMA (the SSE2 build has none: two roundings).
static FS_INLINE vf fmaAdd(vf a, vf b, vf c) {
#if FS_I8_VNNI
  return (vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif FS_I8_AVX2
  return (vf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
  return a * b + c;
#endif
}
static FS_INLINE vf vabs(vf a) {
  return (vf)((vu)a & 0x7fffffffu);
}

// acc + sum over the K products of the lane's packed activations and the broadcast weight word.
// kSigned: the first layer's activations (signed bytes on the AVX2 path; the VNNI path offsets them
// to unsigned instead, the int16 paths need neither).
template <bool kSigned>
static FS_INLINE vi dot(vi acc, vi a, const int32_t* wp) {
#if FS_I8_VNNI
  // The weight word as an embedded broadcast ({1to16}) memory operand: GCC would otherwise load it
  // with a separate vpbroadcastd per product, which cost more than the products themselves.
#if FS_I8_ASM
  __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(a), "m"(*wp));
  return acc;
#else
  return (vi)_mm512_dpbusd_epi32((__m512i)acc, (__m512i)a, _mm512_set1_epi32(*wp));
#endif
#elif FS_I8_AVX2
  const __m256i w = _mm256_set1_epi32(*wp);
  // u8 x s8 -> int16 pair sums (exact: see fraudscore/int8.h), then pairs of those to int32.
  const __m256i p =
      kSigned ? _mm256_maddubs_epi16(_mm256_abs_epi8((__m256i)a), _mm256_sign_epi8(w, (__m256i)a))
              : _mm256_maddubs_epi16((__m256i)a, w);
  return (vi)_mm256_add_epi32((__m256i)acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
#elif defined(__SSE2__)
  return (vi)_mm_add_epi32((__m128i)acc, _mm_madd_epi16((__m128i)a, _mm_set1_epi32(*wp)));
#else
  const int32_t w0 = static_cast<int16_t>(*wp & 0xffff);
  const int32_t w1 = static_cast<int16_t>(static_cast<uint32_t>(*wp) >> 16);
  for (int k = 0; k < L; ++k)
    acc[k] += static_cast<int16_t>(a[k] & 0xffff) * w0 +
              static_cast<int16_t>(static_cast<uint32_t>(a[k]) >> 16) * w1;
  return acc;
#endif
}

// Round half away from zero of v already clamped to [-127, 127]: truncate, then step away from
// zero when the dropped fraction (exact in fp32 at this magnitude) is at least one half. Unclamped
// (the fp32 fallback's lanes past the range) it gives garbage, never a fault.
static FS_INLINE vi roundAway(vf v) {
#if FS_I8_VNNI
  // v + copysign(0.5, v) with the sum rounded toward zero, then truncated: the sum can never be
  // rounded onto the next integer away from zero, so this is round-half-away in three instructions
  // (the same trick as quantRelu's, mirrored for negative v).
  const vf half = (vf)(((vi)v & (vi)splati(INT32_MIN)) | (vi)splat(0.5f));
  return (vi)_mm512_cvttps_epi32(
      _mm512_add_round_ps((__m512)v, (__m512)half, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC));
#else
  // v + copysign(0.5 - 2^-25, v), rounded to nearest, then truncated: the largest float below one
  // half keeps v = 0.49999997 from reaching 1, and a true half (v = m + 0.5) still sums to a value
  // that rounds onto m + 1, since the sum's spacing is at least 2^-24 > 2^-25 there.
  const vf half = (vf)(((vi)v & (vi)splati(INT32_MIN)) | (vi)splat(0x1.fffffep-2f));
  return __builtin_convertvector(v + half, vi);
#endif
}

// q = clamp(round(x * inv), -127, 127) for the signed first-layer input.
static FS_INLINE vi quantSigned(vf x, vf inv) {
  return roundAway(vmin(vmax(x * inv, splat(-127.f)), splat(127.f)));
}

// Round half away from zero of v >= 0 (and below 2^23).
static FS_INLINE vi roundNonNegative(vf v) {
#if FS_I8_VNNI
  // floor(v + 0.5) with the sum rounded toward zero, so it can never round up onto the next
  // integer (embedded rounding, one instruction).
  return (vi)_mm512_cvttps_epi32(
      _mm512_add_round_ps((__m512)v, _mm512_set1_ps(0.5f), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC));
#else
  // The largest float below one half, as roundAway does, without the sign.
  return __builtin_convertvector(v + splat(0x1.fffffep-2f), vi);
#endif
}

// q = clamp(round(relu(y) * inv), 0, 127) for a hidden layer's input (ReLU folded in, inv > 0).
static FS_INLINE vi quantRelu(vf y, vf inv) {
  return roundNonNegative(vmin(vmax(y * inv, splat(0.f)), splat(127.f)));
}

// The same without the upper clamp, for the fp32 fallback: a lane whose value passes 127 is
// rescored in fp32 (its garbage q is never used), and every other lane's value is already below
// 127.5, so the clamp would change nothing. It saves the instruction the range test costs.
static FS_INLINE vi quantReluOpen(vf t) {
  return roundNonNegative(vmax(t, splat(0.f)));
}

// A hidden layer's next input from t = y / sx' (+ 1/2 where kHalfInBias: then truncating
// max(t, 0) is round-half-away of relu(y / sx'), and min(t, 127) before it the clamp, since 127
// is an integer). kOpen: no clamp (the fp32 fallback, as quantReluOpen).
template <bool kOpen>
static FS_INLINE vi quantHidden(vf t) {
  if constexpr (kHalfInBias) {
    const vf r = kOpen ? vmax(t, splat(0.f)) : vmin(vmax(t, splat(0.f)), splat(127.f));
    return __builtin_convertvector(r, vi);
  } else {
    return kOpen ? quantReluOpen(t) : quantRelu(t, splat(1.f));
  }
}

// K quantized values (one per output) into one word per lane; `offset` makes signed values
// unsigned for vpdpbusd (its activations are u8).
static FS_INLINE vi pack(const vi* q, int32_t offset) {
  if constexpr (K == 4 && !kVnni) {
    // Signed first-layer values (offset 0) need their bytes masked; hidden ones are in [0, 127]
    // (or garbage in a lane the fp32 fallback rescores) and masking them costs little.
    const vu m = (vu)splati(0xff);
    const vu b0 = ((vu)q[0] + (uint32_t)offset) & m, b1 = ((vu)q[1] + (uint32_t)offset) & m,
             b2 = ((vu)q[2] + (uint32_t)offset) & m, b3 = ((vu)q[3] + (uint32_t)offset) & m;
    return (vi)(b0 | (b1 << 8) | (b2 << 16) | (b3 << 24));
  } else if constexpr (K == 4) {
    const vu b0 = ((vu)q[0] + (uint32_t)offset), b1 = ((vu)q[1] + (uint32_t)offset),
             b2 = ((vu)q[2] + (uint32_t)offset), b3 = ((vu)q[3] + (uint32_t)offset);
    return (vi)(b0 | (b1 << 8) | (b2 << 16) | (b3 << 24));
  } else {
    return (vi)(((vu)q[0] & 0xffffu) | ((vu)q[1] << 16));
  }
}

#if FS_I8_VNNI
// pack() of four hidden layers' truncated values with the ReLU folded into saturation:
// vpackusdw takes every negative int32 to 0 (and vpackuswb anything past 255 to 255), then one
// vpshufb moves the bytes of each 128-bit lane, grouped by output, into one word per row. Four
// shuffles (port 5) in place of a ReLU per value and three shifts (port 0, shared with the dot
// products) per word: SPR, bench_int8 --path avx512 --threads 1, 33.0 -> 35.0M rows/s. A lane the
// fp32 fallback rescores (unclamped) may hold garbage, as with quantReluOpen.
static FS_INLINE vi packSaturated(const vi* q) {
  const __m512i w01 = _mm512_packus_epi32((__m512i)q[0], (__m512i)q[1]);
  const __m512i w23 = _mm512_packus_epi32((__m512i)q[2], (__m512i)q[3]);
  const __m512i b = _mm512_packus_epi16(w01, w23);
  const __m512i idx =
      _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  return (vi)_mm512_shuffle_epi8(b, idx);
}
#endif

#if FS_I8_VNNI
// pack(q, 128) for layer 0's signed values by saturation: vpackssdw and vpacksswb give each
// value's int8 (exact in [-127, 127], the clamped range; a lane the fp32 fallback rescores may
// hold garbage), the XOR with 0x80 adds 128, and one vpshufb groups the bytes by row, as
// packSaturated does. Five instructions a word in place of four additions, three shifts and ORs.
static FS_INLINE vi packSignedOffset(const vi* q) {
  const __m512i w01 = _mm512_packs_epi32((__m512i)q[0], (__m512i)q[1]);
  const __m512i w23 = _mm512_packs_epi32((__m512i)q[2], (__m512i)q[3]);
  const __m512i b = _mm512_xor_si512(_mm512_packs_epi16(w01, w23), _mm512_set1_epi8(-128));
  const __m512i idx =
      _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  return (vi)_mm512_shuffle_epi8(b, idx);
}
#endif

// One chunk of CH outputs of layer Ly for a strip whose packed input is a[groups].
template <int CH, bool kSigned, class Sink>
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
    for (int c = 0; c < CH; ++c) acc[c] = dot<kSigned>(acc[c], av, wg + c);
  }
  sink.template emit<CH>(o0, acc);
}

template <bool kSigned, class Sink>
static FS_INLINE void layerDotsOf(const Int8Layer& Ly, const vi* a, Sink& sink) {
  int o = 0;
  for (; o + kChunk <= Ly.outPad; o += kChunk) chunk<kChunk, kSigned>(Ly, a, o, sink);
  const int rem = Ly.outPad - o;  // a multiple of 4 below kChunk
  if constexpr (kChunk > 8) {
    if (rem == 12) chunk<12, kSigned>(Ly, a, o, sink);
    if (rem == 8) chunk<8, kSigned>(Ly, a, o, sink);
  }
  if constexpr (kChunk > 4) {
    if (rem == 4) chunk<4, kSigned>(Ly, a, o, sink);
  }
}

#if FS_I8_AMX
// The sink of one 16-output AMX chunk: rows of the stored C tile are outputs o0.., lanes are rows.
template <class Sink>
static FS_INLINE void emitTile(const int32_t* c, int o0, int rem, Sink& sink) {
  const vi* acc = reinterpret_cast<const vi*>(c);
  if (rem >= 16)
    sink.template emit<16>(o0, acc);
  else if (rem == 12)
    sink.template emit<12>(o0, acc);
  else if (rem == 8)
    sink.template emit<8>(o0, acc);
  else if (rem == 4)
    sink.template emit<4>(o0, acc);
}

// One chunk's products on the tile unit: C (tmm C) = init (or 0) + sum over k-blocks of
// A (weights, tmm A, signed) x B (the strip's packed activations, tmm2, unsigned), stored to `out`.
// tdpbsud sums the same exact int32 products as vpdpbusd, so scores are bit-identical to the VNNI
// kernel's. Tile numbers are immediates in the instructions: hence a macro, not a template.
#define FS_AMX_CHUNK(C, A, w, init, a, KB, out)                 \
  do {                                                          \
    if (init)                                                   \
      _tile_loadd(C, (init), 64);                               \
    else                                                        \
      _tile_zero(C);                                            \
    for (int kb_ = 0; kb_ < (KB); ++kb_) {                      \
      if ((KB) > 1) _tile_loadd(2, (a) + kb_ * 16, 64);         \
      _tile_loadd(A, (w) + static_cast<size_t>(kb_) * 256, 64); \
      _tile_dpbsud(C, A, 2);                                    \
    }                                                           \
    _tile_stored(C, (out), 64);                                 \
  } while (0)

// One strip's products for a layer of one k-block and at most two chunks whose weight tiles are
// resident in tmm0 / tmm1: B into tile Bt, chunk 0 into C0 (and chunk 1 into C1), stored to out
// (256 words per chunk).
#define FS_AMX_STRIP(Bt, C0, C1, as, init, NC, out)   \
  do {                                                \
    _tile_loadd(Bt, (as), 64);                        \
    if (init)                                         \
      _tile_loadd(C0, (init), 64);                    \
    else                                              \
      _tile_zero(C0);                                 \
    _tile_dpbsud(C0, 0, Bt);                          \
    if ((NC) == 2) {                                  \
      if (init)                                       \
        _tile_loadd(C1, (init) + 256, 64);            \
      else                                            \
        _tile_zero(C1);                               \
      _tile_dpbsud(C1, 1, Bt);                        \
    }                                                 \
    _tile_stored(C0, (out), 64);                      \
    if ((NC) == 2) _tile_stored(C1, (out) + 256, 64); \
  } while (0)

// A layer's products on AMX: chunk c + 1 is issued (tmm0/tmm3 in turn) before chunk c's sink runs,
// so the tile unit works while the vector units requantize.
template <class Sink>
static FS_INLINE void amxLayerDots(const Int8Layer& Ly, const vi* a, Sink& sink) {
  alignas(64) int32_t cbuf[2][256];
  const int KB = Ly.amxKBlocks, NC = Ly.amxChunks;
  const int32_t* w = Ly.amxW.data();
  const int32_t* init = Ly.amxInit.empty() ? nullptr : Ly.amxInit.data();
  if (KB == 1) _tile_loadd(2, a, 64);
  FS_AMX_CHUNK(0, 1, w, init, a, KB, cbuf[0]);
  for (int c = 0; c < NC; ++c) {
    if (c + 1 < NC) {
      const int32_t* wn = w + static_cast<size_t>(c + 1) * KB * 256;
      const int32_t* in = init ? init + static_cast<size_t>(c + 1) * 256 : nullptr;
      if ((c + 1) & 1)
        FS_AMX_CHUNK(3, 4, wn, in, a, KB, cbuf[1]);
      else
        FS_AMX_CHUNK(0, 1, wn, in, a, KB, cbuf[0]);
    }
    emitTile(cbuf[c & 1], c * 16, Ly.outPad - c * 16, sink);
  }
}
#endif

// Layer l's products: the first layer's input is signed (see dot).
template <class Sink>
static FS_INLINE void layerDots(const Int8Layer& Ly, size_t l, const vi* a, Sink& sink) {
#if FS_I8_AMX
  if (Ly.amx) return amxLayerDots(Ly, a, sink);
#endif
  if (l == 0)
    layerDotsOf<true>(Ly, a, sink);
  else
    layerDotsOf<false>(Ly, a, sink);
}

// Hidden layer, static scales: y / sx' = acc * (sx * sw[o] / sx') + b[o] / sx' (sx' the next
// layer's scale) -> quantized, packed input of the next layer. With kTrack, also the running
// maximum of y / sx' (the fp32 fallback's range test).
template <bool kTrack>
struct HiddenSink {
  const float* scale;  // scaleNext
  const float* bias;   // biasNext
  vi* next;
  vf mx;
  bool bounded = true;  // Int8Model::hiddenBounded (VNNI builds)
  // VNNI builds, kTrack and bounded: the OR of the packed words. A value reaches 128 (the range
  // test on t = y / sx' + 1/2) exactly when its saturated byte has its top bit set, so this stands
  // in for a vmaxps per value; merged() folds it into mx.
  vi hi = {};
  FS_INLINE vf merged() const {
    if constexpr (kVnni && kTrack) {
      const vi top = (vi)((vu)hi & (vu)splati(static_cast<int32_t>(0x80808080u))) != 0;
      return (vf)(((vi)mx & ~top) | ((vi)vmax(mx, splat(kOverAt)) & top));
    } else {
      return mx;
    }
  }
  template <int CH>
  FS_INLINE void emit(int o0, const vi* acc) {
#pragma GCC unroll 16
    for (int c = 0; c < CH; c += K) {
      vi q[K];
#pragma GCC unroll 4
      for (int k = 0; k < K; ++k) {
        const int o = o0 + c + k;
        const vf t =
            fmaAdd(__builtin_convertvector(acc[c + k], vf), splat(scale[o]), splat(bias[o]));
#if FS_I8_VNNI
        if (kTrack && !bounded) mx = vmax(mx, t);
#else
        if constexpr (kTrack) mx = vmax(mx, t);
#endif
#if FS_I8_VNNI
        // Truncation rounds (t holds + 1/2, kHalfInBias). Past 2^31 the conversion gives
        // INT32_MIN, which the saturation would take to 0: for a model where that can happen
        // (Int8Model::hiddenBounded false) the clamp comes first, in fp32.
        q[k] = __builtin_convertvector(kTrack || bounded ? t : vmin(t, splat(127.f)), vi);
#else
        q[k] = quantHidden<kTrack>(t);
#endif
      }
#if FS_I8_VNNI
      const vi word = packSaturated(q);
      if constexpr (kTrack) {
        if (bounded) hi |= word;
        next[(o0 + c) / K] = word;
      } else {
        next[(o0 + c) / K] = (vi)_mm512_min_epu8((__m512i)word, _mm512_set1_epi8(127));
      }
#else
      next[(o0 + c) / K] = pack(q, 0);
#endif
    }
  }
};

// Hidden layer, dynamic scales: y (after ReLU) stored as floats; the next layer's scale needs the
// whole block first.
// Also takes the running maximum of the stored values over the block's valid rows (the next
// layer's scale), so no second pass reads them back for it.
struct HiddenStoreSink {
  const float* scale;  // sx * sw[o] of this block
  const float* bias;
  vf* out;
  vi valid;
  vf mx;
  template <int CH>
  FS_INLINE void emit(int o0, const vi* acc) {
#pragma GCC unroll 16
    for (int c = 0; c < CH; ++c) {
      const int o = o0 + c;
      const vf y =
          vmax(__builtin_convertvector(acc[c], vf) * splat(scale[o]) + splat(bias[o]), splat(0.f));
      out[o] = y;
      mx = vmax(mx, (vf)((vi)y & valid));
    }
  }
};

// Last layer: fp32 outputs, squared error against z summed lane-wise.
struct ErrorSink {
  const float* scale;  // sx * sw[o]
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
      const vf y = __builtin_convertvector(acc[c], vf) * splat(scale[o]) + splat(bias[o]);
      const vf e = y - z[o];
      // An explicit FMA: left to -ffp-contract, the sum could be fused when feature errors are
      // not wanted and not when they are, and score() and explain() would differ in the last bit.
      sum = fmaAdd(e, e, sum);
      if (fe) fe[o] = e * e;
    }
  }
};

// Transposes a full strip (L rows, `d` floats apart) of columns [0, d) into d vectors, one per
// column, rows in lanes: in-register transposes (16x16 with AVX-512, 8x8 with AVX2) as the fp32
// kernel does (kernel_impl.h), since gathers are several times slower on Zen 4.
static FS_INLINE void loadStrip(const float* src, int d, int dPad, vf* cols) {
#if FS_I8_VNNI
  for (int c0 = 0; c0 < d; c0 += 16) {
    const int cnt = d - c0 < 16 ? d - c0 : 16;
    const __mmask16 m = static_cast<__mmask16>((1u << cnt) - 1);
    __m512 r[16], col[16];
    for (int k = 0; k < 16; ++k)
      r[k] = _mm512_maskz_loadu_ps(m, src + static_cast<size_t>(k) * d + c0);
    transpose16x16(r, col);
    // Whole 16-column stores when the padded z has room (the columns past d are zero, as
    // masked loads give, and preprocess() zeroes them again): a variable count became a memcpy.
    if (c0 + 16 <= dPad) {
#pragma GCC unroll 16
      for (int k = 0; k < 16; ++k) cols[c0 + k] = (vf)col[k];
    } else {
      for (int k = 0; k < cnt; ++k) cols[c0 + k] = (vf)col[k];
    }
  }
#elif FS_I8_AVX2
  alignas(32) static const int32_t kLanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                 0,  0,  0,  0,  0,  0,  0,  0};
  for (int c0 = 0; c0 < d; c0 += 8) {
    const int cnt = d - c0 < 8 ? d - c0 : 8;
    const __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLanes + 8 - cnt));
    __m256 r[8], col[8];
    for (int k = 0; k < 8; ++k) r[k] = _mm256_maskload_ps(src + static_cast<size_t>(k) * d + c0, m);
    transpose8x8(r, col);
    if (c0 + 8 <= dPad) {
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) cols[c0 + k] = (vf)col[k];
    } else {
      for (int k = 0; k < cnt; ++k) cols[c0 + k] = (vf)col[k];
    }
  }
#else
  (void)dPad;
  for (int j = 0; j < d; ++j)
    for (int k = 0; k < L; ++k) cols[j][k] = src[static_cast<size_t>(k) * d + j];
#endif
}

// log1p of every lane within a few ulp for -1 < x < +inf, NaN for every other lane (which the
// caller reports as non-finite, as std::log1p's -inf/NaN/inf would be). The fp32 kernel's log1pv
// (kernel_impl.h): Cephes' logf of u = 1 + x, then log(u) * x / (u - 1) recovers the bits of x
// that rounding 1 + x lost. The int8 contract's reference uses std::log1p; a few ulp of z move a
// score by ~1e-7 relative and a quantized value by ~1e-5 of a step (see test_int8_engine.cpp).
static FS_INLINE vf log1pv(vf x) {
  const vf one = splat(1.f);
  const vf u = x + one;
  const vi bits = (vi)u;
  vi e = ((bits >> 23) & 0xff) - 127;
  vf m = (vf)((bits & 0x007fffff) | 0x3f800000);  // [1, 2)
  const vi big = (vi)(m > splat(1.41421356237f));
  m = (vf)(((vi)(m * splat(0.5f)) & big) | ((vi)m & ~big));
  e = e - big;  // big is -1 where m was halved: one more in the exponent
  const vf f = m - one;
  const vf f2 = f * f;
  vf p = splat(7.0376836292E-2f);
  p = p * f + splat(-1.1514610310E-1f);
  p = p * f + splat(1.1676998740E-1f);
  p = p * f + splat(-1.2420140846E-1f);
  p = p * f + splat(1.4249322787E-1f);
  p = p * f + splat(-1.6668057665E-1f);
  p = p * f + splat(2.0000714765E-1f);
  p = p * f + splat(-2.4999993993E-1f);
  p = p * f + splat(3.3333331174E-1f);
  const vf ef = __builtin_convertvector(e, vf);
  vf y = p * f * f2;
  y = ef * splat(-2.12194440e-4f) + y;
  y = splat(-0.5f) * f2 + y;
  vf lg = f + y;
  lg = ef * splat(0.693359375f) + lg;
  const vf um1 = u - one;
  const vi exact = (vi)(um1 == vf{});
  const vf r = (vf)(((vi)x & exact) | ((vi)(lg * (x / um1)) & ~exact));
  const vi valid = (vi)(x > splat(-1.f)) & (vi)(x < splat(std::numeric_limits<float>::infinity()));
  return (vf)(((vi)r & valid) | ((vi)splat(std::numeric_limits<float>::quiet_NaN()) & ~valid));
}

// Raw rows [r0, r0 + cnt) (cnt <= L) into z[featPad] vectors. Lanes of bad rows and lanes past
// cnt hold 0 (so they neither fault nor move a dynamic scale); `valid` marks the others.
// Returns the mask of lanes whose row holds a non-finite standardized value.
static FS_INLINE vi preprocess(const Int8Model& P, const float* rows, size_t r0, int cnt, vf* z,
                               vi* valid) {
  const int d = P.features;
  const float* base = rows + r0 * static_cast<size_t>(d);
  vi bad = {};
  if (cnt == L) {
    loadStrip(base, d, P.featPad, z);
  } else {
    for (int j = 0; j < d; ++j)
      for (int k = 0; k < L; ++k) z[j][k] = k < cnt ? base[static_cast<size_t>(k) * d + j] : 0.f;
  }
  // v * 0 is NaN exactly when v is infinite or NaN, and a NaN stays in the sum: one FMA per
  // value finds the non-finite lanes (an |v| <= FLT_MAX compare per value cost three or four),
  // in two sums so that no chain of dependent FMAs runs through every feature.
  vf nf[2] = {vf{}, vf{}};
  for (int j = 0; j < d; ++j) {
    vf x = z[j];
    if (P.log1p[j]) x = log1pv(x);
    const vf v = (x - splat(P.mean[j])) * splat(P.invScale[j]);
    nf[j & 1] = fmaAdd(v, splat(0.f), nf[j & 1]);
    z[j] = v;
  }
  {
    const vf t = nf[0] + nf[1];
    bad = ~(vi)(t == t);  // NaN compares false
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

// Prefetches `bytes` of raw rows from `p` with the hint this CPU family prefers (see
// Int8Model::prefetchNta; the hint must be a constant, hence two loops).
static FS_INLINE void prefetchRows(const Int8Model& P, const char* p, size_t bytes) {
  if (P.prefetchNta) {
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 0);
  } else {
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 0, 3);
  }
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

static FS_INLINE float hmax(vf m) {
#if FS_I8_VNNI
  return _mm512_reduce_max_ps((__m512)m);
#else
  float mx = m[0];
  for (int k = 1; k < L; ++k) mx = mx > m[k] ? mx : m[k];
  return mx;
#endif
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
  const vf sc =
      (vf)(((vi)(sum * splat(1.0f / static_cast<float>(d))) & ~bad) | ((vi)splat(nan) & bad));
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

// Quantizes a strip's layer-l input x[inPad] into packed words a[inPad / K]. With a non-null
// `mx`, also the running maximum of |x| / sx (the fp32 fallback's range test).
template <bool kFirst>
static FS_INLINE void quantizeInput(const vf* x, int inPad, vf inv, vi* a, vf* mx = nullptr) {
  for (int i = 0; i < inPad; i += K) {
    vi q[K];
#pragma GCC unroll 4
    for (int k = 0; k < K; ++k) {
      if (mx) {
        // No clamps: see quantReluOpen (a lane past 127.5 is rescored in fp32).
        const vf t = x[i + k] * inv;
        *mx = vmax(*mx, kFirst ? vabs(t) : t);
        q[k] = kFirst ? roundAway(t) : quantReluOpen(t);
      } else {
        q[k] = kFirst ? quantSigned(x[i + k], inv) : quantRelu(x[i + k], inv);
      }
    }
#if FS_I8_VNNI
    a[i / K] = kFirst ? packSignedOffset(q) : pack(q, 0);
#else
    a[i / K] = pack(q, 0);
#endif
  }
}

#if FS_I8_VNNI && !FS_I8_AMX
// Row path (AVX-512 VNNI, static scales): one row with features / outputs in lanes, for the rows
// that do not fill a strip (a batch of 1 would otherwise pay for 16 lanes, and build them element
// by element). The packed weights [groups][outPad] are already the layout this needs: one
// vpdpbusd takes a broadcast word of 4 activations against 16 outputs' 4 weights. Every value
// goes through the same fp32 operations as in the strip kernel (same FMA for the requantization,
// the error summed in feature order), so a row scores alike on either path.
constexpr int kRowPathMax = 4;

static FS_INLINE __mmask16 lanesBelow(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Returns the score; *bad when the row has a non-finite standardized value (nothing else is then
// written), *over when it left the calibrated range (kFallback: the engine rescores it in fp32).
// a and b: byte buffers of at least maxPad + 64 bytes; e: maxPad floats.
template <bool kFallback>
static float scoreRowStatic(const Int8Model& P, const float* src, float* fe, uint8_t* a, uint8_t* b,
                            float* e, bool* bad, bool* over) {
  const int d = P.features;
  const int fpad = P.featPad;
  alignas(64) float z[1024 + 16];
  // Standardize (features past d are 0), then quantize layer 0's input into a.
  __m512 mxv = _mm512_setzero_ps();
  bool finite = true;
  const Int8Layer& L0 = P.layers[0];
  for (int c = 0; c < fpad; c += 16) {
    const __mmask16 m = lanesBelow(d - c);
    vf x = (vf)_mm512_maskz_loadu_ps(m, src + c);
    bool anyLog = false;
    __mmask16 lm = 0;
    for (int k = 0; k < 16 && c + k < d; ++k)
      if (P.log1p[c + k]) {
        anyLog = true;
        lm = static_cast<__mmask16>(lm | (1u << k));
      }
    if (anyLog) x = (vf)_mm512_mask_mov_ps((__m512)x, lm, (__m512)log1pv(x));
    const vf v = (x - (vf)_mm512_maskz_loadu_ps(m, P.mean.data() + c)) *
                 (vf)_mm512_maskz_loadu_ps(m, P.invScale.data() + c);
    if (_mm512_mask_cmp_ps_mask(m, (__m512)vabs(v), _mm512_set1_ps(FLT_MAX), _CMP_LE_OQ) != m)
      finite = false;
    storef(z + c, (vf)_mm512_maskz_mov_ps(m, (__m512)v));
  }
  if (!finite) {
    *bad = true;
    return 0.f;
  }
  *bad = false;
  for (int c = 0; c < fpad; c += 16) {
    const vf zc = loadf(z + c);
    vi q;
    if constexpr (kFallback) {
      const vf t = zc * splat(L0.invSx);
      mxv = _mm512_max_ps(mxv, (__m512)vabs(t));
      q = roundAway(t);
    } else {
      q = quantSigned(zc, splat(L0.invSx));
    }
    // + 128: vpdpbusd's activations are unsigned (as pack() offsets them); the store keeps the
    // low byte of each lane, which is what pack() puts in the word.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(a + c),
                     _mm512_cvtepi32_epi8(_mm512_add_epi32((__m512i)q, _mm512_set1_epi32(128))));
  }
  if constexpr (kFallback) mxv = _mm512_add_ps(mxv, _mm512_set1_ps(0.5f));  // see kHalfInBias
  const size_t nl = P.layers.size();
  float sum = 0.f;
  for (size_t l = 0; l < nl; ++l) {
    const Int8Layer& Ly = P.layers[l];
    const int32_t* words = reinterpret_cast<const int32_t*>(a);
    for (int o0 = 0; o0 < Ly.outPad; o0 += 16) {
      const __mmask16 m = lanesBelow(Ly.outPad - o0);
      __m512i acc = _mm512_maskz_loadu_epi32(m, Ly.init.data() + o0);
      const int32_t* w = Ly.w.data() + o0;
      for (int g = 0; g < Ly.groups; ++g)
        acc = _mm512_dpbusd_epi32(
            acc, _mm512_set1_epi32(words[g]),
            _mm512_maskz_loadu_epi32(m, w + static_cast<size_t>(g) * Ly.outPad));
      const vf accf = __builtin_convertvector((vi)acc, vf);
      if (l + 1 < nl) {
        const vf t = fmaAdd(accf, (vf)_mm512_maskz_loadu_ps(m, Ly.scaleNext.data() + o0),
                            (vf)_mm512_maskz_loadu_ps(m, Ly.biasNext.data() + o0));
        if constexpr (kFallback) mxv = _mm512_max_ps(mxv, (__m512)t);
        const vi q = quantHidden<kFallback>(t);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(b + o0), _mm512_cvtepi32_epi8((__m512i)q));
      } else {
        const vf y = accf * (vf)_mm512_maskz_loadu_ps(m, Ly.scale.data() + o0) +
                     (vf)_mm512_maskz_loadu_ps(m, Ly.bias.data() + o0);
        storef(e + o0, y - loadf(z + o0));
      }
    }
    uint8_t* t = a;
    a = b;
    b = t;
  }
  for (int j = 0; j < d; ++j) {
    sum = __builtin_fmaf(e[j], e[j], sum);
    if (fe) fe[j] = e[j] * e[j];
  }
  *over = kFallback && _mm512_reduce_max_ps(mxv) >= kOverAt;
  return sum * (1.0f / static_cast<float>(d));
}
#endif

#if FS_I8_AVX2
// Row path (AVX2, static scales): the AVX-512 row path above with 8 lanes, for the same reason
// (a batch of 1 paid for a whole strip). Features / outputs in lanes; one word of 4 activations
// broadcast against 8 outputs' 4 weights per vpmaddubsw, the first layer's signed bytes through
// the same abs/sign step as dot(), 4 chunks of 8 outputs per pass over the input words. The
// per-output vectors are padded with 8 zeros (packInt8), so chunks past outPad load plain
// vectors: their lanes sum garbage weights (the next group's) times scale 0, plus bias 0, which
// requantizes to 0 in bytes no layer reads and errors no sum takes. The same fp32 operations as
// the strip kernel, so a row scores alike on either (testRowPathMatchesStrip).
constexpr int kRowPathMax = 4;
constexpr int kRowChunks = 4;

// Lane mask of the first n (<= 8 taken) lanes, for the row's raw features.
static FS_INLINE __m256i lanesBelow(int n) {
  alignas(32) static const int32_t kLanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                 0,  0,  0,  0,  0,  0,  0,  0};
  const int k = n >= 8 ? 8 : n <= 0 ? 0 : n;
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLanes + 8 - k));
}
static FS_INLINE vf maskLoad(const float* p, __m256i m) {
  return (vf)_mm256_maskload_ps(p, m);
}
static FS_INLINE __m256i loadi(const int32_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// 8 int32 lanes (each within a byte's range, or garbage the fp32 fallback discards) to 8 bytes at
// p, the low byte of each lane as pack() keeps it.
static FS_INLINE void storeBytes(uint8_t* p, vi q) {
  const __m256i bytes = _mm256_shuffle_epi8(
      (__m256i)q, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0,
                                   4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
  const uint32_t lo = static_cast<uint32_t>(_mm256_cvtsi256_si32(bytes));
  const uint32_t hi = static_cast<uint32_t>(_mm256_extract_epi32(bytes, 4));
  std::memcpy(p, &lo, 4);
  std::memcpy(p + 4, &hi, 4);
}

// One layer of one row: input bytes `a` (words of 4) -> the next layer's bytes `b` (hidden) or
// the errors against z in e (last layer).
template <bool kSigned, bool kFallback>
static FS_INLINE void rowLayer(const Int8Layer& Ly, bool hidden, const uint8_t* a, uint8_t* b,
                               const float* z, float* e, vf* mxv) {
  const __m256i ones = _mm256_set1_epi16(1);
  const int32_t* words = reinterpret_cast<const int32_t*>(a);
  for (int o0 = 0; o0 < Ly.outPad; o0 += 8 * kRowChunks) {
    const int chunks = (Ly.outPad - o0 + 7) / 8;
    __m256i acc0 = loadi(Ly.init.data() + o0), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    if (chunks > 1) acc1 = loadi(Ly.init.data() + o0 + 8);
    if (chunks > 2) acc2 = loadi(Ly.init.data() + o0 + 16);
    if (chunks > 3) acc3 = loadi(Ly.init.data() + o0 + 24);
    const int32_t* w = Ly.w.data() + o0;
    for (int g = 0; g < Ly.groups; ++g) {
      const __m256i av = _mm256_set1_epi32(words[g]);
      const __m256i aa = kSigned ? _mm256_abs_epi8(av) : av;
      const int32_t* wg = w + static_cast<size_t>(g) * Ly.outPad;
      auto dot1 = [&](__m256i acc, const int32_t* wp) {
        const __m256i wv = loadi(wp);
        const __m256i p = _mm256_maddubs_epi16(aa, kSigned ? _mm256_sign_epi8(wv, av) : wv);
        return _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
      };
      acc0 = dot1(acc0, wg);
      if (chunks > 1) acc1 = dot1(acc1, wg + 8);
      if (chunks > 2) acc2 = dot1(acc2, wg + 16);
      if (chunks > 3) acc3 = dot1(acc3, wg + 24);
    }
    const __m256i accs[kRowChunks] = {acc0, acc1, acc2, acc3};
    for (int c = 0; c < chunks && c < kRowChunks; ++c) {
      const int o = o0 + 8 * c;
      const vf accf = __builtin_convertvector((vi)accs[c], vf);
      if (hidden) {
        const vf t = fmaAdd(accf, loadf(Ly.scaleNext.data() + o), loadf(Ly.biasNext.data() + o));
        vi q;
        if constexpr (kFallback) {
          *mxv = vmax(*mxv, t);
          q = quantReluOpen(t);
        } else {
          q = quantRelu(t, splat(1.f));
        }
        storeBytes(b + o, q);
      } else {
        const vf y = accf * loadf(Ly.scale.data() + o) + loadf(Ly.bias.data() + o);
        storef(e + o, y - loadf(z + o));
      }
    }
  }
}

// Contract of the AVX-512 scoreRowStatic. a and b: byte buffers of at least maxPad + 64 bytes;
// e: maxPad + 8 floats.
template <bool kFallback>
static float scoreRowStatic(const Int8Model& P, const float* src, float* fe, uint8_t* a, uint8_t* b,
                            float* e, bool* bad, bool* over) {
  const int d = P.features;
  const int fpad = P.featPad;
  alignas(32) float z[1024 + 8];
  vf mxv = {};
  bool finite = true;
  const Int8Layer& L0 = P.layers[0];
  for (int c = 0; c < fpad; c += 8) {
    const __m256i m = lanesBelow(d - c);
    vf x = maskLoad(src + c, m);
    bool anyLog = false;
    vi lm = {};
    for (int k = 0; k < 8 && c + k < d; ++k)
      if (P.log1p[c + k]) {
        anyLog = true;
        lm[k] = -1;
      }
    if (anyLog) x = (vf)(((vi)log1pv(x) & lm) | ((vi)x & ~lm));
    const vf v = (x - maskLoad(P.mean.data() + c, m)) * maskLoad(P.invScale.data() + c, m);
    const vi okLanes = (vi)(vabs(v) <= splat(FLT_MAX));  // NaN compares false
    if ((_mm256_movemask_ps((__m256)(okLanes & (vi)m)) ^ _mm256_movemask_ps((__m256)m)) != 0)
      finite = false;
    storef(z + c, (vf)((vi)v & (vi)m));
  }
  if (!finite) {
    *bad = true;
    return 0.f;
  }
  *bad = false;
  storef(z + fpad, vf{});  // the last layer's chunk past outPad reads these
  for (int c = 0; c < fpad; c += 8) {
    const vf zc = loadf(z + c);
    vi q;
    if constexpr (kFallback) {
      const vf t = zc * splat(L0.invSx);
      mxv = vmax(mxv, vabs(t));
      q = roundAway(t);
    } else {
      q = quantSigned(zc, splat(L0.invSx));
    }
    storeBytes(a + c, q);
  }
  const size_t nl = P.layers.size();
  for (size_t l = 0; l < nl; ++l) {
    const bool hidden = l + 1 < nl;
    if (l == 0)
      rowLayer<true, kFallback>(P.layers[l], hidden, a, b, z, e, &mxv);
    else
      rowLayer<false, kFallback>(P.layers[l], hidden, a, b, z, e, &mxv);
    uint8_t* t = a;
    a = b;
    b = t;
  }
  float sum = 0.f;
  for (int j = 0; j < d; ++j) {
    sum = __builtin_fmaf(e[j], e[j], sum);
    if (fe) fe[j] = e[j] * e[j];
  }
  *over = kFallback && hmax(mxv) >= kOverAt;
  return sum * (1.0f / static_cast<float>(d));
}
#endif

// kFallback: rows whose inputs leave the calibrated range (any |x| / sx >= 127.5) are appended to
// `overflow`; the engine rescores them in fp32 (fraudscore/quant.h). Rows below prefetchEnd may be
// prefetched (the engine calls this span by span; the rows go on past `end`).
template <bool kFallback>
static bool scoreStatic(const Int8Model& P, const float* rows, size_t begin, size_t end,
                        float* scores, float* featureErrors, NonFinite mode, int32_t* scratch,
                        BadValue* badOut, const std::atomic<int64_t>* stopBelow,
                        std::vector<size_t>* overflow, size_t prefetchEnd) {
  vf* z = reinterpret_cast<vf*>(scratch);
  vf* fe = z + P.featPad;
  vi* pa = reinterpret_cast<vi*>(fe + P.featPad);
  vi* pb = pa + int8ActVectors(P);
  const size_t nLayers = P.layers.size();
  for (size_t r0 = begin; r0 < end; r0 += L) {
    if (stopBelow && (r0 - begin) % kDynBlock == 0 &&
        stopBelow->load(std::memory_order_relaxed) < static_cast<int64_t>(r0))
      return true;  // an earlier bad row was found elsewhere; this one cannot be the first
    const int cnt = static_cast<int>(end - r0 < static_cast<size_t>(L) ? end - r0 : L);
#if (FS_I8_VNNI && !FS_I8_AMX) || FS_I8_AVX2
    if (cnt <= kRowPathMax && P.featPad <= 1024) {
      const int d = P.features;
      for (size_t r = r0; r < end; ++r) {
        bool bad = false, over = false;
        float* fr = featureErrors ? featureErrors + r * static_cast<size_t>(d) : nullptr;
        const float sc = scoreRowStatic<kFallback>(
            P, rows + r * static_cast<size_t>(d), fr, reinterpret_cast<uint8_t*>(pa),
            reinterpret_cast<uint8_t*>(pb), reinterpret_cast<float*>(z), &bad, &over);
        if (bad) {
          if (mode == NonFinite::kError) {
            badOut->row = static_cast<int64_t>(r);
            badOut->col = firstBadColumn(P, rows + r * static_cast<size_t>(d));
            return false;
          }
          scores[r] = std::numeric_limits<float>::quiet_NaN();
          if (fr)
            for (int j = 0; j < d; ++j) fr[j] = scores[r];
          continue;
        }
        scores[r] = sc;
        if constexpr (kFallback) {
          if (over) overflow->push_back(r);
        }
      }
      return true;
    }
#endif
    // The rows stream from memory once: fetch the strip kPrefetchStrips ahead while this one
    // computes (a strip is L * features floats, e.g. 29 cache lines with AVX-512).
    if (r0 + (kPrefetchStrips + 1) * L <= prefetchEnd) {
      const char* ahead =
          reinterpret_cast<const char*>(rows + (r0 + kPrefetchStrips * L) * P.features);
      const size_t bytes = static_cast<size_t>(L) * P.features * sizeof(float);
      prefetchRows(P, ahead, bytes);
    }
    vi valid;
    const vi bad = preprocess(P, rows, r0, cnt, z, &valid);
    if (mode == NonFinite::kError && anyLane(bad)) {
      int k = 0;
      while (!bad[k]) ++k;
      badOut->row = static_cast<int64_t>(r0) + k;
      badOut->col = firstBadColumn(P, rows + (r0 + k) * static_cast<size_t>(P.features));
      return false;
    }
    vf mx = {};
    quantizeInput<true>(z, P.featPad, splat(P.layers[0].invSx), pa, kFallback ? &mx : nullptr);
    if constexpr (kFallback && kHalfInBias) mx += splat(0.5f);  // see kHalfInBias
    vi* a = pa;
    vi* b = pb;
    ErrorSink err{nullptr, nullptr, z, P.features, vf{}, featureErrors ? fe : nullptr};
    for (size_t l = 0; l < nLayers; ++l) {
      const Int8Layer& Ly = P.layers[l];
      if (l + 1 < nLayers) {
        HiddenSink<kFallback> s{Ly.scaleNext.data(), Ly.biasNext.data(), b, mx, P.hiddenBounded};
        layerDots(Ly, l, a, s);
        mx = s.merged();
        vi* t = a;
        a = b;
        b = t;
      } else {
        err.scale = Ly.scale.data();
        err.bias = Ly.bias.data();
        layerDots(Ly, l, a, err);
      }
    }
    writeStrip(P, r0, cnt, err.sum, bad, fe, scores, featureErrors);
    if constexpr (kFallback) {
      const vi over = (vi)(mx >= splat(kOverAt)) & valid;
      if (anyLane(over))
        for (int k = 0; k < cnt; ++k)
          if (over[k]) overflow->push_back(r0 + k);
    }
  }
  return true;
}

#if FS_I8_AMX
// scoreStatic on AMX: kInt8AmxStrips strips go through each layer together, first every strip's
// tile products (stored to C buffers), then every strip's requantization (see kInt8AmxStrips).
// The arithmetic per row is scoreStatic's, in the same order.
template <bool kFallback>
static bool scoreStaticAmx(const Int8Model& P, const float* rows, size_t begin, size_t end,
                           float* scores, float* featureErrors, NonFinite mode, int32_t* scratch,
                           BadValue* badOut, const std::atomic<int64_t>* stopBelow,
                           std::vector<size_t>* overflow, size_t prefetchEnd) {
  constexpr int G = kInt8AmxStrips;
  const int fp = P.featPad;
  const size_t av = int8ActVectors(P);
  int maxChunks = 0;
  for (const Int8Layer& Ly : P.layers)
    maxChunks = Ly.amxChunks > maxChunks ? Ly.amxChunks : maxChunks;
  vf* z = reinterpret_cast<vf*>(scratch);       // [G][fp]
  vf* fe = z + G * fp;                          // [G][fp]
  vi* pa = reinterpret_cast<vi*>(fe + G * fp);  // [G][av]
  vi* pb = pa + G * av;                         // [G][av]
  // [G][maxChunks][256], 64-byte aligned (the scratch is; every part above is whole vectors).
  int32_t* cb = reinterpret_cast<int32_t*>(pb + G * av);
  const size_t nLayers = P.layers.size();
  const size_t step = static_cast<size_t>(G) * L;
  for (size_t r0 = begin; r0 < end; r0 += step) {
    if (stopBelow && (r0 - begin) % kDynBlock == 0 &&
        stopBelow->load(std::memory_order_relaxed) < static_cast<int64_t>(r0))
      return true;
    const size_t left = end - r0;
    const int ns = static_cast<int>(left >= step ? G : (left + L - 1) / L);
    if (r0 + (kPrefetchStrips + G) * L <= prefetchEnd) {
      const char* ahead =
          reinterpret_cast<const char*>(rows + (r0 + kPrefetchStrips * L) * P.features);
      const size_t bytes = step * P.features * sizeof(float);
      prefetchRows(P, ahead, bytes);
    }
    vi valid[G], bad[G];
    vf mx[G];
    int cnt[G];
    for (int s = 0; s < ns; ++s) {
      const size_t rs = r0 + static_cast<size_t>(s) * L;
      cnt[s] = static_cast<int>(end - rs < static_cast<size_t>(L) ? end - rs : L);
      bad[s] = preprocess(P, rows, rs, cnt[s], z + s * fp, &valid[s]);
      if (mode == NonFinite::kError && anyLane(bad[s])) {
        int k = 0;
        while (!bad[s][k]) ++k;
        badOut->row = static_cast<int64_t>(rs) + k;
        badOut->col = firstBadColumn(P, rows + (rs + k) * static_cast<size_t>(P.features));
        return false;
      }
      mx[s] = vf{};
      quantizeInput<true>(z + s * fp, fp, splat(P.layers[0].invSx), pa + s * av,
                          kFallback ? &mx[s] : nullptr);
      if constexpr (kFallback) mx[s] += splat(0.5f);  // see kHalfInBias
    }
    vi* a = pa;
    vi* b = pb;
    for (size_t l = 0; l < nLayers; ++l) {
      const Int8Layer& Ly = P.layers[l];
      const int KB = Ly.amxKBlocks, NC = Ly.amxChunks;
      const int32_t* w = Ly.amxW.data();
      const int32_t* init = Ly.amxInit.empty() ? nullptr : Ly.amxInit.data();
      if (KB == 1 && NC <= 2) {
        // The layer's weights stay in tmm0/tmm1 for all ns strips, and strips alternate between
        // two sets of B and C tiles: tiles are not renamed, so with one set a strip's tile loads
        // waited for the previous strip's products and stores (~52-cycle tdpbsud latency each).
        _tile_loadd(0, w, 64);
        if (NC == 2) _tile_loadd(1, w + 256, 64);
        for (int s = 0; s < ns; ++s) {
          int32_t* out = cb + static_cast<size_t>(s) * maxChunks * 256;
          if (s & 1)
            FS_AMX_STRIP(3, 6, 7, a + s * av, init, NC, out);
          else
            FS_AMX_STRIP(2, 4, 5, a + s * av, init, NC, out);
        }
      } else {
        for (int s = 0; s < ns; ++s) {
          const vi* as = a + s * av;
          if (KB == 1) _tile_loadd(2, as, 64);
          for (int c = 0; c < NC; ++c) {
            const int32_t* wc = w + static_cast<size_t>(c) * KB * 256;
            const int32_t* ic = init ? init + static_cast<size_t>(c) * 256 : nullptr;
            int32_t* out = cb + (static_cast<size_t>(s) * maxChunks + c) * 256;
            if (c & 1)
              FS_AMX_CHUNK(3, 4, wc, ic, as, KB, out);
            else
              FS_AMX_CHUNK(0, 1, wc, ic, as, KB, out);
          }
        }
      }
      for (int s = 0; s < ns; ++s) {
        const int32_t* cs = cb + static_cast<size_t>(s) * maxChunks * 256;
        if (l + 1 < nLayers) {
          HiddenSink<kFallback> hs{Ly.scaleNext.data(), Ly.biasNext.data(), b + s * av, mx[s],
                                   P.hiddenBounded};
          for (int c = 0; c < NC; ++c) emitTile(cs + c * 256, c * 16, Ly.outPad - c * 16, hs);
          mx[s] = hs.merged();
        } else {
          vf* fes = fe + s * fp;
          ErrorSink err{Ly.scale.data(), Ly.bias.data(), z + s * fp,
                        P.features,      vf{},           featureErrors ? fes : nullptr};
          for (int c = 0; c < NC; ++c) emitTile(cs + c * 256, c * 16, Ly.outPad - c * 16, err);
          const size_t rs = r0 + static_cast<size_t>(s) * L;
          writeStrip(P, rs, cnt[s], err.sum, bad[s], fes, scores, featureErrors);
          if constexpr (kFallback) {
            const vi over = (vi)(mx[s] >= splat(kOverAt)) & valid[s];
            if (anyLane(over))
              for (int k = 0; k < cnt[s]; ++k)
                if (over[k]) overflow->push_back(rs + k);
          }
        }
      }
      vi* t = a;
      a = b;
      b = t;
    }
  }
  return true;
}
#endif

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
  float* scale = reinterpret_cast<float*>(pa + int8ActVectors(P));  // [mp]: sx * sw[o], this layer
  const size_t nLayers = P.layers.size();
  for (size_t b0 = begin; b0 < end; b0 += kDynBlock) {
    if (stopBelow && stopBelow->load(std::memory_order_relaxed) < static_cast<int64_t>(b0))
      return true;
    const int nb =
        static_cast<int>(end - b0 < static_cast<size_t>(kDynBlock) ? end - b0 : kDynBlock);
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
    // sx = max |input| over the block's valid rows / 127, as the reference computes it. z is
    // already 0 in the lanes of bad rows and of rows past the end.
    vf m = {};
    for (int s = 0; s < ns; ++s)
      for (int j = 0; j < P.features; ++j) m = vmax(m, vabs(zb[s * fp + j]));
    for (size_t l = 0; l < nLayers; ++l) {
      const Int8Layer& Ly = P.layers[l];
      const float mx = hmax(m);
      const float sx = mx > 0.f ? static_cast<float>(static_cast<double>(mx) / 127.0) : 1.f;
      const vf inv = splat(1.0f / sx);
      for (int o = 0; o < Ly.outPad; o += L) {
        const int w = Ly.outPad - o < L ? Ly.outPad - o : L;
        if (w == L) {
          storef(scale + o, loadf(Ly.wscale.data() + o) * splat(sx));
        } else {
          for (int k = 0; k < w; ++k) scale[o + k] = sx * Ly.wscale[o + k];
        }
      }
      const int inPad = Ly.groups * K;
      vf* y = outs[which];
      vf mNext = {};
      for (int s = 0; s < ns; ++s) {
        if (l == 0)
          quantizeInput<true>(x + s * xs, inPad, inv, pa);
        else
          quantizeInput<false>(x + s * xs, inPad, inv, pa);
        if (l + 1 < nLayers) {
          HiddenStoreSink hs{scale, Ly.bias.data(), y + s * mp, validB[s], mNext};
          layerDots(Ly, l, pa, hs);
          mNext = hs.mx;
        } else {
          ErrorSink err{scale,      Ly.bias.data(), zb + s * fp,
                        P.features, vf{},           featureErrors ? fe : nullptr};
          layerDots(Ly, l, pa, err);
          const size_t r0 = b0 + static_cast<size_t>(s) * L;
          const int cnt = nb - s * L < L ? nb - s * L : L;
          writeStrip(P, r0, cnt, err.sum, badB[s], fe, scores, featureErrors);
        }
      }
      m = mNext;
      x = y;
      xs = mp;
      which ^= 1;
    }
  }
  return true;
}

#if FS_I8_AMX
// The tile shapes of the AMX kernel (palette 1): all eight 16 rows of 64 bytes (tmm0/tmm3 C,
// tmm1/tmm4 A, tmm2 B in the general form; see FS_AMX_STRIP for the resident one). Loaded for one
// call and released when it returns, so no tile state outlives it (a thread holding tile data makes
// every context switch save 8 KB more).
struct alignas(64) AmxTileConfig {
  uint8_t palette = 1;
  uint8_t startRow = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
struct AmxTiles {
  AmxTiles() {
    AmxTileConfig cfg;
    for (int t = 0; t < 8; ++t) {
      cfg.colsb[t] = 64;
      cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
  }
  ~AmxTiles() { _tile_release(); }
  AmxTiles(const AmxTiles&) = delete;
  AmxTiles& operator=(const AmxTiles&) = delete;
};
#endif

bool scoreRangeInt8(const Int8Model& P, const float* rows, size_t begin, size_t end, float* scores,
                    float* featureErrors, NonFinite mode, void* scratch, BadValue* bad,
                    const std::atomic<int64_t>* stopBelow, std::vector<size_t>* overflow,
                    size_t prefetchEnd) {
#if FS_I8_AMX
  const AmxTiles tiles;
#endif
  int32_t* s = static_cast<int32_t*>(scratch);
  if (P.dynamic)
    return scoreDynamic(P, rows, begin, end, scores, featureErrors, mode, s, bad, stopBelow);
#if FS_I8_AMX
  if (P.layers[0].amx) {
    if (P.fallback && overflow)
      return scoreStaticAmx<true>(P, rows, begin, end, scores, featureErrors, mode, s, bad,
                                  stopBelow, overflow, prefetchEnd > end ? prefetchEnd : end);
    return scoreStaticAmx<false>(P, rows, begin, end, scores, featureErrors, mode, s, bad,
                                 stopBelow, nullptr, end);
  }
#endif
  if (P.fallback && overflow)
    return scoreStatic<true>(P, rows, begin, end, scores, featureErrors, mode, s, bad, stopBelow,
                             overflow, prefetchEnd > end ? prefetchEnd : end);
  return scoreStatic<false>(P, rows, begin, end, scores, featureErrors, mode, s, bad, stopBelow,
                            nullptr, end);
}

#undef FS_INLINE
#undef FS_AMX_CHUNK
#undef FS_AMX_STRIP

}  // namespace FS_I8_NS
}  // namespace int8k
}  // namespace fraudscore

#endif  // FS_I8_NS
