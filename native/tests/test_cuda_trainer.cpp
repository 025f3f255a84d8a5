// The CUDA training step against a float64 CPU reference on small random nets: the loss and every
// weight/bias gradient of one batch, then several Adam steps (weight decay, bias correction) from
// the same start, and dropout's effect (masks drop about p of the units, scaled by 1 / (1 - p)).
// Then the CPU Trainer stepping on the device (cudaDevice = 0) against the CPU Trainer itself.
// Skips (exit 0, saying why) when no CUDA device answers.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <vector>

#include "cuda_testing.h"

using namespace fraudscore;

namespace {

struct RefGrads {
  double loss = 0;
  std::vector<std::vector<double>> gw, gb;
};

// Forward and backward in float64: loss = mean over n * d of (y - z)^2, ReLU on hidden layers.
RefGrads refGradients(const ModelSpec& m, const std::vector<double>& W,
                      const std::vector<size_t>& wOff, const std::vector<size_t>& bOff,
                      const float* z, int n) {
  const int L = static_cast<int>(m.layers.size()), d = m.features;
  RefGrads g;
  g.gw.resize(L);
  g.gb.resize(L);
  for (int l = 0; l < L; ++l) {
    g.gw[l].assign(static_cast<size_t>(m.layers[l].in) * m.layers[l].out, 0.0);
    g.gb[l].assign(m.layers[l].out, 0.0);
  }
  const double inv = 1.0 / (static_cast<double>(n) * d);
  for (int r = 0; r < n; ++r) {
    std::vector<std::vector<double>> a(L + 1);
    a[0].assign(z + static_cast<size_t>(r) * d, z + static_cast<size_t>(r + 1) * d);
    for (int l = 0; l < L; ++l) {
      const DenseLayer& Ly = m.layers[l];
      a[l + 1].assign(Ly.out, 0.0);
      for (int o = 0; o < Ly.out; ++o) {
        double s = W[bOff[l] + o];
        for (int i = 0; i < Ly.in; ++i)
          s += W[wOff[l] + static_cast<size_t>(o) * Ly.in + i] * a[l][i];
        a[l + 1][o] = (l + 1 < L && s < 0) ? 0.0 : s;
      }
    }
    std::vector<double> delta(d);
    for (int j = 0; j < d; ++j) {
      const double e = a[L][j] - a[0][j];
      g.loss += e * e * inv;
      delta[j] = 2.0 * e * inv;
    }
    for (int l = L - 1; l >= 0; --l) {
      const DenseLayer& Ly = m.layers[l];
      std::vector<double> prev(Ly.in, 0.0);
      for (int o = 0; o < Ly.out; ++o) {
        g.gb[l][o] += delta[o];
        for (int i = 0; i < Ly.in; ++i) {
          g.gw[l][static_cast<size_t>(o) * Ly.in + i] += delta[o] * a[l][i];
          prev[i] += delta[o] * W[wOff[l] + static_cast<size_t>(o) * Ly.in + i];
        }
      }
      if (l > 0)
        for (int i = 0; i < Ly.in; ++i) prev[i] = a[l][i] > 0 ? prev[i] : 0.0;
      delta.swap(prev);
    }
  }
  return g;
}

void flatten(const ModelSpec& m, std::vector<double>* W, std::vector<size_t>* wOff,
             std::vector<size_t>* bOff) {
  W->clear();
  wOff->clear();
  bOff->clear();
  for (const DenseLayer& L : m.layers) {
    wOff->push_back(W->size());
    W->insert(W->end(), L.weight.begin(), L.weight.end());
    bOff->push_back(W->size());
    W->insert(W->end(), L.bias.begin(), L.bias.end());
  }
}

std::vector<float> randomZ(std::mt19937_64& rng, int n, int d) {
  std::normal_distribution<float> g(0.f, 1.f);
  std::vector<float> z(static_cast<size_t>(n) * d);
  for (float& v : z) v = g(rng);
  return z;
}

// Gradient error relative to the layer's largest gradient (float sums over n rows in any order).
double gradErr(const std::vector<float>& got, const std::vector<double>& want) {
  double scale = 1e-12, worst = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  for (size_t k = 0; k < want.size(); ++k)
    worst = std::max(worst, std::fabs(got[k] - want[k]) / scale);
  return worst;
}

void gradientCheck(std::mt19937_64& rng, int d, const std::vector<int>& hidden, int n) {
  ModelSpec m = fstest::randomModel(rng, d, hidden);
  std::vector<float> z = randomZ(rng, n, d);
  CudaTrainOptions opt;
  CudaTrainer tr(m, opt);
  ModelSpec grads;
  const float loss = tr.gradients(z.data(), n, &grads);
  std::vector<double> W;
  std::vector<size_t> wOff, bOff;
  flatten(m, &W, &wOff, &bOff);
  RefGrads ref = refGradients(m, W, wOff, bOff, z.data(), n);
  CHECK_MSG(fstest::relErr(loss, ref.loss) < 1e-5, "d=%d n=%d: loss %.8g, reference %.8g", d, n,
            loss, ref.loss);
  double worst = 0;
  for (size_t l = 0; l < m.layers.size(); ++l) {
    worst = std::max(worst, gradErr(grads.layers[l].weight, ref.gw[l]));
    worst = std::max(worst, gradErr(grads.layers[l].bias, ref.gb[l]));
  }
  CHECK_MSG(worst < 1e-4, "d=%d n=%d: worst gradient error %.3g", d, n, worst);
  std::printf("gradients d=%d hidden=%zu layers n=%d: loss rel err %.2e, worst gradient err %.2e\n",
              d, hidden.size(), n, fstest::relErr(loss, ref.loss), worst);
}

void adamCheck(std::mt19937_64& rng) {
  const int d = 12, n = 300, steps = 5;
  ModelSpec m = fstest::randomModel(rng, d, {16, 8, 16});
  CudaTrainOptions opt;
  opt.lr = 1e-2f;
  opt.weightDecay = 1e-3f;
  CudaTrainer tr(m, opt);
  std::vector<double> W, M, V;
  std::vector<size_t> wOff, bOff;
  flatten(m, &W, &wOff, &bOff);
  M.assign(W.size(), 0.0);
  V.assign(W.size(), 0.0);
  for (int t = 1; t <= steps; ++t) {
    std::vector<float> z = randomZ(rng, n, d);
    const float loss = tr.step(z.data(), n);
    RefGrads g = refGradients(m, W, wOff, bOff, z.data(), n);
    CHECK_MSG(fstest::relErr(loss, g.loss) < 1e-4, "step %d: loss %.8g, reference %.8g", t, loss,
              g.loss);
    const double bc1 = 1 - std::pow(0.9, t), bc2 = 1 - std::pow(0.999, t);
    for (size_t l = 0; l < m.layers.size(); ++l) {
      auto update = [&](size_t k, double grad) {
        const double gi = grad + opt.weightDecay * W[k];
        M[k] = 0.9 * M[k] + 0.1 * gi;
        V[k] = 0.999 * V[k] + 0.001 * gi * gi;
        W[k] -= (opt.lr / bc1) * M[k] / (std::sqrt(V[k]) / std::sqrt(bc2) + opt.eps);
      };
      for (size_t k = 0; k < g.gw[l].size(); ++k) update(wOff[l] + k, g.gw[l][k]);
      for (size_t k = 0; k < g.gb[l].size(); ++k) update(bOff[l] + k, g.gb[l][k]);
    }
  }
  CHECK(tr.steps() == steps);
  ModelSpec got;
  tr.weights(&got);
  // Adam's first steps move each weight by about lr; a gradient near zero can flip its step's sign
  // between float and double, so compare against lr rather than relatively.
  double worst = 0;
  size_t far = 0;
  for (size_t l = 0; l < m.layers.size(); ++l) {
    for (size_t k = 0; k < got.layers[l].weight.size(); ++k) {
      const double e = std::fabs(got.layers[l].weight[k] - W[wOff[l] + k]);
      worst = std::max(worst, e);
      far += e > 1e-2 * opt.lr ? 1 : 0;
    }
    for (size_t k = 0; k < got.layers[l].bias.size(); ++k) {
      const double e = std::fabs(got.layers[l].bias[k] - W[bOff[l] + k]);
      worst = std::max(worst, e);
      far += e > 1e-2 * opt.lr ? 1 : 0;
    }
  }
  CHECK_MSG(far <= W.size() / 50, "adam: %zu of %zu parameters differ by > 1e-2 lr (worst %.3g)",
            far, W.size(), worst);
  CHECK_MSG(worst < 2 * steps * opt.lr, "adam: worst parameter difference %.3g", worst);
  CHECK(got.mean == m.mean && got.scale == m.scale);
  std::printf("adam %d steps: worst parameter diff %.2e (lr %.0e), %zu of %zu beyond 1e-2 lr\n",
              steps, worst, opt.lr, far, W.size());
}

void dropoutCheck(std::mt19937_64& rng) {
  // Dropout changes the training loss against the clean loss on the same weights and batch, two
  // trainers with the same seed draw the same masks (equal up to the order of float atomics), and
  // training still reduces the loss.
  const int d = 16, n = 4096;
  ModelSpec m = fstest::randomModel(rng, d, {32, 8, 32});
  std::vector<float> z = randomZ(rng, n, d);
  CudaTrainOptions opt;
  opt.dropout = {0.5f};
  CudaTrainer a(m, opt), b(m, opt);
  CudaTrainer plain(m, CudaTrainOptions{});
  ModelSpec g;
  const float clean = plain.gradients(z.data(), n, &g);
  const float la = a.step(z.data(), n), lb = b.step(z.data(), n);
  CHECK_MSG(fstest::relErr(la, lb) < 1e-5, "same seed, different losses %.8g %.8g", la, lb);
  CHECK_MSG(fstest::relErr(la, clean) > 1e-3, "dropout 0.5 left the loss unchanged: %.6g vs %.6g",
            la, clean);
  float last = la;
  for (int t = 0; t < 200; ++t) last = a.step(z.data(), n);
  CHECK_MSG(last < la, "200 steps did not reduce the loss: %.6g -> %.6g", la, last);
  bool threw = false;
  try {
    CudaTrainOptions badOpt;
    badOpt.dropout = {1.0f};
    CudaTrainer t(m, badOpt);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw);
  std::printf("dropout 0.5: first-step loss %.4f (clean %.4f), after 200 steps %.4f\n", la, clean,
              last);
}

}  // namespace

// Trainer with cudaDevice = 0 (the path train({ backend: 'cuda' }) takes) against the CPU Trainer
// on the same model, rows, seed and options, without dropout (the device draws its own masks):
// same checks, same order, same batches, so the epoch losses and the final validation loss agree
// up to float rounding (summation order differs; Adam amplifies it a little over the steps).
// Then the epoch contract: cancel, a bad row (nothing trained), the CPU-only methods refusing.
void epochCheck(std::mt19937_64& rng) {
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  const size_t n = 3001;
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  TrainOptions opt;
  opt.batchSize = 256;
  opt.seed = rng() >> 12;
  opt.threads = 2;
  TrainOptions gopt = opt;
  gopt.cudaDevice = 0;
  Trainer cpu(m, opt), gpu(m, gopt);
  for (int epoch = 0; epoch < 3; ++epoch) {
    const EpochResult a = cpu.trainEpoch(rows.data(), n), b = gpu.trainEpoch(rows.data(), n);
    CHECK(b.bad.row == -1 && !b.cancelled && b.rows == n && b.batches == a.batches);
    CHECK_MSG(fstest::relErr(b.loss, a.loss) < 1e-3, "epoch %d: GPU loss %.8g, CPU %.8g", epoch,
              b.loss, a.loss);
  }
  CHECK(gpu.steps() == cpu.steps());
  BadValue bad;
  const double la = cpu.evalLoss(rows.data(), n, &bad, 2), lb = gpu.evalLoss(rows.data(), n, &bad);
  CHECK_MSG(fstest::relErr(lb, la) < 1e-3, "after 3 epochs: GPU loss %.8g, CPU %.8g", lb, la);
  std::printf("Trainer cudaDevice=0 vs CPU after 3 epochs: loss %.8g vs %.8g\n", lb, la);

  std::atomic<bool> cancel{true};
  const uint64_t before = gpu.steps();
  const EpochResult c = gpu.trainEpoch(rows.data(), n, &cancel);
  CHECK(c.cancelled && c.batches == 1 && c.rows == 256 && gpu.steps() == before + 1);
  std::vector<float> badRows = rows;
  badRows[2000 * 29 + 4] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<DenseLayer> w0 = gpu.weights();
  const EpochResult e = gpu.trainEpoch(badRows.data(), n);
  CHECK(e.bad.row == 2000 && e.bad.col == 4 && e.batches == 0 && gpu.steps() == before + 1);
  CHECK(gpu.weights()[0].weight == w0[0].weight);
  int refused = 0;
  try {
    gpu.setWeights(w0);
  } catch (const std::logic_error&) {
    ++refused;
  }
  try {
    std::vector<DenseLayer> g;
    gpu.batchGradients(rows.data(), 10, false, 0, &g);
  } catch (const std::logic_error&) {
    ++refused;
  }
  CHECK(refused == 2);
}

int main() {
  if (!fstest::cudaDeviceOrSkip("test_cuda_trainer")) return fstest::finish("test_cuda_trainer");
  std::mt19937_64 rng(fstest::testSeed());
  try {
    gradientCheck(rng, 29, {32, 16, 32}, 1000);
    gradientCheck(rng, 7, {5}, 77);
    gradientCheck(rng, 40, {70, 9, 70}, 3001);  // widths beyond one tile, K split across blocks
    adamCheck(rng);
    dropoutCheck(rng);
    epochCheck(rng);
  } catch (const CudaError& e) {
    std::fprintf(stderr, "CUDA error %s: %s\n", e.code().c_str(), e.what());
    ++fstest::failures();
  }
  return fstest::finish("test_cuda_trainer");
}
