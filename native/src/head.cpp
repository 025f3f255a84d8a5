// The hybrid model's head (head.h): the fused AE + head engine, the head trainer and their float64
// references. The head is tiny (about 2.5k weights, the autoencoder's size), so its loops are
// plain C++ that the compiler vectorizes; the autoencoder part runs in the SIMD kernels.
#include "fraudscore/head.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "fraudscore/thread_pool.h"
#include "rng.h"

namespace fraudscore {

namespace {

// Rows per fused block: errors stay in L1/L2 for the head. A multiple of kInt8DynamicBlockRows, so
// the int8 engine's dynamic-scale blocks fall where one call over every row would put them.
constexpr size_t kBlockRows = 256;
static_assert(kBlockRows % kInt8DynamicBlockRows == 0, "blocks must hold whole dynamic blocks");
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

int maxWidth(const std::vector<DenseLayer>& head, int inputs) {
  int w = inputs;
  for (const DenseLayer& L : head) w = std::max(w, L.out);
  return w;
}

// The head's logit for one input row; a and b are scratch of maxWidth floats.
float headLogit(const std::vector<DenseLayer>& head, const float* in, float* a, float* b) {
  const float* x = in;
  const size_t nl = head.size();
  for (size_t l = 0; l < nl; ++l) {
    const DenseLayer& L = head[l];
    float* y = (l % 2 == 0) ? a : b;
    for (int o = 0; o < L.out; ++o) {
      const float* w = L.weight.data() + static_cast<size_t>(o) * L.in;
      float s = L.bias[o];
      for (int i = 0; i < L.in; ++i) s += w[i] * x[i];
      y[o] = (l + 1 < nl) ? std::max(s, 0.f) : s;
    }
    x = y;
  }
  return x[0];
}

float sigmoidF(float a) {
  // exp of a non-positive argument only: no overflow for any logit.
  if (a >= 0) return 1.f / (1.f + std::exp(-a));
  const float e = std::exp(a);
  return e / (1.f + e);
}

double softplus(double a) {
  return std::max(a, 0.0) + std::log1p(std::exp(-std::fabs(a)));
}

// Loss of one row and its derivative by the logit (head.h: BCE or focal).
void rowLoss(double a, int y, double gamma, double* loss, double* dlda) {
  const double s = y ? 1.0 : -1.0;
  const double logPt = -softplus(-s * a);  // log sigmoid(s a)
  const double pt = std::exp(logPt);
  const double q = 1.0 / (1.0 + std::exp(s * a));  // 1 - pt, without cancellation
  if (gamma == 0.0) {
    *loss = -logPt;
    *dlda = -s * q;
    return;
  }
  const double qg = std::pow(q, gamma);
  *loss = -qg * logPt;
  *dlda = s * qg * (gamma * pt * logPt - q);
}

std::string layerName(size_t l) {
  return "head[" + std::to_string(l) + "]";
}

}  // namespace

std::string validateHead(const std::vector<DenseLayer>& head, int features) {
  if (head.empty()) return "head has no layers";
  if (head.size() > 16) return "head has " + std::to_string(head.size()) + " layers, at most 16";
  int prev = headInputs(features);
  for (size_t l = 0; l < head.size(); ++l) {
    const DenseLayer& L = head[l];
    if (L.in != prev)
      return layerName(l) + ".in is " + std::to_string(L.in) + ", expected " + std::to_string(prev);
    if (L.out < 1 || L.out > 4096)
      return layerName(l) + ".out must be in [1, 4096], got " + std::to_string(L.out);
    if (L.weight.size() != static_cast<size_t>(L.in) * L.out)
      return layerName(l) + ".weight has " + std::to_string(L.weight.size()) +
             " values, expected " + std::to_string(static_cast<size_t>(L.in) * L.out);
    if (L.bias.size() != static_cast<size_t>(L.out))
      return layerName(l) + ".bias has " + std::to_string(L.bias.size()) + " values, expected " +
             std::to_string(L.out);
    for (size_t k = 0; k < L.weight.size(); ++k)
      if (!std::isfinite(L.weight[k]))
        return layerName(l) + ".weight[" + std::to_string(k) + "] is not finite";
    for (size_t k = 0; k < L.bias.size(); ++k)
      if (!std::isfinite(L.bias[k]))
        return layerName(l) + ".bias[" + std::to_string(k) + "] is not finite";
    prev = L.out;
  }
  if (prev != 1)
    return "the head's last layer outputs " + std::to_string(prev) + " values, expected 1";
  return "";
}

void buildHeadInputs(const float* z, const float* featureErrors, const float* scores, size_t n,
                     int features, float* out) {
  const size_t d = static_cast<size_t>(features);
  const size_t k = 2 * d + 1;
  for (size_t r = 0; r < n; ++r) {
    float* o = out + r * k;
    std::memcpy(o, z + r * d, d * sizeof(float));
    for (size_t j = 0; j < d; ++j) o[d + j] = std::log1p(featureErrors[r * d + j]);
    o[2 * d] = std::log1p(scores[r]);
  }
}

// ---- HybridEngine ----------------------------------------------------------------------------

struct HybridEngine::Impl {
  std::unique_ptr<CpuEngine> ae;       // fp32 autoencoder, or
  std::unique_ptr<CpuInt8Engine> ae8;  // int8 autoencoder (exactly one is set)
  ModelSpec spec;
  std::vector<DenseLayer> head;
  std::vector<uint8_t> log1p;
  std::vector<float> invScale;
  int width = 0;

  // Everything but the autoencoder engine, which the constructor sets.
  void init(const ModelSpec& ae, const std::vector<DenseLayer>& head);

  // Standardizes a block as the kernels do: log1p where set, then (x - mean) * (1 / std).
  void standardize(const float* rows, size_t n, float* z) const {
    const int d = spec.features;
    for (size_t r = 0; r < n; ++r)
      for (int j = 0; j < d; ++j) {
        float x = rows[r * d + j];
        if (log1p[j]) x = std::log1p(x);
        z[r * d + j] = (x - spec.mean[j]) * invScale[j];
      }
  }

  // One block: AE (SIMD kernel, this thread only), then head inputs, then the head.
  // in: count * headInputs scratch; fe, sc: outputs or scratch.
  BadValue block(const float* rows, size_t count, float* probs, float* sc, float* fe, float* in,
                 NonFinite mode) const {
    const int d = spec.features;
    const BadValue bad =
        ae8 ? ae8->score(rows, count, sc, fe, mode, 1) : ae->score(rows, count, sc, fe, mode, 1);
    if (bad.row >= 0 && mode == NonFinite::kError) return bad;
    const size_t k = static_cast<size_t>(headInputs(d));
    // z goes to the first d columns of each head-input row; build it in place.
    std::vector<float> z(count * d);
    standardize(rows, count, z.data());
    buildHeadInputs(z.data(), fe, sc, count, d, in);
    std::vector<float> a(width), b(width);
    for (size_t r = 0; r < count; ++r) {
      if (probs == nullptr) break;
      probs[r] =
          std::isfinite(sc[r]) ? sigmoidF(headLogit(head, in + r * k, a.data(), b.data())) : kNaN;
    }
    return bad;
  }

  template <typename BlockFn>
  BadValue forBlocks(size_t n, int threads, BlockFn&& fn) const {
    const size_t blocks = (n + kBlockRows - 1) / kBlockRows;
    std::vector<BadValue> bads(blocks);
    parallelFor(blocks, threads, [&](size_t b) {
      const size_t r0 = b * kBlockRows;
      const size_t count = std::min(kBlockRows, n - r0);
      BadValue bv = fn(r0, count);
      if (bv.row >= 0) bv.row += static_cast<int64_t>(r0);
      bads[b] = bv;
    });
    for (const BadValue& bv : bads)
      if (bv.row >= 0) return bv;  // blocks are in row order
    return BadValue{};
  }
};

namespace {

void checkHybrid(const ModelSpec& ae, const std::vector<DenseLayer>& head) {
  const std::string err = ae.validate();
  if (!err.empty()) throw std::invalid_argument("invalid model: " + err);
  const std::string herr = validateHead(head, ae.features);
  if (!herr.empty()) throw std::invalid_argument("invalid head: " + herr);
}

}  // namespace

HybridEngine::HybridEngine(const ModelSpec& ae, const std::vector<DenseLayer>& head, SimdPath path)
    : impl_(new Impl) {
  checkHybrid(ae, head);
  impl_->ae = std::make_unique<CpuEngine>(ae, path);
  impl_->init(ae, head);
}

HybridEngine::HybridEngine(const ModelSpec& ae, const QuantSpec& q, Int8Activations act,
                           const std::vector<DenseLayer>& head, SimdPath path, Int8Matmul mm)
    : impl_(new Impl) {
  checkHybrid(ae, head);
  // The int8 engine checks the quantization against the model and names the field.
  impl_->ae8 = std::make_unique<CpuInt8Engine>(ae, q, act, path, mm);
  impl_->init(ae, head);
}

void HybridEngine::Impl::init(const ModelSpec& ae, const std::vector<DenseLayer>& h) {
  spec = ae;
  head = h;
  width = maxWidth(head, headInputs(ae.features));
  log1p.resize(ae.features);
  invScale.resize(ae.features);
  for (int j = 0; j < ae.features; ++j) {
    log1p[j] = ae.transform[j] == Transform::kLog1p ? 1 : 0;
    invScale[j] = static_cast<float>(1.0 / static_cast<double>(ae.scale[j]));
  }
}

HybridEngine::~HybridEngine() = default;

BadValue HybridEngine::score(const float* rows, size_t n, float* probs, float* aeScores,
                             float* featureErrors, NonFinite mode, int threads) const {
  const Impl& m = *impl_;
  const int d = m.spec.features;
  const size_t k = static_cast<size_t>(headInputs(d));
  return m.forBlocks(n, threads, [&](size_t r0, size_t count) {
    // Scratch for what the caller did not ask for; one block's worth (a few tens of KiB).
    std::vector<float> in(count * k);
    std::vector<float> scOwn(aeScores ? 0 : count);
    std::vector<float> feOwn(featureErrors ? 0 : count * d);
    float* sc = aeScores ? aeScores + r0 : scOwn.data();
    float* fe = featureErrors ? featureErrors + r0 * d : feOwn.data();
    return m.block(rows + r0 * d, count, probs + r0, sc, fe, in.data(), mode);
  });
}

BadValue HybridEngine::headInputsOf(const float* rows, size_t n, float* out, int threads) const {
  const Impl& m = *impl_;
  const int d = m.spec.features;
  const size_t k = static_cast<size_t>(headInputs(d));
  return m.forBlocks(n, threads, [&](size_t r0, size_t count) {
    std::vector<float> sc(count), fe(count * d);
    return m.block(rows + r0 * d, count, nullptr, sc.data(), fe.data(), out + r0 * k,
                   NonFinite::kError);
  });
}

int HybridEngine::features() const {
  return impl_->spec.features;
}
SimdPath HybridEngine::path() const {
  return impl_->ae8 ? impl_->ae8->path() : impl_->ae->path();
}
bool HybridEngine::int8() const {
  return impl_->ae8 != nullptr;
}
bool HybridEngine::amx() const {
  return impl_->ae8 && impl_->ae8->amx();
}
bool HybridEngine::dynamic() const {
  return impl_->ae8 && impl_->ae8->activations() == Int8Activations::kDynamic;
}
uint64_t HybridEngine::fallbackRows() const {
  return impl_->ae8 ? impl_->ae8->fallbackRows() : 0;
}
size_t HybridEngine::packedBytes() const {
  size_t b = impl_->ae8 ? impl_->ae8->packedBytes() : impl_->ae->packedBytes();
  for (const DenseLayer& L : impl_->head) b += (L.weight.size() + L.bias.size()) * sizeof(float);
  return b;
}

namespace {

// The head in float64 over AE scores and feature errors computed by some reference (sc: n, fe:
// n * features).
void headReferenceF64(const ModelSpec& ae, const std::vector<DenseLayer>& head, const float* rows,
                      size_t n, const double* sc, const double* fe, double* probs,
                      double* aeScores) {
  const int d = ae.features;
  std::vector<double> x, y;
  for (size_t r = 0; r < n; ++r) {
    if (aeScores) aeScores[r] = sc[r];
    if (!std::isfinite(sc[r])) {
      probs[r] = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    x.assign(headInputs(d), 0.0);
    for (int j = 0; j < d; ++j) {
      double v = rows[r * d + j];
      if (ae.transform[j] == Transform::kLog1p) v = std::log1p(v);
      x[j] = (v - ae.mean[j]) / ae.scale[j];
      x[d + j] = std::log1p(fe[r * d + j]);
    }
    x[2 * d] = std::log1p(sc[r]);
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
    probs[r] = 1.0 / (1.0 + std::exp(-x[0]));
  }
}

}  // namespace

void hybridReferenceF64(const ModelSpec& ae, const std::vector<DenseLayer>& head, const float* rows,
                        size_t n, double* probs, double* aeScores) {
  std::vector<double> sc(n), fe(n * ae.features);
  scoreReferenceF64(ae, rows, n, sc.data(), fe.data());
  headReferenceF64(ae, head, rows, n, sc.data(), fe.data(), probs, aeScores);
}

// ---- HeadTrainer -----------------------------------------------------------------------------

namespace {

std::string headOptionsError(const HeadTrainOptions& o) {
  if (!(o.lr > 0.f) || !std::isfinite(o.lr)) return "lr must be finite and > 0";
  if (!(o.weightDecay >= 0.f) || !std::isfinite(o.weightDecay))
    return "weightDecay must be finite and >= 0";
  if (!(o.beta1 >= 0.f && o.beta1 < 1.f)) return "beta1 must be in [0, 1)";
  if (!(o.beta2 >= 0.f && o.beta2 < 1.f)) return "beta2 must be in [0, 1)";
  if (!(o.eps > 0.f) || !std::isfinite(o.eps)) return "eps must be finite and > 0";
  if (!(o.posWeight > 0.f) || !std::isfinite(o.posWeight))
    return "posWeight must be finite and > 0";
  if (!(o.focalGamma >= 0.f && o.focalGamma <= 10.f)) return "focalGamma must be in [0, 10]";
  if (o.threads < 1 || o.threads > 1024) return "threads must be in [1, 1024]";
  if (o.batchSize < 1 || o.batchSize > (1 << 24)) return "batchSize must be in [1, 16777216]";
  return "";
}

}  // namespace

struct HeadTrainer::Impl {
  std::vector<DenseLayer> head;  // current weights
  int inputs = 0;
  HeadTrainOptions opt;
  size_t params = 0;
  std::vector<size_t> wOff, bOff;  // into a flat gradient / moment vector
  std::vector<float> adamM, adamV;
  std::vector<float> sliceGrads;  // maxSlices * params
  std::vector<double> sliceLoss;
  int maxSlices = 0;
  uint64_t step = 0;
  Xoshiro256 rng{0};
  std::vector<size_t> perm;

  void layout() {
    wOff.resize(head.size());
    bOff.resize(head.size());
    size_t off = 0;
    for (size_t l = 0; l < head.size(); ++l) {
      wOff[l] = off;
      off += head[l].weight.size();
      bOff[l] = off;
      off += head[l].bias.size();
    }
    params = off;
    adamM.assign(params, 0.f);
    adamV.assign(params, 0.f);
  }

  void ensureSlices(int slices) {
    if (maxSlices >= slices) return;
    sliceGrads.assign(static_cast<size_t>(slices) * params, 0.f);
    sliceLoss.assign(slices, 0.0);
    maxSlices = slices;
  }

  // Gradient of rows idx[0 .. count) into g (params floats, overwritten), each row's loss gradient
  // scaled by its weight / wsum; returns the slice's sum of weighted losses.
  double sliceGrad(const float* x, const uint8_t* y, const size_t* idx, int count, double wsum,
                   float* g) const {
    std::memset(g, 0, params * sizeof(float));
    const size_t nl = head.size();
    std::vector<std::vector<float>> act(nl);  // post-activation of each layer, count rows
    for (size_t l = 0; l < nl; ++l) act[l].resize(static_cast<size_t>(count) * head[l].out);
    double lossSum = 0;
    for (int r = 0; r < count; ++r) {
      const float* in = x + idx[r] * static_cast<size_t>(inputs);
      const float* prev = in;
      for (size_t l = 0; l < nl; ++l) {
        const DenseLayer& L = head[l];
        float* out = act[l].data() + static_cast<size_t>(r) * L.out;
        for (int o = 0; o < L.out; ++o) {
          const float* w = L.weight.data() + static_cast<size_t>(o) * L.in;
          float s = L.bias[o];
          for (int i = 0; i < L.in; ++i) s += w[i] * prev[i];
          out[o] = (l + 1 < nl) ? std::max(s, 0.f) : s;
        }
        prev = out;
      }
    }
    std::vector<float> delta, deltaPrev;
    for (int r = 0; r < count; ++r) {
      const int label = y[idx[r]];
      const double w = label ? opt.posWeight : 1.0;
      double loss, dlda;
      rowLoss(act[nl - 1][r], label, opt.focalGamma, &loss, &dlda);
      lossSum += w * loss;
      delta.assign(1, static_cast<float>(w * dlda / wsum));
      for (size_t l = nl; l-- > 0;) {
        const DenseLayer& L = head[l];
        const float* in = l == 0 ? x + idx[r] * static_cast<size_t>(inputs)
                                 : act[l - 1].data() + static_cast<size_t>(r) * L.in;
        float* gw = g + wOff[l];
        float* gb = g + bOff[l];
        for (int o = 0; o < L.out; ++o) {
          const float dv = delta[o];
          gb[o] += dv;
          float* gwo = gw + static_cast<size_t>(o) * L.in;
          for (int i = 0; i < L.in; ++i) gwo[i] += dv * in[i];
        }
        if (l == 0) break;
        deltaPrev.assign(L.in, 0.f);
        for (int o = 0; o < L.out; ++o) {
          const float dv = delta[o];
          const float* wo = L.weight.data() + static_cast<size_t>(o) * L.in;
          for (int i = 0; i < L.in; ++i) deltaPrev[i] += dv * wo[i];
        }
        for (int i = 0; i < L.in; ++i)
          if (!(in[i] > 0.f)) deltaPrev[i] = 0.f;  // ReLU of the layer below
        delta.swap(deltaPrev);
      }
    }
    return lossSum;
  }

  // The gradient of one minibatch (rows idx[0 .. count)) summed over slices in slice order, into
  // sliceGrads[0 .. params); returns the weighted mean loss.
  double batch(const float* x, const uint8_t* y, const size_t* idx, size_t count, int threads) {
    double wsum = 0;
    for (size_t r = 0; r < count; ++r) wsum += y[idx[r]] ? opt.posWeight : 1.0;
    const int slices = static_cast<int>((count + kSliceRows - 1) / kSliceRows);
    ensureSlices(slices);
    parallelFor(slices, threads, [&](size_t s) {
      const size_t r0 = s * kSliceRows;
      const int rc = static_cast<int>(std::min<size_t>(kSliceRows, count - r0));
      sliceLoss[s] = sliceGrad(x, y, idx + r0, rc, wsum, sliceGrads.data() + s * params);
    });
    float* G = sliceGrads.data();
    double loss = sliceLoss[0];
    for (int s = 1; s < slices; ++s) {
      const float* Gs = G + static_cast<size_t>(s) * params;
      for (size_t i = 0; i < params; ++i) G[i] += Gs[i];
      loss += sliceLoss[s];
    }
    return loss / wsum;
  }

  float& param(size_t k) {
    for (size_t l = 0; l < head.size(); ++l) {
      if (k < bOff[l]) return head[l].weight[k - wOff[l]];
      if (k < bOff[l] + head[l].bias.size()) return head[l].bias[k - bOff[l]];
    }
    throw std::logic_error("param index out of range");
  }

  // Adam exactly as the autoencoder trainer's (train.h).
  void adam(uint64_t stepNo) {
    const double t = static_cast<double>(stepNo + 1);
    const double bc1 = 1.0 - std::pow(static_cast<double>(opt.beta1), t);
    const double bc2 = 1.0 - std::pow(static_cast<double>(opt.beta2), t);
    const float stepSize = static_cast<float>(static_cast<double>(opt.lr) / bc1);
    const float bc2Sqrt = static_cast<float>(std::sqrt(bc2));
    const float b1c = 1.f - opt.beta1, b2 = opt.beta2, b2c = 1.f - opt.beta2, eps = opt.eps;
    const float* G = sliceGrads.data();
    for (size_t l = 0; l < head.size(); ++l) {
      for (int part = 0; part < 2; ++part) {
        std::vector<float>& P = part == 0 ? head[l].weight : head[l].bias;
        const size_t off = part == 0 ? wOff[l] : bOff[l];
        for (size_t i = 0; i < P.size(); ++i) {
          const size_t k = off + i;
          const float g = G[k] + opt.weightDecay * P[i];
          const float m = adamM[k] + b1c * (g - adamM[k]);
          const float v = b2 * adamV[k] + b2c * g * g;
          adamM[k] = m;
          adamV[k] = v;
          P[i] -= stepSize * (m / (std::sqrt(v) / bc2Sqrt + eps));
        }
      }
    }
  }

  BadValue firstBad(const float* x, const uint8_t* y, size_t n) const {
    for (size_t r = 0; r < n; ++r) {
      for (int j = 0; j < inputs; ++j)
        if (!std::isfinite(x[r * inputs + j])) return BadValue{static_cast<int64_t>(r), j};
      if (y[r] > 1) return BadValue{static_cast<int64_t>(r), inputs};
    }
    return BadValue{};
  }
};

HeadTrainer::HeadTrainer(const std::vector<DenseLayer>& head, int inputs,
                         const HeadTrainOptions& options)
    : impl_(new Impl) {
  if (inputs < 3 || inputs % 2 == 0)
    throw std::invalid_argument("invalid head: inputs must be 2 * features + 1, got " +
                                std::to_string(inputs));
  const std::string err = validateHead(head, (inputs - 1) / 2);
  if (!err.empty()) throw std::invalid_argument("invalid head: " + err);
  const std::string oerr = headOptionsError(options);
  if (!oerr.empty()) throw std::invalid_argument("invalid options: " + oerr);
  Impl& m = *impl_;
  m.head = head;
  m.inputs = inputs;
  m.opt = options;
  m.rng = Xoshiro256(options.seed);
  m.layout();
}

HeadTrainer::~HeadTrainer() = default;

EpochResult HeadTrainer::trainEpoch(const float* x, const uint8_t* y, size_t n,
                                    const std::atomic<bool>* cancel) {
  Impl& m = *impl_;
  EpochResult res;
  if (n == 0) return res;
  res.bad = m.firstBad(x, y, n);
  if (res.bad.row >= 0) return res;
  shufflePermutation(m.rng, n, &m.perm);
  const size_t B = static_cast<size_t>(m.opt.batchSize);
  double lossSum = 0;
  for (size_t b0 = 0; b0 < n; b0 += B) {
    const size_t count = std::min(B, n - b0);
    lossSum += m.batch(x, y, m.perm.data() + b0, count, m.opt.threads);
    m.adam(m.step);
    ++m.step;
    ++res.batches;
    res.rows += count;
    if (cancel && cancel->load(std::memory_order_relaxed)) break;
  }
  res.cancelled = res.rows < n;
  res.loss = res.batches ? lossSum / static_cast<double>(res.batches) : 0.0;
  return res;
}

double HeadTrainer::evalLoss(const float* x, const uint8_t* y, size_t n) const {
  const Impl& m = *impl_;
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  std::vector<float> a(maxWidth(m.head, m.inputs)), b(a.size());
  double loss = 0, wsum = 0;
  for (size_t r = 0; r < n; ++r) {
    const double w = y[r] ? m.opt.posWeight : 1.0;
    double l, dl;
    rowLoss(headLogit(m.head, x + r * m.inputs, a.data(), b.data()), y[r], m.opt.focalGamma, &l,
            &dl);
    loss += w * l;
    wsum += w;
  }
  return loss / wsum;
}

double HeadTrainer::batchGradients(const float* x, const uint8_t* y, size_t n,
                                   std::vector<DenseLayer>* grads) {
  Impl& m = *impl_;
  if (n == 0) throw std::invalid_argument("batchGradients needs at least one row");
  const BadValue bad = m.firstBad(x, y, n);
  if (bad.row >= 0)
    throw std::invalid_argument("row " + std::to_string(bad.row) + " column " +
                                std::to_string(bad.col) + " is not finite (or not a 0/1 label)");
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  const double loss = m.batch(x, y, idx.data(), n, m.opt.threads);
  if (grads) {
    grads->assign(m.head.size(), DenseLayer{});
    for (size_t l = 0; l < m.head.size(); ++l) {
      DenseLayer& G = (*grads)[l];
      G.in = m.head[l].in;
      G.out = m.head[l].out;
      G.weight.assign(m.sliceGrads.begin() + m.wOff[l],
                      m.sliceGrads.begin() + m.wOff[l] + m.head[l].weight.size());
      G.bias.assign(m.sliceGrads.begin() + m.bOff[l],
                    m.sliceGrads.begin() + m.bOff[l] + m.head[l].bias.size());
    }
  }
  return loss;
}

std::vector<DenseLayer> HeadTrainer::weights() const {
  return impl_->head;
}

void HeadTrainer::setWeights(const std::vector<DenseLayer>& layers) {
  Impl& m = *impl_;
  const std::string err = validateHead(layers, (m.inputs - 1) / 2);
  if (!err.empty()) throw std::invalid_argument("invalid weights: " + err);
  if (layers.size() != m.head.size())
    throw std::invalid_argument("invalid weights: " + std::to_string(layers.size()) +
                                " layers, expected " + std::to_string(m.head.size()));
  for (size_t l = 0; l < layers.size(); ++l)
    if (layers[l].out != m.head[l].out)
      throw std::invalid_argument("invalid weights: " + layerName(l) + ".out is " +
                                  std::to_string(layers[l].out) + ", expected " +
                                  std::to_string(m.head[l].out));
  m.head = layers;
}

uint64_t HeadTrainer::steps() const {
  return impl_->step;
}

size_t HeadTrainer::bytes() const {
  const Impl& m = *impl_;
  return (3 * m.params + m.sliceGrads.size()) * sizeof(float) + m.perm.capacity() * sizeof(size_t);
}

double headBatchGradientsF64(const std::vector<DenseLayer>& head, const float* x, const uint8_t* y,
                             size_t n, float posWeight, float focalGamma,
                             std::vector<std::vector<double>>* gradW,
                             std::vector<std::vector<double>>* gradB) {
  const size_t nl = head.size();
  const int inputs = head[0].in;
  gradW->assign(nl, {});
  gradB->assign(nl, {});
  for (size_t l = 0; l < nl; ++l) {
    (*gradW)[l].assign(head[l].weight.size(), 0.0);
    (*gradB)[l].assign(head[l].bias.size(), 0.0);
  }
  double wsum = 0;
  for (size_t r = 0; r < n; ++r) wsum += y[r] ? posWeight : 1.0;
  double lossSum = 0;
  std::vector<std::vector<double>> act(nl + 1);
  for (size_t r = 0; r < n; ++r) {
    act[0].assign(x + r * inputs, x + (r + 1) * inputs);
    for (size_t l = 0; l < nl; ++l) {
      const DenseLayer& L = head[l];
      act[l + 1].assign(L.out, 0.0);
      for (int o = 0; o < L.out; ++o) {
        double s = L.bias[o];
        for (int i = 0; i < L.in; ++i) s += static_cast<double>(L.weight[o * L.in + i]) * act[l][i];
        act[l + 1][o] = (l + 1 < nl) ? std::max(s, 0.0) : s;
      }
    }
    const double w = y[r] ? posWeight : 1.0;
    double loss, dlda;
    rowLoss(act[nl][0], y[r], focalGamma, &loss, &dlda);
    lossSum += w * loss;
    std::vector<double> delta{w * dlda / wsum}, prev;
    for (size_t l = nl; l-- > 0;) {
      const DenseLayer& L = head[l];
      for (int o = 0; o < L.out; ++o) {
        (*gradB)[l][o] += delta[o];
        for (int i = 0; i < L.in; ++i) (*gradW)[l][o * L.in + i] += delta[o] * act[l][i];
      }
      if (l == 0) break;
      prev.assign(L.in, 0.0);
      for (int o = 0; o < L.out; ++o)
        for (int i = 0; i < L.in; ++i) prev[i] += delta[o] * L.weight[o * L.in + i];
      for (int i = 0; i < L.in; ++i)
        if (!(act[l][i] > 0.0)) prev[i] = 0.0;
      delta.swap(prev);
    }
  }
  return lossSum / wsum;
}

}  // namespace fraudscore
