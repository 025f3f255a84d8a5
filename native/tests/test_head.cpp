// The hybrid head (head.h): the float64 reference gradient against central differences of the
// float64 loss, the trainer's fp32 gradient against that reference (BCE and focal), the fused
// engine against the float64 reference and against the plain AE engine, determinism across thread
// counts, the int8 engine (AE in int8, head in fp32) against the int8 AE engine and a float64 head,
// learning on a separable problem, bad inputs and labels.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "fraudscore/cpu.h"
#include "fraudscore/head.h"
#include "fraudscore/int8.h"
#include "fraudscore/quant.h"
#include "testing.h"

using namespace fraudscore;

namespace {

std::vector<DenseLayer> randomHead(std::mt19937_64& rng, int inputs,
                                   const std::vector<int>& hidden) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<DenseLayer> head;
  int prev = inputs;
  std::vector<int> sizes = hidden;
  sizes.push_back(1);
  for (int out : sizes) {
    DenseLayer L;
    L.in = prev;
    L.out = out;
    const float s = std::sqrt(2.0f / prev);
    for (int k = 0; k < prev * out; ++k) L.weight.push_back(u(rng) * s);
    for (int k = 0; k < out; ++k) L.bias.push_back(u(rng) * 0.1f);
    head.push_back(L);
    prev = out;
  }
  return head;
}

std::vector<float> randomInputs(std::mt19937_64& rng, size_t n, int k) {
  std::normal_distribution<float> g(0.f, 1.5f);
  std::vector<float> x(n * k);
  for (float& v : x) v = g(rng);
  return x;
}

std::vector<uint8_t> randomLabels(std::mt19937_64& rng, size_t n, double p) {
  std::bernoulli_distribution b(p);
  std::vector<uint8_t> y(n);
  for (auto& v : y) v = b(rng) ? 1 : 0;
  return y;
}

// Central differences of the float64 loss check the float64 analytic gradient itself.
void referenceAgainstFiniteDifferences(std::mt19937_64& rng, float gamma) {
  const int d = 5, k = headInputs(d);
  auto head = randomHead(rng, k, {7, 4});
  const size_t n = 23;
  auto x = randomInputs(rng, n, k);
  auto y = randomLabels(rng, n, 0.3);
  std::vector<std::vector<double>> gW, gB, tmpW, tmpB;
  headBatchGradientsF64(head, x.data(), y.data(), n, 3.f, gamma, &gW, &gB);
  double worst = 0;
  int used = 0;
  for (size_t l = 0; l < head.size(); ++l) {
    for (int probe = 0; probe < 12; ++probe) {
      const size_t i = rng() % head[l].weight.size();
      const float w0 = head[l].weight[i];
      const float h = 1e-4f;
      auto lossAt = [&](float w) {
        head[l].weight[i] = w;
        return headBatchGradientsF64(head, x.data(), y.data(), n, 3.f, gamma, &tmpW, &tmpB);
      };
      const double mid = lossAt(w0), up = lossAt(w0 + h), down = lossAt(w0 - h);
      head[l].weight[i] = w0;
      const double hUp = static_cast<double>(w0 + h) - w0, hDown = w0 - static_cast<double>(w0 - h);
      // One-sided slopes that disagree: the step crossed a ReLU kink, where no difference holds.
      const double right = (up - mid) / hUp, left = (mid - down) / hDown;
      if (std::fabs(right - left) > 1e-3 * std::max(std::fabs(right), 1e-2)) continue;
      ++used;
      const double fd = (up - down) / (hUp + hDown);
      worst = std::max(worst, std::fabs(fd - gW[l][i]) / std::max(std::fabs(gW[l][i]), 1e-3));
    }
  }
  CHECK_MSG(used >= 24, "gamma %g: only %d of 36 probes away from ReLU kinks", gamma, used);
  CHECK_MSG(worst < 1e-3, "gamma %g: worst finite-difference mismatch %g", gamma, worst);
}

void trainerGradientsAgainstReference(std::mt19937_64& rng, float gamma, int threads) {
  const int d = 29, k = headInputs(d);
  auto head = randomHead(rng, k, {32, 16});
  const size_t n = 200;  // several slices, the last one partial
  auto x = randomInputs(rng, n, k);
  auto y = randomLabels(rng, n, 0.2);
  HeadTrainOptions o;
  o.posWeight = 5.f;
  o.focalGamma = gamma;
  o.threads = threads;
  HeadTrainer t(head, k, o);
  std::vector<DenseLayer> g;
  const double loss = t.batchGradients(x.data(), y.data(), n, &g);
  std::vector<std::vector<double>> gW, gB;
  const double lossRef = headBatchGradientsF64(head, x.data(), y.data(), n, 5.f, gamma, &gW, &gB);
  CHECK_MSG(std::fabs(loss - lossRef) <= 1e-5 * std::max(1.0, std::fabs(lossRef)),
            "loss %g vs reference %g", loss, lossRef);
  double worst = 0, scale = 0;
  for (size_t l = 0; l < head.size(); ++l)
    for (double v : gW[l]) scale = std::max(scale, std::fabs(v));
  for (size_t l = 0; l < head.size(); ++l) {
    for (size_t i = 0; i < gW[l].size(); ++i)
      worst = std::max(worst, std::fabs(g[l].weight[i] - gW[l][i]) / scale);
    for (size_t i = 0; i < gB[l].size(); ++i)
      worst = std::max(worst, std::fabs(g[l].bias[i] - gB[l][i]) / scale);
  }
  CHECK_MSG(worst < 1e-5, "gamma %g threads %d: gradient error %g of the largest", gamma, threads,
            worst);
}

void fusedAgainstReference(std::mt19937_64& rng) {
  const int d = 29;
  ModelSpec ae = fstest::randomModel(rng, d, {32, 16, 32});
  auto head = randomHead(rng, headInputs(d), {32, 16});
  const size_t n = 1000;  // several blocks, the last one partial
  auto rows = fstest::randomRows(rng, ae, n);
  HybridEngine eng(ae, head);
  std::vector<float> p(n), sc(n), fe(n * d);
  const BadValue bad = eng.score(rows.data(), n, p.data(), sc.data(), fe.data(), NonFinite::kError);
  CHECK(bad.row < 0);
  std::vector<double> pRef(n), scRef(n);
  hybridReferenceF64(ae, head, rows.data(), n, pRef.data(), scRef.data());
  // The AE part is the plain engine's, bit for bit.
  CpuEngine plain(ae);
  std::vector<float> sc2(n), fe2(n * d);
  plain.score(rows.data(), n, sc2.data(), fe2.data(), NonFinite::kError);
  CHECK(std::equal(sc.begin(), sc.end(), sc2.begin()));
  CHECK(std::equal(fe.begin(), fe.end(), fe2.begin()));
  double worst = 0;
  for (size_t r = 0; r < n; ++r) worst = std::max(worst, std::fabs(p[r] - pRef[r]));
  // Probabilities in [0, 1]: an absolute bound; inputs and weights are fp32 (1e-5 relative each).
  CHECK_MSG(worst < 1e-4, "fused probability error %g", worst);
  // Without the optional outputs: the same probabilities.
  std::vector<float> p2(n);
  eng.score(rows.data(), n, p2.data(), nullptr, nullptr, NonFinite::kError, 3);
  CHECK(std::equal(p.begin(), p.end(), p2.begin()));

  // A bad value: reported at its row and column (kError); the row alone is NaN (kNaN).
  rows[517 * d + 4] = std::numeric_limits<float>::quiet_NaN();
  const BadValue b2 = eng.score(rows.data(), n, p.data(), sc.data(), nullptr, NonFinite::kError);
  CHECK(b2.row == 517 && b2.col == 4);
  eng.score(rows.data(), n, p.data(), sc.data(), nullptr, NonFinite::kNaN);
  CHECK(std::isnan(p[517]) && std::isfinite(p[516]) && std::isfinite(p[518]));
}

// The head in float64 over given AE scores and feature errors (head.h's inputs).
double headProbF64(const ModelSpec& ae, const std::vector<DenseLayer>& head, const float* row,
                   const float* fe, float sc) {
  const int d = ae.features;
  std::vector<double> x(headInputs(d)), y;
  for (int j = 0; j < d; ++j) {
    double v = row[j];
    if (ae.transform[j] == Transform::kLog1p) v = std::log1p(v);
    x[j] = (v - ae.mean[j]) / ae.scale[j];
    x[d + j] = std::log1p(static_cast<double>(fe[j]));
  }
  x[2 * d] = std::log1p(static_cast<double>(sc));
  for (size_t l = 0; l < head.size(); ++l) {
    const DenseLayer& L = head[l];
    y.assign(L.out, 0.0);
    for (int o = 0; o < L.out; ++o) {
      double s = L.bias[o];
      for (int i = 0; i < L.in; ++i) s += static_cast<double>(L.weight[o * L.in + i]) * x[i];
      y[o] = (l + 1 < head.size()) ? std::max(s, 0.0) : s;
    }
    x.swap(y);
  }
  return 1.0 / (1.0 + std::exp(-x[0]));
}

// The int8 hybrid engine: its AE part is the int8 engine's, bit for bit (static with the fp32
// fallback, and dynamic, whose 16-row blocks must not move with the thread count), its head the
// float64 head over those outputs; and it stays close to the fp32 hybrid.
void int8Fused(std::mt19937_64& rng) {
  const int d = 29;
  ModelSpec ae = fstest::randomModel(rng, d, {32, 16, 32});
  auto head = randomHead(rng, headInputs(d), {32, 16});
  const size_t n = 1000;
  auto calib = fstest::randomRows(rng, ae, 400);
  auto rows = fstest::randomRows(rng, ae, n);
  for (size_t k = 0; k < rows.size(); k += 97) rows[k] *= 4.f;  // some rows beyond the range
  QuantSpec q;
  quantizeWeights(ae, &q);
  calibrateActivations(ae, calib.data(), 200, &q);  // tight: the fallback has work to do
  q.fallback = true;
  HybridEngine fp(ae, head);
  std::vector<float> pf(n);
  fp.score(rows.data(), n, pf.data(), nullptr, nullptr, NonFinite::kError);
  for (Int8Activations act : {Int8Activations::kStatic, Int8Activations::kDynamic}) {
    const char* what = act == Int8Activations::kStatic ? "static" : "dynamic";
    QuantSpec qa = q;
    if (act == Int8Activations::kDynamic) qa.fallback = false;
    CpuInt8Engine plain(ae, qa, act);
    std::vector<float> sc8(n), fe8(n * d);
    CHECK(plain.score(rows.data(), n, sc8.data(), fe8.data(), NonFinite::kError, 1).row < 0);
    HybridEngine eng(ae, qa, act, head);
    CHECK(eng.int8() && eng.dynamic() == (act == Int8Activations::kDynamic));
    for (int threads : {1, 4}) {
      std::vector<float> p(n), sc(n), fe(n * d);
      const BadValue bad =
          eng.score(rows.data(), n, p.data(), sc.data(), fe.data(), NonFinite::kError, threads);
      CHECK(bad.row < 0);
      CHECK_MSG(std::equal(sc.begin(), sc.end(), sc8.begin()), "%s, %d threads: AE scores differ",
                what, threads);
      CHECK_MSG(std::equal(fe.begin(), fe.end(), fe8.begin()),
                "%s, %d threads: feature errors differ", what, threads);
      double worst = 0, worstFp = 0;
      for (size_t r = 0; r < n; ++r) {
        const double want = headProbF64(ae, head, rows.data() + r * d, fe8.data() + r * d, sc8[r]);
        worst = std::max(worst, std::fabs(p[r] - want));
        worstFp = std::max(worstFp, std::fabs(static_cast<double>(p[r]) - pf[r]));
      }
      CHECK_MSG(worst < 1e-4, "%s: head after int8 off the float64 head by %g", what, worst);
      // Random weights and rows, not a trained model: a loose bound, that int8 is not garbage.
      CHECK_MSG(worstFp < 0.25, "%s: int8 hybrid off the fp32 hybrid by %g", what, worstFp);
    }
  }
  // Static with the fallback: some rows went to fp32, and the count says so.
  HybridEngine st(ae, q, Int8Activations::kStatic, head);
  std::vector<float> p(n);
  st.score(rows.data(), n, p.data(), nullptr, nullptr, NonFinite::kError);
  CHECK_MSG(st.fallbackRows() > 0 && st.fallbackRows() < n, "fallback rows %llu of %zu",
            static_cast<unsigned long long>(st.fallbackRows()), n);
  CHECK(!fp.int8() && fp.fallbackRows() == 0);
  // A bad value in int8: named at its row and column, as in fp32.
  rows[333 * d + 5] = std::numeric_limits<float>::infinity();
  const BadValue b = st.score(rows.data(), n, p.data(), nullptr, nullptr, NonFinite::kError, 2);
  CHECK(b.row == 333 && b.col == 5);
  // A quantization of the wrong shape is refused, naming the field.
  QuantSpec wrong = q;
  wrong.wq.pop_back();
  bool threw = false;
  try {
    HybridEngine bad(ae, wrong, Int8Activations::kStatic, head);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("wq") != std::string::npos;
  }
  CHECK(threw);
}

std::vector<DenseLayer> trainFor(const std::vector<DenseLayer>& head, const std::vector<float>& x,
                                 const std::vector<uint8_t>& y, int threads, int epochs) {
  HeadTrainOptions o;
  o.lr = 3e-3f;
  o.posWeight = 4.f;
  o.seed = 7;
  o.threads = threads;
  o.batchSize = 100;  // 4 slices, the last one partial
  HeadTrainer t(head, head[0].in, o);
  for (int e = 0; e < epochs; ++e) t.trainEpoch(x.data(), y.data(), y.size());
  return t.weights();
}

void determinismAndLearning(std::mt19937_64& rng) {
  const int d = 6, k = headInputs(d);
  auto head = randomHead(rng, k, {16, 8});
  const size_t n = 1500;
  auto x = randomInputs(rng, n, k);
  std::vector<uint8_t> y(n);
  // A separable rule the head can learn: fraud when x0 + x7 > 1.5.
  for (size_t r = 0; r < n; ++r) y[r] = (x[r * k] + x[r * k + 7] > 1.5f) ? 1 : 0;
  const auto w1 = trainFor(head, x, y, 1, 3);
  const auto w4 = trainFor(head, x, y, 4, 3);
  bool same = true;
  for (size_t l = 0; l < head.size(); ++l)
    same = same && w1[l].weight == w4[l].weight && w1[l].bias == w4[l].bias;
  CHECK_MSG(same, "weights after 3 epochs differ between 1 and 4 threads");
  HeadTrainOptions o;
  o.posWeight = 4.f;
  HeadTrainer before(head, k, o), after(w1, k, o);
  const double l0 = before.evalLoss(x.data(), y.data(), n);
  HeadTrainer longer(trainFor(head, x, y, 2, 40), k, o);
  const double l1 = longer.evalLoss(x.data(), y.data(), n);
  CHECK_MSG(l1 < 0.5 * l0, "loss %g -> %g after 40 epochs: the head did not learn", l0, l1);
}

void badInputs(std::mt19937_64& rng) {
  const int d = 3, k = headInputs(d);
  auto head = randomHead(rng, k, {4});
  auto x = randomInputs(rng, 10, k);
  auto y = randomLabels(rng, 10, 0.5);
  HeadTrainer t(head, k, HeadTrainOptions{});
  x[3 * k + 2] = std::numeric_limits<float>::infinity();
  EpochResult r = t.trainEpoch(x.data(), y.data(), 10);
  CHECK(r.bad.row == 3 && r.bad.col == 2 && r.batches == 0 && t.steps() == 0);
  x[3 * k + 2] = 0.f;
  y[6] = 2;
  r = t.trainEpoch(x.data(), y.data(), 10);
  CHECK(r.bad.row == 6 && r.bad.col == k && t.steps() == 0);
  // Shapes and options.
  auto wrong = head;
  wrong.back().out = 2;
  bool threw = false;
  try {
    HeadTrainer bad(wrong, k, HeadTrainOptions{});
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("head[1]") != std::string::npos;
  }
  CHECK(threw);
  HeadTrainOptions o;
  o.posWeight = -1.f;
  threw = false;
  try {
    HeadTrainer bad(head, k, o);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("posWeight") != std::string::npos;
  }
  CHECK(threw);
  ModelSpec ae = fstest::randomModel(rng, d, {4});
  threw = false;
  try {
    HybridEngine bad(ae, randomHead(rng, k + 1, {4}));
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("head[0].in") != std::string::npos;
  }
  CHECK(threw);
}

}  // namespace

int main() {
  std::mt19937_64 rng(fstest::testSeed());
  referenceAgainstFiniteDifferences(rng, 0.f);
  referenceAgainstFiniteDifferences(rng, 2.f);
  for (int threads : {1, 3}) {
    trainerGradientsAgainstReference(rng, 0.f, threads);
    trainerGradientsAgainstReference(rng, 2.f, threads);
  }
  fusedAgainstReference(rng);
  int8Fused(rng);
  determinismAndLearning(rng);
  badInputs(rng);
  return fstest::finish("test_head");
}
