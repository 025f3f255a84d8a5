// The fused scoring kernels: raw rows -> (log1p?, -mean, *1/std) -> z -> MLP -> squared error ->
// score, in one pass over the rows, fp32 or int8 (dp4a), with the CPU engine's non-finite contract.
//
// Two shapes of kernel:
// - "fixed32": every layer width <= 32 and at most kFixedLayers layers (the default model
//   [29, 32, 16, 32, 29] and its usual variants). One thread per row; the row's activations live in
//   registers, and the weights are a __grid_constant__ kernel parameter indexed only by
//   compile-time constants (every loop is unrolled), so each FMA reads its weight straight from the
//   constant bank: no load instruction per weight, no shared-memory traffic. Widths are padded to
//   32 with zeros; uniform branches skip the padded outputs and the padded groups of 8 inputs.
// - "generic": any width up to kGenericMaxWidth. One warp per row, the row's activations in shared
//   memory, transposed weights read from global memory (L1-cached) with lanes over output units.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace fraudscore {
namespace cudakernels {

constexpr int kW = 32;              // padded width of the fixed kernel
constexpr int kFixedLayers = 6;     // layers the fixed kernel unrolls
constexpr int kFixedThreads = 128;  // rows per block of the fixed kernel
constexpr int kGenericMaxWidth = 1024;
constexpr int kGenericMaxLayers = 32;
constexpr int kGenericWarps = 4;  // rows in flight per block of the generic kernel

// Preprocessing shared by both kernel shapes (fixed: padded to kW).
struct Prep {
  float mean[kW];
  float invScale[kW];
  uint32_t log1pMask;  // bit j: feature j is log1p-transformed
  int d;
  int nLayers;
  int in[kFixedLayers];
  int out[kFixedLayers];
};

struct FixedFp32 {
  Prep prep;
  float w[kFixedLayers][kW][kW];  // [l][o][i], zero-padded
  float b[kFixedLayers][kW];
};

struct FixedInt8 {
  Prep prep;
  int wq[kFixedLayers][kW][kW / 4];  // [l][o][i/4]: four int8 weights per word, zero-padded
  float scale[kFixedLayers][kW];     // sx[l] * sw[o] (fp32 product, as the contract says)
  float b[kFixedLayers][kW];
  float invSx[kFixedLayers];  // 1 / sx[l] in fp32
};

// The generic kernel reads its model from device memory; this holds the pointers and offsets.
struct Generic {
  const float* mean;
  const float* invScale;
  const uint8_t* log1p;
  const float* wT;  // per layer at wOff[l]: [in][out] (transposed: lanes read contiguous outputs)
  const float* b;   // per layer at bOff[l]
  const int* wq;    // int8: per layer at qOff[l]: [out][in4] words of four int8 weights
  const float* scale;  // int8: per layer at bOff[l]: sx[l] * sw[o]
  const float* invSx;  // int8: per layer
  int d;
  int nLayers;
  int maxWidth;  // padded to a multiple of 4
  int in[kGenericMaxLayers];
  int out[kGenericMaxLayers];
  int64_t wOff[kGenericMaxLayers];
  int64_t bOff[kGenericMaxLayers];
  int64_t qOff[kGenericMaxLayers];
};

// Launch arguments common to every scoring kernel. rowBase is the chunk's first row in the caller's
// batch, so a bad value is reported with its absolute row: badKey = min(row * d + col).
struct Io {
  const float* rows;
  float* scores;
  float* featureErrors;  // may be null
  int64_t n;
  int64_t rowBase;
  unsigned long long* badKey;
  int nanMode;  // 1: NonFinite::kNaN, 0: kError
};

// Variants of the fixed fp32 kernel (CudaEngine::Options::fixedVariant). Run 3 on an H100 timed
// eight (bench/results/gpu-2026-11-26-h100.md); these three are kept: the first kernel, and the two
// that beat it (no branches inside a layer, weights in shared memory). The losers (2 rows per
// thread, guarded shared-memory loops, constant-bank weights without guards) were removed.
enum FixedVariant {
  kFixedVariantConstR1 = 0,     // weights in the launch's constant bank, guarded loops
  kFixedVariantSmemFullR1 = 1,  // weights in shared memory, the padded 32 x 32 product unguarded
  kFixedVariantSmemBucket = 2,  // shared memory, one straight body per (in, out) rounded up to 8
  kFixedVariantCount = 3,
};
void launchFixedFp32(const FixedFp32& p, int variant, const Io& io, int blocks, cudaStream_t s);
// Rows one block of the fixed fp32 kernel takes per step, and its dynamic shared memory.
int fixedRowsPerBlock(int variant);
size_t fixedSmemBytes(int variant, int nLayers, int d);
// Raises the fixed fp32 kernels' dynamic shared-memory limit to their largest need (> 48 KB).
cudaError_t fixedSetSmemLimit();
void launchFixedInt8(const FixedInt8& p, const Io& io, int blocks, cudaStream_t s);
void launchGeneric(const Generic& p, bool int8, const Io& io, int blocks, size_t smem,
                   cudaStream_t s);
// Shared memory the generic kernel needs per block for a model of this padded width and d.
size_t genericSmemBytes(int maxWidth, int d);
// Raises the generic kernels' dynamic shared-memory limit (needed above 48 KB).
cudaError_t genericSetSmemLimit(size_t bytes);

}  // namespace cudakernels
}  // namespace fraudscore
