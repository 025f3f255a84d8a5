// CUDA scoring against the float64 references on fresh random inputs: fp32 (relative error < 1e-5)
// and int8 (the quant.h arithmetic), both kernel shapes (fixed32, generic), host calls with
// pageable and pinned buffers, device-resident calls, per-feature errors, and the non-finite
// contract. Skips (exit 0, saying why) when no CUDA device answers.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cuda_testing.h"
#include "fraudscore/cpu.h"
#include "fraudscore/quant.h"

using namespace fraudscore;

namespace {

constexpr float kPoison = -12345.f;

struct Case {
  const char* name;
  int d;
  std::vector<int> hidden;
  const char* kernel;
};

// Worst relative score error and worst feature error (relative to the row's total error).
struct Errs {
  double score = 0, fe = 0;
  size_t unwritten = 0;
};

// Errors are relative to each row's conditioning (fstest::scoreErrorScale).
Errs compare(const std::vector<float>& s, const std::vector<float>& fe,
             const std::vector<double>& ref, const std::vector<double>& refFe,
             const std::vector<double>& scale, size_t n, int d) {
  Errs e;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] == kPoison) ++e.unwritten;
    e.score = std::max(e.score, std::fabs(s[i] - ref[i]) / scale[i]);
    if (!fe.empty())
      for (int j = 0; j < d; ++j)
        e.fe = std::max(e.fe, std::fabs(fe[i * d + j] - refFe[i * d + j]) / (scale[i] * d));
  }
  return e;
}

void fp32Case(std::mt19937_64& rng, const Case& c, int variant) {
  ModelSpec m = fstest::randomModel(rng, c.d, c.hidden);
  const size_t n = 70001;  // not a multiple of any block or chunk size
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  std::vector<double> ref(n), refFe(n * c.d);
  scoreReferenceF64(m, rows.data(), n, ref.data(), refFe.data());
  const std::vector<double> scale = fstest::scoreErrorScale(m, rows.data(), n, refFe.data());

  CudaEngine::Options opt;
  opt.chunkRows = 16384;  // several chunks per call: exercises the stream pipeline
  opt.fixedVariant = variant;
  CudaEngine eng(m, opt);
  CHECK_MSG(std::strncmp(eng.kernelName(), c.kernel, std::strlen(c.kernel)) == 0,
            "%s: kernel %s, expected %s", c.name, eng.kernelName(), c.kernel);

  // Host call, pageable buffers, with feature errors.
  std::vector<float> s(n, kPoison), fe(n * c.d, kPoison);
  BadValue bad = eng.score(rows.data(), n, s.data(), fe.data(), NonFinite::kError);
  CHECK(bad.row == -1);
  Errs e = compare(s, fe, ref, refFe, scale, n, c.d);
  CHECK_MSG(e.unwritten == 0, "%s: %zu scores unwritten", c.name, e.unwritten);
  CHECK_MSG(e.score < 1e-5, "%s fp32 pageable: worst score rel err %.3g", c.name, e.score);
  CHECK_MSG(e.fe < 1e-5, "%s fp32 pageable: worst feature err %.3g", c.name, e.fe);
  std::printf("%s fp32 [%s]: worst rel err %.2e (features %.2e)\n", c.name, eng.kernelName(),
              e.score, e.fe);

  // Host call, pinned buffers (copied directly, no staging), no feature errors.
  CudaBuffer pr(n * c.d * sizeof(float), CudaBuffer::kPinnedHost),
      ps(n * sizeof(float), CudaBuffer::kPinnedHost);
  std::memcpy(pr.data(), rows.data(), n * c.d * sizeof(float));
  ps.fill(0xff);
  bad = eng.score(pr.as<float>(), n, ps.as<float>(), nullptr, NonFinite::kError);
  CHECK(bad.row == -1);
  std::vector<float> s2(ps.as<float>(), ps.as<float>() + n);
  size_t nan = 0;
  for (float v : s2) nan += std::isnan(v) ? 1 : 0;
  CHECK_MSG(nan == 0, "%s pinned: %zu scores unwritten (NaN poison)", c.name, nan);
  e = compare(s2, {}, ref, refFe, scale, n, c.d);
  CHECK_MSG(e.score < 1e-5, "%s fp32 pinned: worst rel err %.3g", c.name, e.score);

  // Device-resident call.
  CudaBuffer dr(n * c.d * sizeof(float), CudaBuffer::kDevice),
      ds(n * sizeof(float), CudaBuffer::kDevice);
  dr.upload(rows.data(), n * c.d * sizeof(float));
  ds.fill(0xff);
  float ms = -1;
  bad = eng.scoreDevice(dr.as<float>(), n, ds.as<float>(), nullptr, NonFinite::kError, &ms);
  CHECK(bad.row == -1);
  CHECK(ms >= 0);
  std::vector<float> s3(n);
  ds.download(s3.data(), n * sizeof(float));
  e = compare(s3, {}, ref, refFe, scale, n, c.d);
  CHECK_MSG(e.score < 1e-5, "%s fp32 device: worst rel err %.3g", c.name, e.score);
  CHECK(std::memcmp(s3.data(), s2.data(), n * sizeof(float)) == 0);  // same kernel, same bits

  // Non-finite values: kError reports the first (row, col) in row-major order even when a later
  // chunk (another stream) also holds one; kNaN gives NaN rows and scores the rest.
  std::vector<float> badRows = rows;
  const size_t r1 = 40000, r2 = 20001;  // r2 < r1, in different chunks
  badRows[r1 * c.d + 1] = std::numeric_limits<float>::quiet_NaN();
  badRows[r2 * c.d + (c.d - 1)] = std::numeric_limits<float>::infinity();
  badRows[r2 * c.d + c.d - 2] = std::numeric_limits<float>::infinity();
  bad = eng.score(badRows.data(), n, s.data(), nullptr, NonFinite::kError);
  CHECK_MSG(bad.row == static_cast<int64_t>(r2) && bad.col == c.d - 2,
            "%s: bad (%lld, %d), expected (%zu, %d)", c.name, static_cast<long long>(bad.row),
            bad.col, r2, c.d - 2);
  std::fill(s.begin(), s.end(), kPoison);
  std::fill(fe.begin(), fe.end(), kPoison);
  bad = eng.score(badRows.data(), n, s.data(), fe.data(), NonFinite::kNaN);
  CHECK(bad.row == -1);
  CHECK(std::isnan(s[r1]) && std::isnan(s[r2]) && std::isnan(fe[r1 * c.d]) &&
        std::isnan(fe[r2 * c.d + 3]));
  s[r1] = static_cast<float>(ref[r1]);
  s[r2] = static_cast<float>(ref[r2]);
  e = compare(s, {}, ref, refFe, scale, n, c.d);
  CHECK_MSG(e.score < 1e-5 && e.unwritten == 0, "%s kNaN: other rows rel err %.3g, unwritten %zu",
            c.name, e.score, e.unwritten);
  // log1p input <= -1 is non-finite too (feature 6 is log1p in randomModel when d > 6).
  if (c.d > 6) {
    std::vector<float> lr(rows.begin(), rows.begin() + 3 * c.d);
    lr[2 * c.d + 6] = -1.f;
    std::vector<float> s4(3);
    bad = eng.score(lr.data(), 3, s4.data(), nullptr, NonFinite::kError);
    CHECK(bad.row == 2 && bad.col == 6);
  }
}

void int8Case(std::mt19937_64& rng, const Case& c) {
  ModelSpec m = fstest::randomModel(rng, c.d, c.hidden);
  const size_t n = 50000;
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  QuantSpec q;
  quantizeWeights(m, &q);
  calibrateActivations(m, rows.data(), 4096, &q);
  CHECK(q.validate(m).empty());
  std::vector<double> ref(n), refFe(n * c.d), f32(n);
  scoreReferenceInt8(m, q, rows.data(), n, ref.data(), refFe.data());
  scoreReferenceF64(m, rows.data(), n, f32.data(), nullptr);
  CudaEngine::Options opt;
  opt.precision = CudaPrecision::kInt8;
  CudaEngine eng(m, opt, &q);
  std::vector<float> s(n, kPoison), fe(n * c.d, kPoison);
  BadValue bad = eng.score(rows.data(), n, s.data(), fe.data(), NonFinite::kError);
  CHECK(bad.row == -1);
  // Engines and reference agree up to fp32 rounding: a value that falls within rounding of a
  // quantization boundary may land one level apart, which moves that row slightly. So: almost every
  // row matches tightly, and none is far off.
  std::vector<double> errs(n);
  size_t unwritten = 0;
  for (size_t i = 0; i < n; ++i) {
    errs[i] = fstest::relErr(s[i], ref[i]);
    if (s[i] == kPoison) ++unwritten;
  }
  std::vector<double> sorted = errs;
  std::sort(sorted.begin(), sorted.end());
  const double p50 = sorted[n / 2], p99 = sorted[n * 99 / 100], worst = sorted.back();
  CHECK_MSG(unwritten == 0, "%s int8: %zu unwritten", c.name, unwritten);
  CHECK_MSG(p50 < 1e-5, "%s int8 vs int8 reference: median rel err %.3g", c.name, p50);
  CHECK_MSG(p99 < 1e-3, "%s int8 vs int8 reference: p99 rel err %.3g", c.name, p99);
  CHECK_MSG(worst < 0.05, "%s int8 vs int8 reference: worst rel err %.3g", c.name, worst);
  // And the quantized model still approximates the fp32 one (a sanity bound, not the contract).
  std::vector<double> vsF32(n);
  for (size_t i = 0; i < n; ++i) vsF32[i] = fstest::relErr(s[i], f32[i]);
  std::sort(vsF32.begin(), vsF32.end());
  CHECK_MSG(vsF32[n / 2] < 0.05, "%s int8 vs fp32: median rel err %.3g", c.name, vsF32[n / 2]);
  std::printf("%s int8 [%s]: vs int8 reference p50 %.2e p99 %.2e worst %.2e; vs fp32 p50 %.2e\n",
              c.name, eng.kernelName(), p50, p99, worst, vsF32[n / 2]);
  std::vector<float> badRows(rows.begin(), rows.begin() + 1000 * c.d);
  badRows[777 * c.d + 3] = -std::numeric_limits<float>::infinity();
  bad = eng.score(badRows.data(), 1000, s.data(), nullptr, NonFinite::kError);
  CHECK(bad.row == 777 && bad.col == 3);
}

void argumentChecks(std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  bool threw = false;
  try {
    CudaEngine::Options opt;
    opt.precision = CudaPrecision::kInt8;
    CudaEngine eng(m, opt, nullptr);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
  ModelSpec broken = m;
  broken.layers[1].bias.pop_back();
  threw = false;
  try {
    CudaEngine eng(broken, CudaEngine::Options{});
  } catch (const std::invalid_argument& e) {
    threw = std::strstr(e.what(), "layers[1].bias") != nullptr;
  }
  CHECK(threw);
  threw = false;
  try {
    CudaEngine::Options opt;
    opt.fixedVariant = kCudaFixedVariants;
    CudaEngine eng(m, opt);
  } catch (const std::invalid_argument& e) {
    threw = std::strstr(e.what(), "fixedVariant") != nullptr;
  }
  CHECK(threw);
  // Zero rows is a no-op.
  CudaEngine eng(m, CudaEngine::Options{});
  CHECK(eng.score(nullptr, 0, nullptr, nullptr, NonFinite::kError).row == -1);
  // Buffers appear with the first call (pinned staging only for pageable caller memory).
  std::vector<float> rows = fstest::randomRows(rng, m, 10), s(10);
  CHECK(eng.score(rows.data(), 10, s.data(), nullptr, NonFinite::kError).row == -1);
  CHECK(eng.deviceBytes() > 0 && eng.pinnedBytes() > 0);
}

}  // namespace

int main() {
  if (!fstest::cudaDeviceOrSkip("test_cuda_score")) return fstest::finish("test_cuda_score");
  std::mt19937_64 rng(fstest::testSeed());
  const Case cases[] = {
      {"default [29,32,16,32,29]", 29, {32, 16, 32}, "fixed32"},
      {"small [5,3,5]", 5, {3}, "fixed32"},
      {"six layers [30,32,24,8,24,32,30]", 30, {32, 24, 8, 24, 32}, "fixed32"},
      {"wide [29,100,16,100,29]", 29, {100, 16, 100}, "generic"},
      {"deep [29,32x7,29]", 29, {32, 32, 32, 32, 32, 32, 32}, "generic"},
  };
  try {
    for (const Case& c : cases) {
      // Every variant of the fixed kernel computes the same function (the generic one has none).
      const int variants = std::strcmp(c.kernel, "fixed32") == 0 ? kCudaFixedVariants : 1;
      for (int v = 0; v < variants; ++v) fp32Case(rng, c, variants == 1 ? -1 : v);
    }
    for (const Case& c : cases) int8Case(rng, c);
    argumentChecks(rng);
  } catch (const CudaError& e) {
    std::fprintf(stderr, "CUDA error %s: %s\n", e.code().c_str(), e.what());
    ++fstest::failures();
  }
  return fstest::finish("test_cuda_score");
}
