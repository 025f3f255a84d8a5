// The fused CPU kernel on every SIMD path this machine runs, against the float64 reference, on
// fresh random models and inputs (odd sizes included), plus non-finite handling and threading.
#include <limits>
#include <stdexcept>

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
  double worst = 0, worstFe = 0;
  for (size_t i = 0; i < n; ++i) worst = std::max(worst, fstest::relErr(scores[i], ref[i]));
  // Per-feature errors can be tiny, so compare them relative to the row's total.
  for (size_t i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j)
      worstFe = std::max(worstFe, std::fabs(fe[i * d + j] - refFe[i * d + j]) / std::max(ref[i] * d, 1e-3));
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
  BadValue bad = eng.score(rows.data(), n, scores.data(), nullptr, NonFinite::kNaN, 2);
  CHECK(bad.row == -1);
  CHECK(std::isnan(scores[1234]));
  CHECK(std::isnan(scores[4321]));
  CHECK(std::isnan(scores[4500]));
  CHECK(std::isfinite(scores[0]) && std::isfinite(scores[1235]) && std::isfinite(scores[n - 1]));
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
    for (size_t n : {1, 7, 95, 96, 97, 1000, 4099})
      checkPath(path, rng, 29, {32, 16, 32}, n, 0);
    for (int d : {1, 3, 5, 13, 17, 30, 33})
      for (size_t n : {1, 7, 250}) checkPath(path, rng, d, {d + 3, 2, 9}, n, 1);
    checkPath(path, rng, 29, {64, 48, 8, 70}, 333, 2);  // wide layers: several column chunks
    checkPath(path, rng, 29, {32, 16, 32}, 20000, 2);   // threaded
    checkPath(path, rng, 29, {32, 16, 32}, 20000, 3);   // more threads than cores
    checkNonFinite(path, rng);
  }
  checkInvalidSpec();
  // The pool can be resized and still produces the same answers.
  setPoolSize(3);
  CHECK(poolSize() == 3);
  checkPath(defaultSimd(), rng, 29, {32, 16, 32}, 10000, 0);
  return fstest::finish("test_cpu_kernel");
}
