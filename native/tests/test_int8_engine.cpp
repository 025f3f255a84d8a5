// The int8 engine against the float64 reference of the same integer arithmetic (quant.h), on every
// SIMD path this CPU runs, fresh random models and rows each run, odd sizes, static and dynamic
// scales, the fp32 fallback of rows beyond the calibrated range, the non-finite contract and
// thread-count determinism.
//
// Tolerance. The engines and the reference compute the same int32 products; they differ only in
// how the real numbers around them are rounded: the engine computes a layer's output
// y = acc * (sx * sw) + b and the quantizer's argument y * (1 / sx) in fp32, the reference in
// float64. Those differ by a few fp32 ulps, i.e. by ~1e-5 of one quantization step at most
// (|y / sx| <= 127.5, 127.5 * 2^-23 * a few ops). So:
//   - a row none of whose quantized values lies within kBoundary = 1e-4 steps of a rounding
//     boundary (x / sx = m + 0.5) gets exactly the reference's integers, and its score differs only
//     by fp32 rounding of the final layer and sum: relative error < 1e-5;
//   - a row with a value that close to a boundary may round the other way in one engine (one q off
//     by one step). Such rows are counted (they must be rare, a few percent) and must match the
//     reference with each near-tie rounded either way (matchesEitherRounding): a flat relative
//     bound does not hold, since in a narrow net (d = 1, one hidden unit) one step moves the score
//     by up to ~30% (seeds 71, 86, 2456025086 met 5-28%). With dynamic scales a flip can move its
//     block's maximum, hence every row of the block (see boundaryDistance), so the flips tried are
//     those of the whole block.
// The clean-row bound is kScoreTol (see scoreClose for why it is 5e-5 rather than fp32's 1e-5).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "fraudscore/int8.h"
#include "fraudscore/quant.h"
#include "testing.h"

using namespace fraudscore;

namespace {

constexpr double kBoundary = 1e-4;
constexpr double kScoreTol = 5e-5;

// Standardized rows [b0, b0 + nb) exactly as the engines compute them in fp32 (log1p, then times
// the fp32 reciprocal of the scale), widened; ok[r] = 0 for a row with a non-finite value.
std::vector<std::vector<double>> standardizedBlock(const ModelSpec& m, const float* rows, size_t b0,
                                                   size_t nb, std::vector<char>* ok) {
  const int d = m.features;
  std::vector<std::vector<double>> z(nb, std::vector<double>(d));
  ok->assign(nb, 1);
  for (size_t r = 0; r < nb; ++r)
    for (int j = 0; j < d; ++j) {
      float x = rows[(b0 + r) * d + j];
      if (m.transform[j] == Transform::kLog1p) x = std::log1p(x);
      const float v = (x - m.mean[j]) * static_cast<float>(1.0 / static_cast<double>(m.scale[j]));
      if (!std::isfinite(v)) (*ok)[r] = 0;
      z[r][j] = v;
    }
  return z;
}

// Per row: the smallest distance, in quantization steps, between a value the arithmetic rounds and
// a rounding boundary (m + 0.5), along the float64 reference path. blockRows > 0: dynamic scales.
std::vector<double> boundaryDistance(const ModelSpec& m, const QuantSpec& q, const float* rows,
                                     size_t n, int blockRows) {
  const int d = m.features;
  const size_t nl = m.layers.size();
  std::vector<double> dist(n, std::numeric_limits<double>::infinity());
  const size_t B = blockRows > 0 ? blockRows : n;
  for (size_t b0 = 0; b0 < n; b0 += B) {
    const size_t nb = std::min(B, n - b0);
    std::vector<char> ok;
    std::vector<std::vector<double>> a = standardizedBlock(m, rows, b0, nb, &ok);
    for (size_t l = 0; l < nl; ++l) {
      const DenseLayer& L = m.layers[l];
      double sx = q.xscale.empty() ? 1.0 : q.xscale[l];
      if (blockRows > 0) {
        double mx = 0;
        double blockDist = std::numeric_limits<double>::infinity();
        for (size_t r = 0; r < nb; ++r)
          if (ok[r]) {
            blockDist = std::min(blockDist, dist[b0 + r]);
            for (int i = 0; i < L.in; ++i) mx = std::max(mx, std::fabs(a[r][i]));
          }
        sx = mx > 0 ? static_cast<float>(mx / 127.0) : 1.0;
        // The block's maximum sets the scale of every row in the block: if an earlier value of any
        // of its rows sat on a rounding boundary, an engine may round it the other way, so that
        // row's later values, and with them possibly the maximum and every row's scale, move.
        for (size_t r = 0; r < nb; ++r) dist[b0 + r] = std::min(dist[b0 + r], blockDist);
      }
      for (size_t r = 0; r < nb; ++r) {
        if (!ok[r]) continue;
        std::vector<double> y(L.out);
        std::vector<double> qv(L.in);
        for (int i = 0; i < L.in; ++i) {
          const double t = std::fabs(a[r][i] / sx);
          if (t < 127.5 + kBoundary)
            dist[b0 + r] = std::min(dist[b0 + r], std::fabs(t - std::floor(t) - 0.5));
          qv[i] = std::min(127.0, std::max(-127.0, std::round(a[r][i] / sx)));
        }
        for (int o = 0; o < L.out; ++o) {
          double acc = 0;
          for (int i = 0; i < L.in; ++i) acc += qv[i] * q.wq[l][static_cast<size_t>(o) * L.in + i];
          const double s = acc * (sx * q.wscale[l][o]) + L.bias[o];
          y[o] = (l + 1 < nl && s < 0) ? 0.0 : s;
        }
        a[r] = y;
      }
    }
  }
  return dist;
}

// Relative error < kScoreTol = 5e-5 (the fp32 engines' bound is 1e-5), the denominator floored at
// 4e-3 (it was 2e-3 until a fresh seed gave 1.1e-7 absolute, 1.1x that bound, at a score of
// 1.6e-3 on the SSE2 dynamic path, 2026-12-03: fp32 rounding, not a wrong integer). The last
// layer's y = acc * (sx * sw) + b rounds sx * sw, the product and the sum in fp32 (3 roundings, 2
// on the SSE2 path without FMA) where the float64 reference rounds none, and its terms are often
// much larger than y - z: with |y| ~ 3 and |y - z| ~ 0.03 a few ulps of y are ~2e-5 of that
// feature's squared error. Below a score of 2e-3 (a row reconstructed to within ~0.045 standard
// deviations per feature) only an absolute error can be promised.
bool scoreClose(double got, double want) {
  return std::fabs(got - want) <= kScoreTol * std::max(std::fabs(want), 4e-3);
}

// One rounded value of the reference path: row (within the whole batch), layer, input unit.
struct Tie {
  size_t row = SIZE_MAX;
  size_t layer = 0;
  int unit = 0;
};

// The int8 reference's scores of rows [b0, b0 + nb), as scoreReferenceInt8 (static: q.xscale, no
// fallback) or scoreReferenceInt8Dynamic (scales from the block's maxima) compute them, except that
// the rounding at `flip` (if any) is taken the other way. `ties` (when not null) receives every
// rounded value within kBoundary steps of a rounding boundary.
std::vector<double> referenceBlock(const ModelSpec& m, const QuantSpec& q, const float* rows,
                                   size_t b0, size_t nb, bool dynamic, const Tie& flip,
                                   std::vector<Tie>* ties) {
  const int d = m.features;
  const size_t nl = m.layers.size();
  std::vector<char> ok;
  const std::vector<std::vector<double>> z = standardizedBlock(m, rows, b0, nb, &ok);
  std::vector<std::vector<double>> a = z, b;
  for (size_t l = 0; l < nl; ++l) {
    const DenseLayer& L = m.layers[l];
    double sx = q.xscale[l];
    if (dynamic) {
      double mx = 0;
      for (size_t r = 0; r < nb; ++r)
        if (ok[r])
          for (int i = 0; i < L.in; ++i) mx = std::max(mx, std::fabs(a[r][i]));
      sx = mx > 0 ? static_cast<double>(static_cast<float>(mx / 127.0)) : 1.0;
    }
    b.assign(nb, std::vector<double>(L.out, 0.0));
    for (size_t r = 0; r < nb; ++r) {
      if (!ok[r]) continue;
      std::vector<double> qv(L.in);
      for (int i = 0; i < L.in; ++i) {
        const double t = a[r][i] / sx;
        double v = std::round(t);
        if (ties && std::fabs(std::fabs(t) - std::floor(std::fabs(t)) - 0.5) < kBoundary)
          ties->push_back(Tie{b0 + r, l, i});
        if (flip.row == b0 + r && flip.layer == l && flip.unit == i)
          v = v == std::floor(t) ? v + 1 : std::floor(t);
        qv[i] = std::min(127.0, std::max(-127.0, v));
      }
      for (int o = 0; o < L.out; ++o) {
        int64_t acc = 0;
        for (int i = 0; i < L.in; ++i)
          acc += static_cast<int64_t>(qv[i]) * q.wq[l][static_cast<size_t>(o) * L.in + i];
        const double y = static_cast<double>(acc) * (sx * static_cast<double>(q.wscale[l][o])) +
                         static_cast<double>(L.bias[o]);
        b[r][o] = (l + 1 < nl && y < 0) ? 0.0 : y;
      }
    }
    a.swap(b);
  }
  std::vector<double> scores(nb, std::numeric_limits<double>::quiet_NaN());
  for (size_t r = 0; r < nb; ++r) {
    if (!ok[r]) continue;
    double sum = 0;
    for (int j = 0; j < d; ++j) sum += (a[r][j] - z[r][j]) * (a[r][j] - z[r][j]);
    scores[r] = sum / d;
  }
  return scores;
}

// A boundary row's score is right when it is the reference's with every near-tie rounded as the
// reference rounds it, or with one of them (in the row's dynamic block, any row's) rounded the
// other way: the engines' fp32 arithmetic may land on either side of such a tie.
bool matchesEitherRounding(double got, const ModelSpec& m, const QuantSpec& q, const float* rows,
                           size_t n, size_t r, bool dynamic) {
  const size_t b0 = dynamic ? r - r % kInt8DynamicBlockRows : r;
  const size_t nb = dynamic ? std::min<size_t>(kInt8DynamicBlockRows, n - b0) : 1;
  std::vector<Tie> ties;
  const std::vector<double> base = referenceBlock(m, q, rows, b0, nb, dynamic, Tie{}, &ties);
  if (scoreClose(got, base[r - b0])) return true;
  for (const Tie& t : ties)
    if (scoreClose(got, referenceBlock(m, q, rows, b0, nb, dynamic, t, nullptr)[r - b0]))
      return true;
  return false;
}

QuantSpec quantized(const ModelSpec& m, const std::vector<float>& calib) {
  QuantSpec q;
  quantizeWeights(m, &q);
  calibrateActivations(m, calib.data(), calib.size() / m.features, &q);
  return q;
}

struct Tally {
  size_t rows = 0, boundaryRows = 0, fallbackRows = 0;
  double worstClean = 0, worstBoundary = 0;
};

// Scores `rows` with the engine and checks every row against the reference.
void checkAgainstReference(const char* what, const CpuInt8Engine& eng, const ModelSpec& m,
                           const QuantSpec& q, bool dynamic, const std::vector<float>& rows,
                           int threads, bool explain, Tally* t) {
  const int d = m.features;
  const size_t n = rows.size() / d;
  std::vector<float> scores(n, -1.f), fe(explain ? n * d : 0, -1.f);
  std::vector<double> ref(n), refFe(n * d);
  std::vector<unsigned char> over(n, 0);
  const uint64_t fellBefore = eng.fallbackRows();
  BadValue bad = eng.score(rows.data(), n, scores.data(), explain ? fe.data() : nullptr,
                           NonFinite::kNaN, threads);
  CHECK(bad.row == -1);
  if (dynamic)
    scoreReferenceInt8Dynamic(m, q, rows.data(), n, kInt8DynamicBlockRows, ref.data(),
                              refFe.data());
  else
    scoreReferenceInt8(m, q, rows.data(), n, ref.data(), refFe.data(), over.data());
  size_t refOver = 0, boundaryOver = 0;
  const std::vector<double> dist =
      boundaryDistance(m, q, rows.data(), n, dynamic ? kInt8DynamicBlockRows : 0);
  for (size_t r = 0; r < n; ++r) {
    const double e = fstest::relErr(scores[r], ref[r]);
    ++t->rows;
    refOver += over[r];
    t->fallbackRows += over[r];
    if (dist[r] < kBoundary) {
      ++t->boundaryRows;
      t->worstBoundary = std::max(t->worstBoundary, e);
      // A row on the range's edge (|x| / sx = 127.5) may go to fp32 in one and not the other.
      if (q.fallback) {
        ++boundaryOver;
        continue;
      }
      CHECK_MSG(matchesEitherRounding(scores[r], m, q, rows.data(), n, r, dynamic),
                "%s: boundary row %zu: %.9g, reference %.9g, and no one-tie flip gives it", what, r,
                scores[r], ref[r]);
      continue;
    }
    t->worstClean = std::max(t->worstClean, e);
    CHECK_MSG(scoreClose(scores[r], ref[r]),
              "%s n=%zu threads=%d: row %zu: %.9g vs reference %.9g (rel %.3g)", what, n, threads,
              r, scores[r], ref[r], e);
    if (explain) {
      double s = 0;
      for (int j = 0; j < d; ++j) {
        s += fe[r * d + j];
        const double fa = std::fabs(fe[r * d + j] - refFe[r * d + j]);
        CHECK_MSG(fa <= kScoreTol * std::max(1.0, refFe[r * d + j]) + 1e-6,
                  "%s: row %zu feature %d: %.9g vs %.9g", what, r, j, fe[r * d + j],
                  refFe[r * d + j]);
      }
      CHECK_MSG(scoreClose(s / d, scores[r]), "%s: row %zu: feature errors sum", what, r);
    }
  }
  // The engine rescored as many rows as the reference sent to fp32, give or take the edge rows.
  const uint64_t fell = eng.fallbackRows() - fellBefore;
  if (q.fallback && !dynamic)
    CHECK_MSG(fell + boundaryOver >= refOver && fell <= refOver + boundaryOver,
              "%s: engine rescored %llu rows in fp32, reference %zu (%zu edge rows)", what,
              static_cast<unsigned long long>(fell), refOver, boundaryOver);
  else
    CHECK(fell == 0);
}

// Every int8 kernel this machine runs: each SIMD path, and the avx512 path's AMX form where the
// CPU and OS allow it (skipped with a line saying so elsewhere, never faked).
struct Int8Kernel {
  SimdPath path;
  Int8Matmul mm;
  const char* name;
};
const std::vector<Int8Kernel>& int8Kernels() {
  static const std::vector<Int8Kernel> kernels = [] {
    std::vector<Int8Kernel> k;
    for (const Int8Kernel& c : {Int8Kernel{SimdPath::kAvx512, Int8Matmul::kVnni, "avx512-vnni"},
                                Int8Kernel{SimdPath::kAvx512, Int8Matmul::kAmx, "avx512-amx"},
                                Int8Kernel{SimdPath::kAvx2, Int8Matmul::kVnni, "avx2"},
                                Int8Kernel{SimdPath::kSse2, Int8Matmul::kVnni, "sse2"}}) {
      const bool ok = int8SimdSupported(c.path) && (c.mm != Int8Matmul::kAmx || int8AmxSupported());
      if (ok)
        k.push_back(c);
      else
        std::printf("int8 %s: not supported here, skipped\n", c.name);
    }
    return k;
  }();
  return kernels;
}

void testAgainstReference(std::mt19937_64& rng) {
  struct Shape {
    int d;
    std::vector<int> hidden;
  };
  const std::vector<Shape> shapes = {{29, {32, 16, 32}}, {5, {3}},      {13, {7, 5, 9}},
                                     {1, {1}},           {30, {64, 4}}, {33, {17, 33, 2}}};
  const std::vector<size_t> sizes = {1, 3, 4, 15, 16, 17, 95, 96, 97, 1000, 3001};
  for (const Int8Kernel& k : int8Kernels()) {
    const SimdPath p = k.path;
    for (int variant : {0, 1, 2}) {  // static, static with fp32 fallback, dynamic
      const bool dynamic = variant == 2;
      const char* variantName = dynamic ? "dynamic" : variant == 1 ? "static+fallback" : "static";
      Tally t;
      for (const Shape& s : shapes) {
        const ModelSpec m = fstest::randomModel(rng, s.d, s.hidden);
        // With the fallback, calibrate on few rows so that a share of the others leave the range.
        QuantSpec q = quantized(m, fstest::randomRows(rng, m, variant == 1 ? 24 : 512));
        q.fallback = variant == 1;
        CpuInt8Engine eng(m, q, dynamic ? Int8Activations::kDynamic : Int8Activations::kStatic, p,
                          k.mm);
        CHECK(eng.fallback() == (variant == 1));
        CHECK(eng.path() == p);
        CHECK(eng.amx() == (k.mm == Int8Matmul::kAmx));
        for (size_t n : sizes) {
          const std::vector<float> rows = fstest::randomRows(rng, m, n);
          const std::string what = std::string(k.name) + " " + variantName +
                                   " d=" + std::to_string(s.d) + " n=" + std::to_string(n);
          checkAgainstReference(what.c_str(), eng, m, q, dynamic, rows, n % 2 ? 1 : 0, n < 200, &t);
        }
      }
      std::printf(
          "int8 %s %s: %zu rows, worst rel err %.2e (clean rows), %zu boundary rows (worst %.2e), "
          "%zu rows in fp32\n",
          k.name, variantName, t.rows, t.worstClean, t.boundaryRows, t.worstBoundary,
          t.fallbackRows);
      if (variant == 1)  // the fallback was exercised, and most rows still took the int8 path
        CHECK_MSG(t.fallbackRows > t.rows / 100 && t.fallbackRows < t.rows * 9 / 10,
                  "%zu of %zu rows in fp32", t.fallbackRows, t.rows);
      // ~0.7% of rows have one of their ~110 rounded values within 1e-4 of a boundary; with
      // dynamic scales a whole 16-row block goes with any of its rows (~11%). Calibrated on 24
      // rows (the fallback variant), one drawn model now and then puts far more rows there (7.2%
      // of all with FRAUDSCORE_TEST_SEED=2719416480, on the code before and after 2026-12-03's
      // kernel change): the count is the reference's, a property of the draw, so that variant
      // is allowed 1 in 8. The check keeps the test's power: most rows must be checked exactly.
      CHECK_MSG(t.boundaryRows * (dynamic        ? 4
                                  : variant == 1 ? 8
                                                 : 20) <
                    t.rows,
                "too many boundary rows: %zu of %zu", t.boundaryRows, t.rows);
    }
  }
}

// Calibrated on other rows, so some activations clamp at +-127: the clamp must match too.
void testClamping(std::mt19937_64& rng) {
  const ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  std::vector<float> calib = fstest::randomRows(rng, m, 256);
  const QuantSpec q = quantized(m, calib);
  std::vector<float> rows = fstest::randomRows(rng, m, 500);
  for (size_t k = 0; k < rows.size(); k += 3) rows[k] *= 4.f;  // beyond the calibrated range
  for (size_t k = 0; k < rows.size(); ++k)
    if (m.transform[k % 29] == Transform::kLog1p) rows[k] = std::fabs(rows[k]);
  for (const Int8Kernel& k : int8Kernels()) {
    const SimdPath p = k.path;
    CpuInt8Engine eng(m, q, Int8Activations::kStatic, p, k.mm);
    Tally t;
    checkAgainstReference("clamp", eng, m, q, false, rows, 1, true, &t);
    // The same rows with the fp32 fallback: the out-of-range rows get fp32 scores and errors.
    QuantSpec qf = q;
    qf.fallback = true;
    CpuInt8Engine ef(m, qf, Int8Activations::kStatic, p, k.mm);
    Tally tf;
    checkAgainstReference("fallback", ef, m, qf, false, rows, 0, true, &tf);
    CHECK_MSG(tf.fallbackRows > 100, "only %zu of 500 rows left the range", tf.fallbackRows);
  }
}

// Layer 0's outputs 1e9 times larger than the scale layer 1 was given (as if calibrated on other
// weights): y / sx' passes 2^31 and every value clamps to 127, where the AVX-512 kernels' int32
// conversion would overflow to INT32_MIN, which their saturating pack takes to 0
// (Int8Model::hiddenBounded). Scores must still match the reference.
void testHugeHiddenValues(std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  for (float& w : m.layers[0].weight) w *= 1e9f;
  for (float& b : m.layers[0].bias) b *= 1e9f;
  QuantSpec q = quantized(m, fstest::randomRows(rng, m, 256));
  for (size_t l = 1; l < q.xscale.size(); ++l) q.xscale[l] *= 1e-9f;  // later layers as before
  const std::vector<float> rows = fstest::randomRows(rng, m, 300);
  for (const Int8Kernel& k : int8Kernels()) {
    CpuInt8Engine eng(m, q, Int8Activations::kStatic, k.path, k.mm);
    Tally t;
    checkAgainstReference("huge hidden values", eng, m, q, false, rows, 1, true, &t);
  }
}

void testNonFinite(std::mt19937_64& rng) {
  const ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  const QuantSpec q = quantized(m, fstest::randomRows(rng, m, 256));
  const size_t n = 5000;
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  const float inf = std::numeric_limits<float>::infinity();
  rows[3100 * 29 + 4] = std::numeric_limits<float>::quiet_NaN();
  rows[3100 * 29 + 2] = inf;  // the first bad column of row 3100 is 2
  rows[4200 * 29 + 0] = -inf;
  rows[17 * 29 + 6] = -1.f;  // log1p(-1) = -inf (feature 6 is log1p in randomModel)
  for (const Int8Kernel& k : int8Kernels()) {
    const SimdPath p = k.path;
    for (Int8Activations act : {Int8Activations::kStatic, Int8Activations::kDynamic}) {
      CpuInt8Engine eng(m, q, act, p, k.mm);
      std::vector<float> s(n), fe(n * 29);
      for (int threads : {1, 0, 3}) {
        BadValue b = eng.score(rows.data(), n, s.data(), nullptr, NonFinite::kError, threads);
        CHECK_MSG(b.row == 17 && b.col == 6, "%s threads=%d: got (%lld, %d)", k.name, threads,
                  static_cast<long long>(b.row), b.col);
        b = eng.score(rows.data() + 18 * 29, n - 18, s.data(), nullptr, NonFinite::kError, threads);
        CHECK_MSG(b.row == 3100 - 18 && b.col == 2, "%s: got (%lld, %d)", k.name,
                  static_cast<long long>(b.row), b.col);
      }
      // A lone row and a short batch take the row path (kRowPathMax rows or fewer after the last
      // strip): the same first bad value, NaN scores with kNaN.
      for (size_t r : {size_t(17), size_t(3100)}) {
        const int col = r == 17 ? 6 : 2;
        BadValue one = eng.score(rows.data() + r * 29, 1, s.data(), nullptr, NonFinite::kError, 1);
        CHECK_MSG(one.row == 0 && one.col == col, "%s: lone row %zu gave (%lld, %d)", k.name, r,
                  static_cast<long long>(one.row), one.col);
        one = eng.score(rows.data() + (r - 2) * 29, 3, s.data(), fe.data(), NonFinite::kNaN, 1);
        CHECK(one.row == -1 && !std::isnan(s[0]) && std::isnan(s[2]) && std::isnan(fe[2 * 29 + 5]));
      }
      const BadValue b = eng.score(rows.data(), n, s.data(), fe.data(), NonFinite::kNaN, 0);
      CHECK(b.row == -1);
      for (size_t r : {size_t(17), size_t(3100), size_t(4200)}) {
        CHECK(std::isnan(s[r]));
        for (int j = 0; j < 29; ++j) CHECK(std::isnan(fe[r * 29 + j]));
      }
      // The finite rows score as the reference says (a bad row moves no dynamic scale).
      std::vector<double> ref(n);
      if (act == Int8Activations::kDynamic)
        scoreReferenceInt8Dynamic(m, q, rows.data(), n, kInt8DynamicBlockRows, ref.data(), nullptr);
      else
        scoreReferenceInt8(m, q, rows.data(), n, ref.data(), nullptr);
      const std::vector<double> dist = boundaryDistance(
          m, q, rows.data(), n, act == Int8Activations::kDynamic ? kInt8DynamicBlockRows : 0);
      size_t finite = 0;
      for (size_t r = 0; r < n; ++r) {
        if (std::isnan(ref[r]) || dist[r] < kBoundary) continue;
        ++finite;
        CHECK_MSG(scoreClose(s[r], ref[r]), "row %zu: %.9g vs %.9g", r, s[r], ref[r]);
      }
      CHECK(finite > n * 3 / 4);  // the others are boundary rows (see the top of this file)
    }
  }
}

// A row scored alone (the row path of the kernels that have one: kRowPathMax rows or fewer) gets
// the same score and feature errors, bit for bit, as inside a full strip.
void testRowPathMatchesStrip(std::mt19937_64& rng) {
  struct Shape {
    int d;
    std::vector<int> hidden;
  };
  for (const Shape& s : {Shape{29, {32, 16, 32}}, Shape{13, {7, 5, 9}}, Shape{30, {64, 4}},
                         Shape{33, {17, 33, 2}}}) {
    const ModelSpec m = fstest::randomModel(rng, s.d, s.hidden);
    for (bool fallback : {false, true}) {
      QuantSpec q = quantized(m, fstest::randomRows(rng, m, fallback ? 24 : 512));
      q.fallback = fallback;
      const size_t n = 64;  // whole strips on every path
      const std::vector<float> rows = fstest::randomRows(rng, m, n);
      for (const Int8Kernel& k : int8Kernels()) {
        CpuInt8Engine eng(m, q, Int8Activations::kStatic, k.path, k.mm);
        std::vector<float> strip(n), stripFe(n * s.d), one(1), oneFe(s.d);
        CHECK(eng.score(rows.data(), n, strip.data(), stripFe.data(), NonFinite::kNaN, 1).row ==
              -1);
        size_t differ = 0;
        for (size_t r = 0; r < n; ++r) {
          eng.score(rows.data() + r * s.d, 1, one.data(), oneFe.data(), NonFinite::kNaN, 1);
          if (std::memcmp(&one[0], &strip[r], sizeof(float)) != 0 ||
              std::memcmp(oneFe.data(), stripFe.data() + r * s.d, s.d * sizeof(float)) != 0)
            ++differ;
        }
        CHECK_MSG(differ == 0, "%s d=%d fallback=%d: %zu of %zu lone rows differ from the strip",
                  k.name, s.d, fallback, differ, n);
      }
    }
  }
}

// Same scores, bit for bit, whatever the thread count (dynamic blocks are aligned to the call).
void testThreadsDeterministic(std::mt19937_64& rng) {
  const ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  const QuantSpec q = quantized(m, fstest::randomRows(rng, m, 256));
  const size_t n = 20011;
  const std::vector<float> rows = fstest::randomRows(rng, m, n);
  for (Int8Activations act : {Int8Activations::kStatic, Int8Activations::kDynamic}) {
    CpuInt8Engine eng(m, q, act);
    std::vector<float> a(n), b(n), c(n);
    eng.score(rows.data(), n, a.data(), nullptr, NonFinite::kError, 1);
    eng.score(rows.data(), n, b.data(), nullptr, NonFinite::kError, 0);
    eng.score(rows.data(), n, c.data(), nullptr, NonFinite::kError, 7);
    CHECK(a == b);
    CHECK(a == c);
  }
}

// The AMX kernel sums the same int32 products as the VNNI one and requantizes alike: every score
// and feature error must be bit-identical, on layers wider than one tile (> 16 outputs, > 64
// inputs: several chunks and k-blocks), with and without the fp32 fallback, at every strip count.
void testAmxMatchesVnni(std::mt19937_64& rng) {
  if (!int8AmxSupported()) {
    std::printf("int8 avx512-amx: not supported here, AMX/VNNI identity skipped\n");
    return;
  }
  struct Shape {
    int d;
    std::vector<int> hidden;
  };
  for (const Shape& s :
       {Shape{29, {32, 16, 32}}, Shape{100, {70, 130, 20}}, Shape{7, {200}}, Shape{3, {1}}}) {
    const ModelSpec m = fstest::randomModel(rng, s.d, s.hidden);
    for (bool fallback : {false, true}) {
      QuantSpec q = quantized(m, fstest::randomRows(rng, m, fallback ? 24 : 512));
      q.fallback = fallback;
      for (Int8Activations act : {Int8Activations::kStatic, Int8Activations::kDynamic}) {
        CpuInt8Engine vnni(m, q, act, SimdPath::kAvx512, Int8Matmul::kVnni);
        CpuInt8Engine amx(m, q, act, SimdPath::kAvx512, Int8Matmul::kAmx);
        CHECK(amx.amx() && !vnni.amx());
        for (size_t n :
             {size_t(1), size_t(17), size_t(64), size_t(65), size_t(1000), size_t(4099)}) {
          const std::vector<float> rows = fstest::randomRows(rng, m, n);
          std::vector<float> sa(n), sv(n), fa(n * s.d), fv(n * s.d);
          CHECK(vnni.score(rows.data(), n, sv.data(), fv.data(), NonFinite::kNaN, 0).row == -1);
          CHECK(amx.score(rows.data(), n, sa.data(), fa.data(), NonFinite::kNaN, 0).row == -1);
          CHECK_MSG(std::memcmp(sa.data(), sv.data(), n * sizeof(float)) == 0 &&
                        std::memcmp(fa.data(), fv.data(), fa.size() * sizeof(float)) == 0,
                    "AMX differs from VNNI: d=%d n=%zu fallback=%d dynamic=%d", s.d, n, fallback,
                    act == Int8Activations::kDynamic);
        }
      }
    }
  }
}

void testValidation(std::mt19937_64& rng) {
  const ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  QuantSpec q = quantized(m, fstest::randomRows(rng, m, 64));
  auto message = [&](const QuantSpec& bad, Int8Activations act) -> std::string {
    try {
      CpuInt8Engine eng(m, bad, act);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  QuantSpec a = q;
  a.wq[1].pop_back();
  CHECK_MSG(message(a, Int8Activations::kStatic) ==
                "invalid quantization: wq[1] has 511 values, expected 512",
            "%s", message(a, Int8Activations::kStatic).c_str());
  QuantSpec b = q;
  b.xscale[2] = 0.f;
  CHECK(message(b, Int8Activations::kStatic) ==
        "invalid quantization: xscale[2] must be finite and > 0");
  // Dynamic scales need no static ones.
  b.xscale.clear();
  CHECK(message(b, Int8Activations::kDynamic).empty());
  QuantSpec c = q;
  c.wq[0][5] = -128;
  CHECK(message(c, Int8Activations::kStatic).find("wq[0][5] is -128") != std::string::npos);
  ModelSpec bm = m;
  bm.scale[3] = -1.f;
  try {
    CpuInt8Engine eng(bm, q, Int8Activations::kStatic);
    CHECK(false);
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).rfind("invalid model: ", 0) == 0);
  }
}

}  // namespace

int main() {
  std::mt19937_64 rng(fstest::testSeed());
  std::printf("int8 default path: %s\n", simdPathName(defaultInt8Simd()));
  testAgainstReference(rng);
  testClamping(rng);
  testHugeHiddenValues(rng);
  testNonFinite(rng);
  testThreadsDeterministic(rng);
  testAmxMatchesVnni(rng);
  testRowPathMatchesStrip(rng);
  testValidation(rng);
  return fstest::finish("test_int8_engine");
}
