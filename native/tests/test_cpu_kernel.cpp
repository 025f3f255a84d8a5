// The fused CPU kernel on every SIMD path this machine runs, against the float64 reference, on
// fresh random models and inputs (odd sizes included), plus non-finite handling and threading.
#include <atomic>
#include <limits>
#include <stdexcept>
#include <thread>

#include "fraudscore/cpu.h"
#include "fraudscore/thread_pool.h"
#include "testing.h"

using namespace fraudscore;

static void checkPath(SimdPath path, std::mt19937_64& rng, int d, const std::vector<int>& hidden,
                      size_t n, int threads) {
  ModelSpec m = fstest::randomModel(rng, d, hidden);
  CpuEngine eng(m, path);
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  std::vector<float> scores(n, -1.f), fe(n * d, -1.f);
  std::vector<double> ref(n), refFe(n * d);
  scoreReferenceF64(m, rows.data(), n, ref.data(), refFe.data());
  BadValue bad = eng.score(rows.data(), n, scores.data(), fe.data(), NonFinite::kError, threads);
  CHECK_MSG(bad.row == -1, "unexpected bad row %lld", static_cast<long long>(bad.row));
  // Errors relative to the row's conditioning (see scoreErrorScale); per-feature errors can be
  // tiny, so they are compared against the row's total.
  const std::vector<double> scale = fstest::scoreErrorScale(m, rows.data(), n, refFe.data());
  double worst = 0, worstFe = 0;
  for (size_t i = 0; i < n; ++i) {
    worst = std::max(worst, std::fabs(scores[i] - ref[i]) / scale[i]);
    for (int j = 0; j < d; ++j)
      worstFe = std::max(worstFe, std::fabs(fe[i * d + j] - refFe[i * d + j]) / (scale[i] * d));
  }
  CHECK_MSG(worst < 1e-5, "%s d=%d n=%zu threads=%d: max rel err %.3g", simdPathName(path), d, n,
            threads, worst);
  CHECK_MSG(worstFe < 1e-5, "%s d=%d n=%zu: feature error rel %.3g", simdPathName(path), d, n,
            worstFe);
  // Without feature errors the scores are the same.
  std::vector<float> s2(n);
  eng.score(rows.data(), n, s2.data(), nullptr, NonFinite::kError, threads);
  for (size_t i = 0; i < n; ++i) CHECK(s2[i] == scores[i]);
}

static void checkNonFinite(SimdPath path, std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  CpuEngine eng(m, path);
  const size_t n = 5000;
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  rows[1234 * 29 + 5] = std::numeric_limits<float>::quiet_NaN();
  rows[4321 * 29 + 7] = std::numeric_limits<float>::infinity();
  rows[4500 * 29 + 6] = -3.f;  // feature 6 is log1p: log1p(-3) is NaN
  std::vector<float> scores(n);
  for (int threads : {1, 2, 4}) {
    BadValue bad = eng.score(rows.data(), n, scores.data(), nullptr, NonFinite::kError, threads);
    CHECK_MSG(bad.row == 1234 && bad.col == 5, "threads=%d got row %lld col %d", threads,
              static_cast<long long>(bad.row), bad.col);
  }
  std::vector<float> fe(n * 29);
  BadValue bad = eng.score(rows.data(), n, scores.data(), fe.data(), NonFinite::kNaN, 2);
  CHECK(bad.row == -1);
  for (size_t r : {size_t{1234}, size_t{4321}, size_t{4500}})
    for (int j = 0; j < 29; ++j) CHECK(std::isnan(fe[r * 29 + j]));
  for (size_t r : {size_t{0}, size_t{1233}, size_t{1235}, size_t{n - 1}})
    for (int j = 0; j < 29; ++j) CHECK(std::isfinite(fe[r * 29 + j]));
  CHECK(std::isnan(scores[1234]));
  CHECK(std::isnan(scores[4321]));
  CHECK(std::isnan(scores[4500]));
  CHECK(std::isfinite(scores[0]) && std::isfinite(scores[1235]) && std::isfinite(scores[n - 1]));
}

// A row's score must not depend on where it sits in a batch: alone (the row path), inside a full
// block, inside a padded last group or among the row-path tail rows, the kernel performs the same
// float operations in the same order, so the results are bit-identical.
static void checkPositionIndependence(SimdPath path, std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  CpuEngine eng(m, path);
  const int d = m.features;
  for (size_t n : {size_t{3}, size_t{17}, size_t{20}, size_t{53}, size_t{250}}) {
    std::vector<float> rows = fstest::randomRows(rng, m, n);
    std::vector<float> scores(n), fe(n * d);
    eng.score(rows.data(), n, scores.data(), fe.data(), NonFinite::kError, 1);
    int mismatches = 0;
    for (size_t r = 0; r < n; ++r) {
      float one = -1.f;
      std::vector<float> oneFe(d);
      eng.score(rows.data() + r * d, 1, &one, oneFe.data(), NonFinite::kError, 1);
      if (one != scores[r]) ++mismatches;
      for (int j = 0; j < d; ++j)
        if (oneFe[j] != fe[r * d + j]) ++mismatches;
    }
    CHECK_MSG(mismatches == 0, "%s n=%zu: %d values differ between a lone row and the batch",
              simdPathName(path), n, mismatches);
  }
}

// log1p features at the edges of the kernel's vector log1p: tiny, near -1, huge, exact zero.
static void checkLog1pEdges(SimdPath path, std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  for (int j = 0; j < m.features; ++j) m.transform[j] = Transform::kLog1p;
  CpuEngine eng(m, path);
  const float edges[] = {0.f,   -0.f,   1e-30f,  -1e-30f,  1e-8f,    -1e-8f,  3e-8f,
                         1e-4f, -1e-4f, 0.5f,    -0.5f,    -0.9f,    -0.999f, -0.9999999f,
                         1.f,   2.f,    7.5f,    1e3f,     1e10f,    1e30f,   3.4e38f,
                         0.41f, -0.29f, 0.4142f, -0.2929f, 1.41421f, 0.70710f};
  const size_t ne = sizeof(edges) / sizeof(edges[0]);
  const size_t n = 100;
  std::vector<float> rows(n * m.features);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = edges[(i * 7 + i / 29) % ne];
  std::vector<float> scores(n);
  std::vector<double> ref(n);
  scoreReferenceF64(m, rows.data(), n, ref.data(), nullptr);
  BadValue bad = eng.score(rows.data(), n, scores.data(), nullptr, NonFinite::kError, 1);
  CHECK(bad.row == -1);
  double worst = 0;
  for (size_t i = 0; i < n; ++i) worst = std::max(worst, fstest::relErr(scores[i], ref[i]));
  CHECK_MSG(worst < 1e-5, "%s log1p edges: max rel err %.3g", simdPathName(path), worst);
  // Small inputs under a small scale: z = log1p(x) * 1e6 exposes any absolute error in log1p near
  // 0 (log(1 + x) alone is off by up to 6e-8 there, i.e. 0.06 in z).
  {
    ModelSpec ms = m;
    for (int j = 0; j < ms.features; ++j) {
      ms.mean[j] = 0.f;
      ms.scale[j] = 1e-6f;
    }
    CpuEngine es(ms, path);
    std::uniform_real_distribution<float> mag(-9.f, -5.f);
    std::vector<float> small(n * ms.features);
    for (float& v : small) v = std::pow(10.f, mag(rng)) * (rng() % 2 ? 1.f : -1.f);
    scoreReferenceF64(ms, small.data(), n, ref.data(), nullptr);
    es.score(small.data(), n, scores.data(), nullptr, NonFinite::kError, 1);
    double w = 0;
    for (size_t i = 0; i < n; ++i) w = std::max(w, fstest::relErr(scores[i], ref[i]));
    CHECK_MSG(w < 1e-5, "%s log1p of small inputs: max rel err %.3g", simdPathName(path), w);
  }
  // Out of log1p's domain: -1 (log1p = -inf), below -1 (NaN), +inf. Each is reported, in a lone
  // row (row path) and inside a block (group path).
  for (float x : {-1.f, -1.5f, std::numeric_limits<float>::infinity()}) {
    for (size_t at : {size_t{0}, size_t{n - 1}, size_t{37}}) {
      std::vector<float> r2 = rows;
      r2[at * m.features + 11] = x;
      r2[at * m.features + 20] = std::numeric_limits<float>::quiet_NaN();
      bad = eng.score(r2.data(), n, scores.data(), nullptr, NonFinite::kError, 1);
      CHECK_MSG(bad.row == static_cast<int64_t>(at) && bad.col == 11, "%s x=%g at %zu: got %lld/%d",
                simdPathName(path), x, at, static_cast<long long>(bad.row), bad.col);
      float one;
      bad = eng.score(r2.data() + at * m.features, 1, &one, nullptr, NonFinite::kError, 1);
      CHECK(bad.row == 0 && bad.col == 11);
    }
  }
}

// A bad value in a tail row that the row path scores (after full blocks), in both modes.
static void checkNonFiniteTail(SimdPath path, std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  CpuEngine eng(m, path);
  for (size_t n : {size_t{97}, size_t{98}, size_t{1}}) {
    std::vector<float> rows = fstest::randomRows(rng, m, n);
    rows[(n - 1) * 29 + 28] = -std::numeric_limits<float>::infinity();
    std::vector<float> scores(n), fe(n * 29);
    BadValue bad = eng.score(rows.data(), n, scores.data(), nullptr, NonFinite::kError, 1);
    CHECK_MSG(bad.row == static_cast<int64_t>(n - 1) && bad.col == 28, "%s n=%zu: got %lld/%d",
              simdPathName(path), n, static_cast<long long>(bad.row), bad.col);
    bad = eng.score(rows.data(), n, scores.data(), fe.data(), NonFinite::kNaN, 1);
    CHECK(bad.row == -1);
    CHECK(std::isnan(scores[n - 1]) && std::isnan(fe[(n - 1) * 29 + 3]));
    if (n > 1) CHECK(std::isfinite(scores[n - 2]) && std::isfinite(fe[(n - 2) * 29 + 3]));
  }
}

// Several threads scoring through the shared pool at once (as concurrent async calls do), with
// small and large batches mixed: every answer equals the single-threaded one.
static void checkConcurrentCallers(std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  CpuEngine eng(m);
  const size_t n = 6000;
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  std::vector<float> want(n);
  eng.score(rows.data(), n, want.data(), nullptr, NonFinite::kError, 1);
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t)
    callers.emplace_back([&, t] {
      std::vector<float> got(n);
      for (int it = 0; it < 30; ++it) {
        const size_t len = (it + t) % 3 == 0 ? n : (it % 2 ? 1 : 300);
        eng.score(rows.data(), len, got.data(), nullptr, NonFinite::kError, 0);
        for (size_t i = 0; i < len; ++i)
          if (got[i] != want[i]) ++wrong;
      }
    });
  for (auto& c : callers) c.join();
  CHECK_MSG(wrong.load() == 0, "%d scores differ under concurrent callers", wrong.load());
}

static void checkInvalidSpec() {
  std::mt19937_64 rng(1);
  ModelSpec m = fstest::randomModel(rng, 5, {4});
  m.layers[1].out = 4;
  m.layers[1].weight.resize(16);
  m.layers[1].bias.resize(4);
  bool threw = false;
  try {
    CpuEngine e(m);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("last layer outputs 4") != std::string::npos;
  }
  CHECK(threw);
  ModelSpec m2 = fstest::randomModel(rng, 5, {4});
  m2.layers[0].weight[3] = std::numeric_limits<float>::infinity();
  CHECK(m2.validate() == "layers[0].weight holds a non-finite value");
  ModelSpec m3 = fstest::randomModel(rng, 5, {4});
  m3.scale[2] = 0.f;
  CHECK(m3.validate() == "scale[2] must be finite and > 0");
}

int main() {
  std::mt19937_64 rng(fstest::testSeed());
  for (SimdPath path : {SimdPath::kAvx512, SimdPath::kAvx2, SimdPath::kSse2}) {
    if (!simdSupported(path)) {
      std::printf("skip %s: not supported on this CPU\n", simdPathName(path));
      continue;
    }
    std::printf("path %s\n", simdPathName(path));
    // The benchmark shape, then odd sizes: 1 row, 7 rows, feature counts off the vector width.
    for (size_t n : {1, 3, 7, 17, 20, 47, 95, 96, 97, 1000, 4099})
      checkPath(path, rng, 29, {32, 16, 32}, n, 0);
    for (int d : {1, 3, 5, 13, 17, 30, 33})
      for (size_t n : {1, 7, 250}) checkPath(path, rng, d, {d + 3, 2, 9}, n, 1);
    checkPath(path, rng, 29, {64, 48, 8, 70}, 333, 2);  // wide layers: several column chunks
    checkPath(path, rng, 29, {32, 16, 32}, 20000, 2);   // threaded
    checkPath(path, rng, 29, {32, 16, 32}, 20000, 3);   // more threads than cores
    checkNonFinite(path, rng);
    checkPositionIndependence(path, rng);
    checkLog1pEdges(path, rng);
    checkNonFiniteTail(path, rng);
  }
  checkInvalidSpec();
  // The pool can be resized and still produces the same answers.
  setPoolSize(3);
  CHECK(poolSize() == 3);
  checkPath(defaultSimd(), rng, 29, {32, 16, 32}, 10000, 0);
  checkConcurrentCallers(rng);
  setPoolSize(2);
  checkConcurrentCallers(rng);
  return fstest::finish("test_cpu_kernel");
}
