// Weights repacked for a SIMD width, in the two layouts the kernels use (see kernel_impl.h):
//  - "row" layout, for single rows: each layer transposed to [in][outPad], outputs padded to a
//    multiple of the width with zeros, so a vector of outputs is one load per input;
//  - "group" layout, for blocks of rows held one feature per vector register: the outputs split
//    into tiles of TileShape::out, each tile stored [in][tile outputs] so the weights one step of
//    the register tile broadcasts are adjacent.
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

// Per-thread scratch of at least `floats` 4-byte words, 64-byte aligned, grown on demand and reused
// across calls (the fp32 and int8 engines share it: a thread runs one kernel call at a time).
// Defined in cpu_engine.cpp, outside the per-ISA kernel files.
float* threadScratch(size_t floats);

inline int roundUp(int x, int m) {
  return (x + m - 1) / m * m;
}

// Register tile of the group kernel for a vector width: `out` outputs x `rowVecs` vectors of rows
// are accumulated in registers (out * rowVecs accumulators + rowVecs inputs + 1 broadcast must fit
// the register file: 32 vector registers with AVX-512, 16 below). A block is rowVecs * width rows.
struct TileShape {
  int out;
  int rowVecs;
};
constexpr TileShape tileShapeFor(int width) {
  return width == 16 ? TileShape{8, 3} : width == 8 ? TileShape{4, 3} : TileShape{4, 2};
}

struct PackedLayer {
  int in = 0;
  int out = 0;
  int outPad = 0;  // out rounded up to the vector width
  bool relu = false;
  AlignedBuf wt;    // row layout: in * outPad
  AlignedBuf wg;    // group layout: tile t (outputs [t*T, t*T+n)) at offset t*T*in, [in][n]
  AlignedBuf bias;  // outPad
};

struct PackedModel {
  int features = 0;
  int width = 0;               // floats per vector
  int featPad = 0;             // features rounded up to width
  int maxPad = 0;              // widest padded activation
  int blockRows = 0;           // rows per group-kernel block: tileShapeFor(width).rowVecs * width
  std::vector<uint8_t> log1p;  // per feature
  // Padded to featPad (padding: mean 0, invScale 0, so padded lanes standardize to 0).
  AlignedBuf mean;
  AlignedBuf invScale;              // 1 / std, rounded once to float
  std::vector<int32_t> log1pLane;   // featPad lanes: -1 where the feature is log1p'd, else 0
  std::vector<uint8_t> log1pChunk;  // featPad / width: 1 where a vector of features has a log1p
  std::vector<PackedLayer> layers;
  size_t bytes = 0;
  size_t scratchFloats = 0;  // per-thread scratch one scoreRange call needs
};

PackedModel packModel(const ModelSpec& spec, int width);

}  // namespace fraudscore
