// The native trainer: analytic gradients against float64 central differences (with and without
// dropout), Adam against a float64 transcription of torch.optim.Adam, determinism across thread
// counts, learning on a low-rank problem, cancellation, bad inputs and option checks.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "fraudscore/cpu.h"
#include "fraudscore/train.h"
#include "testing.h"

using namespace fraudscore;

namespace {

// Standardized inputs exactly as the trainer computes them (float), widened to double.
std::vector<double> standardizeRef(const ModelSpec& m, const float* rows, size_t n) {
  std::vector<double> z(n * m.features);
  for (size_t r = 0; r < n; ++r)
    for (int j = 0; j < m.features; ++j) {
      float x = rows[r * m.features + j];
      if (m.transform[j] == Transform::kLog1p) x = std::log1p(x);
      const float inv = static_cast<float>(1.0 / static_cast<double>(m.scale[j]));
      z[r * m.features + j] = static_cast<double>((x - m.mean[j]) * inv);
    }
  return z;
}

// Float64 squared error of row r (standardized input zr) with weights w (per layer [out][in] then
// bias), dropout masks given by dropoutKeep for optimizer step `step` when p > 0. When kink is not
// null it receives the smallest |pre-activation| of any hidden ReLU unit.
double rowLossRef(const ModelSpec& m, const std::vector<std::vector<double>>& W,
                  const std::vector<std::vector<double>>& B, const double* zr, size_t r, float p,
                  uint64_t seed, uint64_t step, double* kink = nullptr) {
  const int d = m.features;
  const uint32_t keep = dropoutKeepThreshold(p);
  // The trainer multiplies kept units by 1/(1-p) rounded to float; use that exact value.
  const double fscale =
      static_cast<double>(static_cast<float>(1.0 / (1.0 - static_cast<double>(p))));
  std::vector<double> a(zr, zr + d), b;
  if (kink) *kink = std::numeric_limits<double>::infinity();
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const int in = m.layers[l].in, out = m.layers[l].out;
    b.assign(out, 0.0);
    for (int o = 0; o < out; ++o) {
      double s = B[l][o];
      for (int i = 0; i < in; ++i) s += W[l][static_cast<size_t>(o) * in + i] * a[i];
      if (l + 1 < m.layers.size()) {
        if (kink) *kink = std::min(*kink, std::fabs(s));
        s = s > 0 ? s : 0;
      }
      if (l == 0 && p > 0 && m.layers.size() > 1)
        s = dropoutKeep(seed, step, static_cast<uint32_t>(r), static_cast<uint32_t>(o), keep)
                ? s * fscale
                : 0;
      b[o] = s;
    }
    a.swap(b);
  }
  double total = 0;
  for (int j = 0; j < d; ++j) total += (a[j] - zr[j]) * (a[j] - zr[j]);
  return total;
}

// Float64 minibatch loss: the mean of rowLossRef over n rows and their features.
double lossRef(const ModelSpec& m, const std::vector<std::vector<double>>& W,
               const std::vector<std::vector<double>>& B, const std::vector<double>& z, size_t n,
               float p, uint64_t seed, uint64_t step) {
  double total = 0;
  for (size_t r = 0; r < n; ++r)
    total += rowLossRef(m, W, B, z.data() + r * m.features, r, p, seed, step);
  return total / (static_cast<double>(n) * m.features);
}

void gradientCheck(std::mt19937_64& rng, int d, const std::vector<int>& hidden, size_t n,
                   float dropout) {
  ModelSpec m = fstest::randomModel(rng, d, hidden);
  TrainOptions opt;
  opt.dropout = dropout;
  opt.seed = rng();
  const uint64_t step = rng() % 1000;
  std::vector<std::vector<double>> W, B;
  for (const DenseLayer& L : m.layers) {
    W.emplace_back(L.weight.begin(), L.weight.end());
    B.emplace_back(L.bias.begin(), L.bias.end());
  }
  // A row with a hidden pre-activation near 0 sits on a ReLU kink: the loss has no derivative
  // there to fp32 precision (fp32 may even take the other side), and the central difference
  // straddles it (a probe moves pre-activations by up to about h * |a| ~ 1e-5). Such rows are
  // drawn again, so the check compares gradients where they exist (seed 2846862294 met one: 1 run
  // in 40 failed). A model with a unit stuck at its kink for every row (a bias under 1e-4 behind
  // dead inputs) is drawn again too.
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  std::vector<double> z = standardizeRef(m, rows.data(), n);
  for (size_t r = 0; r < n; ++r) {
    double kink;
    for (int tries = 0;; ++tries) {
      rowLossRef(m, W, B, z.data() + r * d, r, dropout, opt.seed, step, &kink);
      if (kink > 1e-4) break;
      if (tries == 100) return gradientCheck(rng, d, hidden, n, dropout);
      std::vector<float> fresh = fstest::randomRows(rng, m, 1);
      std::copy(fresh.begin(), fresh.end(), rows.begin() + r * d);
      const std::vector<double> zf = standardizeRef(m, fresh.data(), 1);
      std::copy(zf.begin(), zf.end(), z.begin() + r * d);
    }
  }
  Trainer tr(m, opt);
  std::vector<DenseLayer> g;
  const double loss = tr.batchGradients(rows.data(), n, dropout > 0, step, &g);
  const double l0 = lossRef(m, W, B, z, n, dropout, opt.seed, step);
  CHECK_MSG(std::fabs(loss - l0) <= 1e-5 * std::max(1.0, l0), "loss %.9g vs reference %.9g", loss,
            l0);

  const double h = 1e-6;
  for (size_t l = 0; l < m.layers.size(); ++l) {
    double num = 0, den = 0, gmax = 0;
    auto probe = [&](std::vector<double>& vec, size_t k, float analytic) {
      const double keep = vec[k];
      vec[k] = keep + h;
      const double up = lossRef(m, W, B, z, n, dropout, opt.seed, step);
      vec[k] = keep - h;
      const double down = lossRef(m, W, B, z, n, dropout, opt.seed, step);
      vec[k] = keep;
      const double fd = (up - down) / (2 * h);
      num += (analytic - fd) * (analytic - fd);
      den += fd * fd;
      gmax = std::max(gmax, std::fabs(fd));
      return fd;
    };
    double worst = 0;
    for (size_t k = 0; k < W[l].size(); ++k) {
      const double fd = probe(W[l], k, g[l].weight[k]);
      worst = std::max(worst, std::fabs(g[l].weight[k] - fd));
    }
    for (size_t k = 0; k < B[l].size(); ++k) {
      const double fd = probe(B[l], k, g[l].bias[k]);
      worst = std::max(worst, std::fabs(g[l].bias[k] - fd));
    }
    const double rel = std::sqrt(num / std::max(den, 1e-300));
    CHECK_MSG(rel < 1e-4, "layer %zu d=%d n=%zu dropout=%.2f: gradient rel err %.3g", l, d, n,
              dropout, rel);
    CHECK_MSG(worst <= 1e-4 * gmax + 1e-7, "layer %zu: worst element error %.3g (max |g| %.3g)", l,
              worst, gmax);
  }
}

// torch.optim.Adam, float64, on explicit gradients.
struct AdamRef {
  double lr, b1, b2, eps, wd;
  std::vector<double> p, m, v;
  int t = 0;
  void step(const std::vector<double>& grad) {
    ++t;
    const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
    for (size_t i = 0; i < p.size(); ++i) {
      const double g = grad[i] + wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      p[i] -= lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + eps);
    }
  }
};

std::vector<double> flatten(const std::vector<DenseLayer>& layers) {
  std::vector<double> f;
  for (const DenseLayer& L : layers) {
    f.insert(f.end(), L.weight.begin(), L.weight.end());
    f.insert(f.end(), L.bias.begin(), L.bias.end());
  }
  return f;
}

void adamCheck(std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 9, {8, 3, 8});
  std::vector<float> row = fstest::randomRows(rng, m, 1);
  TrainOptions opt;
  opt.lr = 0.01f;
  opt.weightDecay = 0.05f;
  opt.batchSize = 4;
  Trainer tr(m, opt);
  AdamRef ref{opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weightDecay, flatten(m.layers), {}, {}};
  ref.m.assign(ref.p.size(), 0);
  ref.v.assign(ref.p.size(), 0);
  for (int s = 0; s < 4; ++s) {
    // A one-row batch: the gradient the step uses is exactly batchGradients' (same rows, order).
    std::vector<DenseLayer> g;
    tr.batchGradients(row.data(), 1, false, 0, &g);
    ref.step(flatten(g));
    const EpochResult e = tr.trainEpoch(row.data(), 1);
    CHECK(e.batches == 1 && e.rows == 1 && !e.cancelled);
    const std::vector<double> got = flatten(tr.weights());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - ref.p[i]));
    CHECK_MSG(worst < 1e-6, "Adam step %d: max weight difference %.3g", s + 1, worst);
    // The reference works in double from the trainer's float weights, so resync it each step.
    ref.p = got;
  }
  CHECK(tr.steps() == 4);
}

std::vector<float> lowRankRows(std::mt19937_64& rng, const ModelSpec& m, size_t n, int rank) {
  const int d = m.features;
  std::normal_distribution<float> g(0.f, 1.f);
  std::vector<float> A(static_cast<size_t>(d) * rank);
  for (float& a : A) a = g(rng);
  std::vector<float> rows(n * d);
  std::vector<float> lat(rank);
  for (size_t r = 0; r < n; ++r) {
    for (float& x : lat) x = g(rng);
    for (int j = 0; j < d; ++j) {
      float s = 0.05f * g(rng);
      for (int k = 0; k < rank; ++k) s += A[j * rank + k] * lat[k];
      // Undo the model's preprocessing so the standardized input is the low-rank signal.
      float v = s * m.scale[j] + m.mean[j];
      if (m.transform[j] == Transform::kLog1p) v = std::expm1(v);
      rows[r * d + j] = v;
    }
  }
  return rows;
}

void learnCheck(std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 12, {24, 6, 24});
  for (auto& t : m.transform) t = Transform::kNone;
  const size_t n = 4000;
  std::vector<float> rows = lowRankRows(rng, m, n, 4);
  TrainOptions opt;
  opt.lr = 3e-3f;
  opt.batchSize = 64;
  opt.dropout = 0.1f;
  opt.threads = 2;
  opt.seed = rng();
  Trainer tr(m, opt);
  BadValue bad;
  const double before = tr.evalLoss(rows.data(), n, &bad);
  CHECK(bad.row == -1);
  double first = 0, last = 0;
  for (int e = 0; e < 25; ++e) {
    const EpochResult r = tr.trainEpoch(rows.data(), n);
    CHECK(r.rows == n && r.batches == (n + 63) / 64 && std::isfinite(r.loss));
    if (e == 0) first = r.loss;
    last = r.loss;
  }
  const double after = tr.evalLoss(rows.data(), n, &bad);
  CHECK_MSG(after < 0.1 * before, "eval loss %.4g -> %.4g did not drop 10x", before, after);
  CHECK_MSG(last < 0.5 * first, "train loss %.4g -> %.4g", first, last);
  // evalLoss is the mean of the float64 reference scores.
  std::vector<double> ref(n);
  scoreReferenceF64(tr.spec(), rows.data(), n, ref.data(), nullptr);
  double mean = 0;
  for (double x : ref) mean += x;
  mean /= n;
  CHECK_MSG(std::fabs(after - mean) <= 1e-5 * mean, "evalLoss %.8g vs reference %.8g", after, mean);
}

void determinismCheck(std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  const size_t n = 3000;  // not a multiple of the batch or slice size
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  const uint64_t seed = rng();
  auto run = [&](int threads, uint64_t s) {
    TrainOptions opt;
    opt.seed = s;
    opt.threads = threads;
    opt.batchSize = 200;
    opt.dropout = 0.1f;
    opt.weightDecay = 1e-5f;
    Trainer tr(m, opt);
    for (int e = 0; e < 2; ++e) tr.trainEpoch(rows.data(), n);
    return flatten(tr.weights());
  };
  const std::vector<double> a = run(1, seed);
  CHECK_MSG(a == run(1, seed), "same seed, same threads: weights differ");
  CHECK_MSG(a == run(2, seed), "1 vs 2 threads: weights differ");
  CHECK_MSG(a == run(3, seed), "1 vs 3 threads: weights differ");
  CHECK_MSG(a != run(2, seed + 1), "a different seed gave the same weights");
  CHECK(a != flatten(m.layers));
}

void edgeChecks(std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  const size_t n = 1000;
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  TrainOptions opt;
  opt.batchSize = 100;
  opt.threads = 2;
  {
    Trainer tr(m, opt);
    std::atomic<bool> cancel{true};
    const EpochResult e = tr.trainEpoch(rows.data(), n, &cancel);
    CHECK(e.cancelled && e.batches == 1 && e.rows == 100 && tr.steps() == 1);
  }
  {
    Trainer tr(m, opt);
    std::vector<float> bad = rows;
    bad[777 * 29 + 3] = std::numeric_limits<float>::infinity();
    bad[800 * 29 + 6] = -2.f;  // log1p feature
    const EpochResult e = tr.trainEpoch(bad.data(), n);
    CHECK(e.bad.row == 777 && e.bad.col == 3 && e.batches == 0 && tr.steps() == 0);
    CHECK(flatten(tr.weights()) == flatten(m.layers));
    BadValue bv;
    CHECK(std::isnan(tr.evalLoss(bad.data(), n, &bv, 1)) && bv.row == 777 && bv.col == 3);
    // A rejected epoch leaves the trainer as it was: the next epoch matches a fresh trainer's.
    Trainer fresh(m, opt);
    tr.trainEpoch(rows.data(), n);
    fresh.trainEpoch(rows.data(), n);
    CHECK(flatten(tr.weights()) == flatten(fresh.weights()));
    // With one thread the whole range is checked by one worker; the first bad row still wins.
    TrainOptions one = opt;
    one.threads = 1;
    Trainer single(m, one);
    const EpochResult e1 = single.trainEpoch(bad.data(), n);
    CHECK(e1.bad.row == 777 && e1.bad.col == 3);
    // A bad row in the second thread's half only.
    std::vector<float> late = rows;
    late[900 * 29 + 6] = -5.f;
    const EpochResult e2 = tr.trainEpoch(late.data(), n);
    CHECK_MSG(e2.bad.row == 900 && e2.bad.col == 6, "got row %lld col %d",
              static_cast<long long>(e2.bad.row), e2.bad.col);
  }
  {
    Trainer tr(m, opt);
    ModelSpec other = fstest::randomModel(rng, 29, {32, 16, 32});
    tr.setWeights(other.layers);
    CHECK(flatten(tr.weights()) == flatten(other.layers));
    ModelSpec wrong = fstest::randomModel(rng, 29, {16, 32});
    bool threw = false;
    try {
      tr.setWeights(wrong.layers);
    } catch (const std::invalid_argument& e) {
      threw = std::string(e.what()).find("layers") != std::string::npos;
    }
    CHECK(threw);
  }
  auto expectThrow = [&](TrainOptions o, const char* what) {
    try {
      Trainer tr(m, o);
      CHECK_MSG(false, "expected a throw naming %s", what);
    } catch (const std::invalid_argument& e) {
      CHECK_MSG(std::string(e.what()).find(what) != std::string::npos, "message '%s' lacks '%s'",
                e.what(), what);
    }
  };
  TrainOptions o = opt;
  o.lr = 0;
  expectThrow(o, "lr");
  o = opt;
  o.dropout = 1.f;
  expectThrow(o, "dropout");
  o = opt;
  o.batchSize = 0;
  expectThrow(o, "batchSize");
  o = opt;
  o.weightDecay = -1;
  expectThrow(o, "weightDecay");
  // Dropout keeps about 1 - p of the units.
  const uint32_t keep = dropoutKeepThreshold(0.1f);
  int kept = 0;
  for (uint32_t r = 0; r < 1000; ++r)
    for (uint32_t u = 0; u < 100; ++u) kept += dropoutKeep(5, r / 10, r, u, keep);
  CHECK_MSG(std::fabs(kept / 100000.0 - 0.9) < 0.005, "kept fraction %.4f", kept / 100000.0);
}

}  // namespace

int main() {
  std::mt19937_64 rng(fstest::testSeed());
  std::printf("simd path: %s\n", simdPathName(defaultSimd()));
  gradientCheck(rng, 7, {5, 3, 5}, 45, 0.f);
  gradientCheck(rng, 7, {5, 3, 5}, 70, 0.3f);
  gradientCheck(rng, 29, {32, 16, 32}, 33, 0.1f);
  gradientCheck(rng, 20, {40}, 9, 0.f);
  adamCheck(rng);
  determinismCheck(rng);
  learnCheck(rng);
  edgeChecks(rng);
  return fstest::finish("test_train");
}
