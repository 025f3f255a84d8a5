// Weights repacked for a SIMD width: each layer transposed to [in][outPad] so a kernel can load a
// vector of outputs per input, with outputs padded to a multiple of the width with zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "fraudscore/model.h"

namespace fraudscore {

// 64-byte aligned float buffer (a cache line; enough for any vector load).
struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using AlignedBuf = std::unique_ptr<float[], AlignedFree>;

inline AlignedBuf allocAligned(size_t count) {
  size_t bytes = ((count * sizeof(float) + 63) / 64) * 64;
  if (bytes == 0) bytes = 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return AlignedBuf(static_cast<float*>(p));
}

inline int roundUp(int x, int m) { return (x + m - 1) / m * m; }

struct PackedLayer {
  int in = 0;
  int out = 0;
  int outPad = 0;  // out rounded up to the vector width
  bool relu = false;
  AlignedBuf wt;    // in * outPad
  AlignedBuf bias;  // outPad
};

struct PackedModel {
  int features = 0;
  int width = 0;     // floats per vector
  int featPad = 0;   // features rounded up to width
  int maxPad = 0;    // widest padded activation
  std::vector<uint8_t> log1p;  // per feature
  std::vector<float> mean;
  std::vector<float> invScale;  // 1 / std, rounded once to float
  std::vector<PackedLayer> layers;
  size_t bytes = 0;
};

PackedModel packModel(const ModelSpec& spec, int width);

// Rows scored per block: every layer's activations of a block stay in L1/L2, and the count is a
// multiple of every row-tile size the kernels use (24, 12, 8, 6, 4, 3).
constexpr int kBlockRows = 96;

}  // namespace fraudscore
