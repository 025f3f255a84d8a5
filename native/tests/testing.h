// A tiny test harness for the C++ core (no third-party framework to download): CHECK macros that
// count failures, random models and inputs, and relative-error helpers.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "fraudscore/model.h"

namespace fstest {

inline int& failures() {
  static int f = 0;
  return f;
}

#define CHECK(cond)                                                                 \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++fstest::failures();                                                         \
    }                                                                               \
  } while (0)

#define CHECK_MSG(cond, ...)                                                        \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                            \
      std::fprintf(stderr, "\n");                                                   \
      ++fstest::failures();                                                         \
    }                                                                               \
  } while (0)

inline int finish(const char* name) {
  if (failures() == 0) {
    std::printf("%s: all checks passed\n", name);
    return 0;
  }
  std::printf("%s: %d check(s) failed\n", name, failures());
  return 1;
}

// A fresh seed per run unless FRAUDSCORE_TEST_SEED is set; printed so a failure can be replayed.
inline uint64_t testSeed() {
  static uint64_t seed = [] {
    const char* s = std::getenv("FRAUDSCORE_TEST_SEED");
    uint64_t v = s ? std::strtoull(s, nullptr, 10) : std::random_device{}();
    std::printf("FRAUDSCORE_TEST_SEED=%llu\n", static_cast<unsigned long long>(v));
    return v;
  }();
  return seed;
}

// A random autoencoder with He-style weights and a preprocessing that log1p's some features.
inline fraudscore::ModelSpec randomModel(std::mt19937_64& rng, int d,
                                         const std::vector<int>& hidden) {
  fraudscore::ModelSpec m;
  m.features = d;
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::uniform_real_distribution<float> pos(0.5f, 2.0f);
  for (int j = 0; j < d; ++j) {
    m.transform.push_back(j % 7 == 6 ? fraudscore::Transform::kLog1p
                                     : fraudscore::Transform::kNone);
    m.mean.push_back(u(rng));
    m.scale.push_back(pos(rng));
  }
  int prev = d;
  std::vector<int> sizes = hidden;
  sizes.push_back(d);
  for (int out : sizes) {
    fraudscore::DenseLayer L;
    L.in = prev;
    L.out = out;
    const float s = std::sqrt(2.0f / prev);
    for (int k = 0; k < prev * out; ++k) L.weight.push_back(u(rng) * s);
    for (int k = 0; k < out; ++k) L.bias.push_back(u(rng) * 0.1f);
    m.layers.push_back(L);
    prev = out;
  }
  return m;
}

// Raw rows; log1p features get values > -1.
inline std::vector<float> randomRows(std::mt19937_64& rng, const fraudscore::ModelSpec& m,
                                     size_t n) {
  std::normal_distribution<float> g(0.f, 2.f);
  std::exponential_distribution<float> e(0.05f);
  std::vector<float> rows(n * m.features);
  for (size_t r = 0; r < n; ++r)
    for (int j = 0; j < m.features; ++j)
      rows[r * m.features + j] =
          m.transform[j] == fraudscore::Transform::kLog1p ? e(rng) : g(rng) + m.mean[j];
  return rows;
}

// Relative error, with the denominator floored at 1e-3: a score below that (a row reconstructed to
// within 0.03 standard deviations per feature) is the difference of nearly equal numbers, where
// fp32 can only promise an absolute error.
inline double relErr(double got, double want) {
  return std::fabs(got - want) / std::max(std::fabs(want), 1e-3);
}

// What an fp32 score's error is measured against, per row. A score is mean_j e_j^2 with
// e_j = z_j - r_j (standardized input minus reconstruction). fp32 gets e_j to within a few ulps of
// |z_j| + |r_j|, not of |e_j|: where r_j nearly cancels z_j, e_j^2 is ill-conditioned and its
// relative error grows by (|z_j| + |r_j|) / |e_j| (seed 3032561282 met one at d = 1: 1.27e-5).
// So the scale is mean_j |e_j| (|z_j| + |r_j|), with |r_j| <= |z_j| + |e_j|: never below the score
// itself, and equal to it up to a small factor on rows without cancellation. Floored at 1e-3 as in
// relErr. refFe is scoreReferenceF64's per-feature errors e_j^2 of the same rows.
inline std::vector<double> scoreErrorScale(const fraudscore::ModelSpec& m, const float* rows,
                                           size_t n, const double* refFe) {
  const int d = m.features;
  std::vector<double> scale(n);
  for (size_t r = 0; r < n; ++r) {
    double s = 0;
    for (int j = 0; j < d; ++j) {
      double x = rows[r * d + j];
      if (m.transform[j] == fraudscore::Transform::kLog1p) x = std::log1p(x);
      const double z = std::fabs((x - m.mean[j]) / m.scale[j]);
      const double e = std::sqrt(refFe[r * d + j]);
      s += e * (2 * z + e);
    }
    scale[r] = std::isfinite(s) ? std::max(s / d, 1e-3) : 1e-3;
  }
  return scale;
}

}  // namespace fstest
