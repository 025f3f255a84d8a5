// The int8 contract's helpers (weight quantization, activation calibration) and its float64
// reference. See fraudscore/quant.h for the arithmetic.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "fraudscore/cpu.h"
#include "fraudscore/quant.h"

namespace fraudscore {

namespace {

// The standardized value exactly as the fp32 engines compute it: fp32 log1p, then (x - mean) times
// the fp32 reciprocal of the scale.
inline float standardize(const ModelSpec& m, int j, float x) {
  if (m.transform[j] == Transform::kLog1p) x = std::log1p(x);
  const float inv = static_cast<float>(1.0 / static_cast<double>(m.scale[j]));
  return (x - m.mean[j]) * inv;
}

inline double quantizeActivation(double x, double sx) {
  const double q = std::round(x / sx);
  return std::min(127.0, std::max(-127.0, q));
}

}  // namespace

std::string QuantSpec::validate(const ModelSpec& model) const {
  const size_t nl = model.layers.size();
  if (wq.size() != nl)
    return "wq has " + std::to_string(wq.size()) + " layers, expected " + std::to_string(nl);
  if (wscale.size() != nl)
    return "wscale has " + std::to_string(wscale.size()) + " layers, expected " +
           std::to_string(nl);
  if (xscale.size() != nl)
    return "xscale has " + std::to_string(xscale.size()) + " values, expected " +
           std::to_string(nl);
  for (size_t l = 0; l < nl; ++l) {
    const DenseLayer& L = model.layers[l];
    const std::string at = "[" + std::to_string(l) + "]";
    const size_t want = static_cast<size_t>(L.in) * L.out;
    if (wq[l].size() != want)
      return "wq" + at + " has " + std::to_string(wq[l].size()) + " values, expected " +
             std::to_string(want);
    for (size_t k = 0; k < wq[l].size(); ++k)
      if (wq[l][k] < -127)
        return "wq" + at + "[" + std::to_string(k) + "] is -128, outside [-127, 127]";
    if (wscale[l].size() != static_cast<size_t>(L.out))
      return "wscale" + at + " has " + std::to_string(wscale[l].size()) + " values, expected " +
             std::to_string(L.out);
    for (int o = 0; o < L.out; ++o)
      if (!std::isfinite(wscale[l][o]) || !(wscale[l][o] > 0.f))
        return "wscale" + at + "[" + std::to_string(o) + "] must be finite and > 0";
    if (!std::isfinite(xscale[l]) || !(xscale[l] > 0.f))
      return "xscale" + at + " must be finite and > 0";
  }
  return "";
}

void quantizeWeights(const ModelSpec& model, QuantSpec* q) {
  const size_t nl = model.layers.size();
  q->wq.assign(nl, {});
  q->wscale.assign(nl, {});
  if (q->xscale.size() != nl) q->xscale.assign(nl, 1.0f);
  for (size_t l = 0; l < nl; ++l) {
    const DenseLayer& L = model.layers[l];
    q->wq[l].resize(static_cast<size_t>(L.in) * L.out);
    q->wscale[l].resize(L.out);
    for (int o = 0; o < L.out; ++o) {
      const float* w = L.weight.data() + static_cast<size_t>(o) * L.in;
      float mx = 0.f;
      for (int i = 0; i < L.in; ++i) mx = std::max(mx, std::fabs(w[i]));
      const float sw = mx > 0.f ? mx / 127.0f : 1.0f;
      q->wscale[l][o] = sw;
      for (int i = 0; i < L.in; ++i) {
        // |w / sw| <= 127 up to rounding of sw; the clamp keeps an ulp over from reaching 128.
        const float v = std::round(w[i] / sw);
        q->wq[l][static_cast<size_t>(o) * L.in + i] =
            static_cast<int8_t>(std::min(127.f, std::max(-127.f, v)));
      }
    }
  }
}

void calibrateActivations(const ModelSpec& model, const float* rows, size_t n, QuantSpec* q) {
  const std::string err = model.validate();
  if (!err.empty()) throw std::invalid_argument("invalid model: " + err);
  const size_t nl = model.layers.size();
  const int d = model.features;
  std::vector<double> maxAbs(nl, 0.0);
  std::vector<double> a, b;
  for (size_t r = 0; r < n; ++r) {
    a.assign(d, 0.0);
    bool ok = true;
    for (int j = 0; j < d && ok; ++j) {
      const float z = standardize(model, j, rows[r * d + j]);
      if (!std::isfinite(z)) ok = false;
      a[j] = z;
    }
    if (!ok) continue;
    for (size_t l = 0; l < nl; ++l) {
      const DenseLayer& L = model.layers[l];
      for (double v : a) maxAbs[l] = std::max(maxAbs[l], std::fabs(v));
      b.assign(L.out, 0.0);
      for (int o = 0; o < L.out; ++o) {
        double s = L.bias[o];
        for (int i = 0; i < L.in; ++i)
          s += static_cast<double>(L.weight[static_cast<size_t>(o) * L.in + i]) * a[i];
        b[o] = (l + 1 < nl && s < 0) ? 0.0 : s;
      }
      a.swap(b);
    }
  }
  q->xscale.resize(nl);
  for (size_t l = 0; l < nl; ++l)
    q->xscale[l] = maxAbs[l] > 0 ? static_cast<float>(maxAbs[l] / 127.0) : 1.0f;
}

void scoreReferenceInt8(const ModelSpec& model, const QuantSpec& q, const float* rows, size_t n,
                        double* scores, double* featureErrors, unsigned char* overflowed) {
  const int d = model.features;
  const size_t nl = model.layers.size();
  std::vector<double> z(d), a, b;
  for (size_t r = 0; r < n; ++r) {
    bool ok = true;
    for (int j = 0; j < d; ++j) {
      z[j] = standardize(model, j, rows[r * d + j]);
      if (!std::isfinite(z[j])) ok = false;
    }
    if (!ok) {
      scores[r] = std::numeric_limits<double>::quiet_NaN();
      if (featureErrors)
        for (int j = 0; j < d; ++j) featureErrors[r * d + j] = scores[r];
      continue;
    }
    a = z;
    bool over = false;
    for (size_t l = 0; l < nl && !over; ++l) {
      const DenseLayer& L = model.layers[l];
      const double sx = q.xscale[l];
      if (q.fallback)
        for (int i = 0; i < L.in; ++i)
          if (std::fabs(a[i]) / sx >= 127.5) over = true;
      if (over) break;
      b.assign(L.out, 0.0);
      for (int o = 0; o < L.out; ++o) {
        int64_t acc = 0;
        for (int i = 0; i < L.in; ++i)
          acc += static_cast<int64_t>(quantizeActivation(a[i], sx)) *
                 q.wq[l][static_cast<size_t>(o) * L.in + i];
        const double s = static_cast<double>(acc) * (sx * static_cast<double>(q.wscale[l][o])) +
                         static_cast<double>(L.bias[o]);
        b[o] = (l + 1 < nl && s < 0) ? 0.0 : s;
      }
      a.swap(b);
    }
    if (overflowed) overflowed[r] = over ? 1 : 0;
    if (over) {
      scoreReferenceF64(model, rows + r * d, 1, scores + r,
                        featureErrors ? featureErrors + r * d : nullptr);
      continue;
    }
    double s = 0;
    for (int j = 0; j < d; ++j) {
      const double e = (a[j] - z[j]) * (a[j] - z[j]);
      if (featureErrors) featureErrors[r * d + j] = e;
      s += e;
    }
    scores[r] = s / d;
  }
}

}  // namespace fraudscore
