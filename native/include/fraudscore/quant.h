// The int8 arithmetic contract shared by every int8 engine (CPU VNNI/AVX2 and CUDA dp4a), so their
// scores agree up to fp32 rounding, plus its float64 reference and the helpers that build it.
//
// For layer l with input activations x (x = z, the standardized row, for l = 0):
//   weights     w_q[o][i] = round(w[o][i] / sw[o]),  sw[o] = max_i |w[o][i]| / 127   (per output)
//   activations q[i]      = clamp(round(x[i] / sx[l]), -127, 127)                  (per layer)
//   product     acc[o]    = sum_i q[i] * w_q[o][i]                                  (int32, exact)
//   output      y[o]      = acc[o] * (sx[l] * sw[o]) + b[o]                         (fp32 bias)
// ReLU on hidden layers; the last layer's y is fp32 and the score is mean_j (y[j] - z[j])^2 against
// the fp32 standardized z. round() is round-half-away-from-zero (std::round / roundf).
// Degenerate scales: an all-zero weight row gets sw[o] = 1 (so w_q = 0 and y[o] = b[o]); a layer
// whose calibrated activations are all zero gets sx[l] = 1. Scales are always finite and > 0.
//
// fp32 fallback (QuantSpec::fallback, static scales only): a row any of whose layer inputs falls
// outside the calibrated range, |x[i]| / sx[l] >= 127.5 (so round() would pass 127), is scored by
// the fp32 arithmetic (the model's fp32 weights) instead, score and feature errors alike. The
// inputs tested are the int8 path's own (layer l's input is the int8 output of layer l - 1). With
// it the scales can be calibrated tight (a percentile, not the maximum) so that the bulk of rows
// gets fine steps, while the rare rows beyond the range, which carry the fraud signal, lose
// nothing. The engines compare |x| * fp32(1 / sx) >= 127.5 in fp32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fraudscore/model.h"

namespace fraudscore {

struct QuantSpec {
  std::vector<std::vector<int8_t>> wq;  // per layer: out * in, [out][in] row-major, in [-127, 127]
  std::vector<std::vector<float>> wscale;  // per layer: out values, sw[o]
  std::vector<float> xscale;               // per layer: sx[l], the scale of that layer's input
  bool fallback = false;  // rows beyond the calibrated range are scored in fp32 (see above)

  // Empty when the spec matches the model's shape and every scale is finite and > 0, else a
  // message naming the field ("wq[1] has 500 values, expected 512").
  std::string validate(const ModelSpec& model) const;
};

// [sync] Fills q->wq and q->wscale from the model's fp32 weights (per-output-channel symmetric).
// Leaves q->xscale alone unless its size is wrong, in which case it is reset to all ones.
void quantizeWeights(const ModelSpec& model, QuantSpec* q);

// [sync] Static activation calibration: sx[l] = max |input of layer l| / 127 over the finite rows
// of `rows` (n raw rows), computed with the fp32 model in float64. Rows holding a non-finite value
// are skipped. @throws std::invalid_argument when the model is invalid.
void calibrateActivations(const ModelSpec& model, const float* rows, size_t n, QuantSpec* q);

// [sync] Float64 reference of the int8 arithmetic above, straightforward loops, for tests. The
// standardized z is computed in float64 and then rounded to fp32, as the engines compute it.
// Non-finite rows get NaN. featureErrors may be null. With q.fallback, rows beyond the range get
// the float64 fp32 reference (scoreReferenceF64) and, when `overflowed` is not null, a 1 there.
void scoreReferenceInt8(const ModelSpec& model, const QuantSpec& q, const float* rows, size_t n,
                        double* scores, double* featureErrors, unsigned char* overflowed = nullptr);

}  // namespace fraudscore
