// fraudscore native core: the dense autoencoder and its preprocessing, as plain data.
// No Node headers anywhere under native/: this core builds and tests on a machine without Node.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fraudscore {

// Per-feature transform applied to the raw value before standardization.
enum class Transform : uint8_t {
  kNone = 0,
  kLog1p = 1,  // log1p(x); x <= -1 is treated as a non-finite input
};

// One dense layer: y = W x + b, with W stored [out][in] row-major (the PyTorch Linear layout,
// which is also what the safetensors artifact holds).
struct DenseLayer {
  int in = 0;
  int out = 0;
  std::vector<float> weight;  // out * in
  std::vector<float> bias;    // out
};

// The whole model as the kernels see it. Hidden layers use ReLU, the last layer is linear,
// and layers.back().out == features (an autoencoder reconstructs its input).
struct ModelSpec {
  int features = 0;
  std::vector<Transform> transform;  // features
  std::vector<float> mean;           // features
  std::vector<float> scale;          // features: the standard deviation (> 0)
  std::vector<DenseLayer> layers;

  // Returns an empty string when the spec is consistent, else a message naming the field.
  std::string validate() const;
  // FLOPs of one row's forward pass (2 per multiply-add), for throughput reports.
  double flopsPerRow() const;
};

// What to do with a row that holds a NaN/Inf (or a log1p input <= -1).
enum class NonFinite : uint8_t {
  kError = 0,  // stop and report the first bad (row, column)
  kNaN = 1,    // give that row a NaN score (and NaN feature errors) and go on
};

// Location of the first bad value found by a scoring call (row = -1 when none).
struct BadValue {
  int64_t row = -1;
  int col = -1;
};

}  // namespace fraudscore
