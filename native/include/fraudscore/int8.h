// CPU int8 scoring engine: the int8 arithmetic of fraudscore/quant.h in one fused pass from raw
// rows to scores, SIMD chosen at run time like the fp32 engine (fraudscore/cpu.h).
//
// Paths (same names as SimdPath, different requirements):
//   avx512: AVX-512 VNNI `vpdpbusd` (u8 x s8, 64 multiply-adds per instruction). The first layer's
//           signed activations are offset by +128 to make them unsigned, and 128 * sum_i w_q[o][i]
//           is subtracted once per output (precomputed); hidden activations are post-ReLU, so they
//           are already in [0, 127] and need no offset.
//   avx2:   `vpmaddubsw` (u8 x s8, adjacent pairs summed to int16) then `vpmaddwd` by ones (to
//           int32): four products per 32-bit lane. Hidden activations are in [0, 127], so a pair
//           sum is at most 2 * 127 * 127 = 32258 and cannot saturate; the first layer's signed
//           activations go in as |q| with the weight's sign flipped where q < 0 (`vpsignb`), which
//           keeps that bound.
//   sse2:   `pmaddwd` on activations and weights sign-extended to int16 (two products per lane).
//           (plain C++ off x86).
// All paths compute the same integers; they differ from the float64 reference only by fp32 rounding
// (see test_int8_engine.cpp for the tolerance and why).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "fraudscore/cpu.h"
#include "fraudscore/model.h"
#include "fraudscore/quant.h"

namespace fraudscore {

// How the avx512 path multiplies: VNNI `vpdpbusd` (16 rows x 4 inputs per instruction), or AMX
// `tdpbsud` (a 16 outputs x 16 rows x 64 inputs tile per instruction; the requantization between
// layers stays in AVX-512). Both sum the same exact int32 products: scores are bit-identical.
// kAuto takes VNNI, or AMX where int8AmxSupported() and FRAUDSCORE_INT8_AMX=1. VNNI is the
// default because it measured faster on Sapphire Rapids (bench_int8, batch 65,536: AMX int8
// 0.84x the VNNI kernel; bench/results/2026-12-03-spr-bench-int8.txt): this network's products are
// not what bounds the VNNI kernel (with the tile products skipped, the rest alone ran as fast as
// the whole VNNI kernel), and every AMX chunk adds a 1 KB tile store that the vector units read
// back.
enum class Int8Matmul : uint8_t { kAuto = 0, kVnni = 1, kAmx = 2 };

// True when this build has the AMX kernel and this CPU (CPUID AMX-TILE + AMX-INT8), the OS (XCR0
// tile state) and Linux (arch_prctl ARCH_REQ_XCOMP_PERM, asked once per process) allow tile data.
bool int8AmxSupported();

// True when this CPU (and OS) can run the int8 kernel of `p` (avx512 needs AVX512-VNNI and BW).
bool int8SimdSupported(SimdPath p);
// The best int8 path this CPU supports.
SimdPath detectInt8Simd();
// FRAUDSCORE_SIMD when set and supported by the int8 kernels, else detectInt8Simd().
SimdPath defaultInt8Simd();

// Activation scales: static (calibrated, QuantSpec::xscale) or dynamic (per block of
// kInt8DynamicBlockRows rows: sx[l] = max |layer-l input| over the block's finite rows / 127).
enum class Int8Activations : uint8_t { kStatic = 0, kDynamic = 1 };

// Rows that share one set of dynamic scales. Blocks start at multiples of this count from the
// call's first row, whatever the thread count, so scores never depend on threading.
constexpr int kInt8DynamicBlockRows = 16;

// Weights repacked for one SIMD path. Immutable after construction: one engine can serve concurrent
// calls from many threads.
class CpuInt8Engine {
 public:
  // [sync] @throws std::invalid_argument when the model or the quantization is inconsistent (the
  // message names the field). With kDynamic, q.xscale is ignored (it may be empty).
  // `mm` matters on the avx512 path only; kAmx where AMX is not supported runs VNNI (see amx()).
  CpuInt8Engine(const ModelSpec& spec, const QuantSpec& q, Int8Activations act,
                SimdPath path = defaultInt8Simd(), Int8Matmul mm = Int8Matmul::kAuto);
  ~CpuInt8Engine();
  CpuInt8Engine(const CpuInt8Engine&) = delete;
  CpuInt8Engine& operator=(const CpuInt8Engine&) = delete;

  // [sync] Same contract as CpuEngine::score: n raw rows in, n scores (and optionally n * features
  // squared errors) out; the first non-finite value is returned (row -1 when none).
  BadValue score(const float* rows, size_t n, float* scores, float* featureErrors, NonFinite mode,
                 int threads = 0) const;

  int features() const;
  SimdPath path() const;
  // True when the layers' products run on AMX tiles.
  bool amx() const;
  Int8Activations activations() const;
  // Bytes of packed weights held by this engine (reported to the JS heap accounting).
  size_t packedBytes() const;
  // True when rows beyond the calibrated range are rescored in fp32 (QuantSpec::fallback, static).
  bool fallback() const;
  // Rows rescored in fp32 since construction, over all calls (for metrics and the benchmark).
  uint64_t fallbackRows() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// [sync] Float64 reference of the dynamic-scale arithmetic: scoreReferenceInt8 with the scales of
// each block of `blockRows` rows taken from that block's finite rows (q.xscale is ignored).
void scoreReferenceInt8Dynamic(const ModelSpec& model, const QuantSpec& q, const float* rows,
                               size_t n, int blockRows, double* scores, double* featureErrors);

}  // namespace fraudscore
