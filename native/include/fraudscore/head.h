// The hybrid model's supervised head: a small MLP that reads what the autoencoder saw and got
// wrong, and outputs a fraud probability; its trainer; and the fused engine that scores both.
//
// Contract (the TS layer, the ONNX export and the float64 reference agree on it):
// - Head input of a row, 2 * features + 1 values, in this order:
//     z_j            the standardized feature (the autoencoder's input), j = 0 .. features-1
//     log1p(e_j)     log1p of feature j's squared reconstruction error
//     log1p(s)       log1p of the AE score s (the mean of the e_j)
//   Errors are heavy-tailed (a fraud's can be 1e4 times a normal row's); log1p keeps the head's
//   inputs in a range Adam handles without any fitted parameter.
// - Head network: hidden layers ReLU, last layer one linear unit; probability = sigmoid(logit).
// - Loss of a minibatch: sum over its rows of w_r * l_r divided by the sum of w_r, where w_r is
//   posWeight for a fraud (label 1) and 1 otherwise, and l_r the binary cross-entropy of the logit
//   (gamma = 0) or the focal loss (1 - p_t)^gamma * BCE (gamma > 0, Lin et al. 2017).
// - Optimizer, minibatches, shuffles and determinism: exactly the autoencoder trainer's (train.h):
//   Adam with L2 added to the gradient, Fisher-Yates over xoshiro256** seeded by splitmix64,
//   gradients summed over fixed kSliceRows slices in slice order, so weights depend on the seed and
//   the data only, never on the thread count.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fraudscore/cpu.h"
#include "fraudscore/int8.h"
#include "fraudscore/model.h"
#include "fraudscore/quant.h"
#include "fraudscore/train.h"

namespace fraudscore {

// Head inputs for a model of `features` columns.
inline int headInputs(int features) {
  return 2 * features + 1;
}

// Empty when `head` is a usable head for `features` inputs columns (headInputs(features) inputs,
// one output, finite weights), else a message naming the field (head[i].weight, ...).
std::string validateHead(const std::vector<DenseLayer>& head, int features);

// [sync] The head inputs of rows whose standardized values, feature errors and scores are known
// (z and fe: n * features, scores: n; out: n * headInputs(features)).
void buildHeadInputs(const float* z, const float* featureErrors, const float* scores, size_t n,
                     int features, float* out);

// The autoencoder and the head in one engine: one call gives AE scores, feature errors and
// probabilities. Immutable after construction (safe for concurrent calls).
class HybridEngine {
 public:
  // [sync] @throws std::invalid_argument naming the bad field.
  HybridEngine(const ModelSpec& ae, const std::vector<DenseLayer>& head,
               SimdPath path = defaultSimd());
  // [sync] The autoencoder in int8 (a CpuInt8Engine: q's weights, static or dynamic activation
  // scales, q.fallback's fp32 rescoring of out-of-range rows), the head in fp32 after it, reading
  // the int8 path's feature errors and score (the standardized z is fp32 either way). Blocks of
  // rows start at multiples of kInt8DynamicBlockRows, so dynamic scales do not depend on threads.
  // @throws std::invalid_argument naming the bad field (model, quantization or head).
  HybridEngine(const ModelSpec& ae, const QuantSpec& q, Int8Activations act,
               const std::vector<DenseLayer>& head, SimdPath path = defaultInt8Simd(),
               Int8Matmul mm = Int8Matmul::kAuto);
  ~HybridEngine();
  HybridEngine(const HybridEngine&) = delete;
  HybridEngine& operator=(const HybridEngine&) = delete;

  // [sync] Scores n raw rows: rows go through preprocessing, the autoencoder and the head in one
  // pass over blocks of rows (each block's errors stay in cache for the head).
  // @param probs         n outputs: fraud probability in [0, 1]
  // @param aeScores      null or n outputs: the autoencoder's score (CpuEngine::score's)
  // @param featureErrors null or n * features outputs
  // @returns the first bad value in row order (as CpuEngine::score); with NonFinite::kNaN a bad
  //          row gets NaN everywhere.
  BadValue score(const float* rows, size_t n, float* probs, float* aeScores, float* featureErrors,
                 NonFinite mode, int threads = 0) const;

  // [sync] The head inputs of n raw rows (n * headInputs(features)), for training the head.
  BadValue headInputsOf(const float* rows, size_t n, float* out, int threads = 0) const;

  int features() const;
  SimdPath path() const;
  size_t packedBytes() const;
  // True when the autoencoder runs in int8 (the second constructor).
  bool int8() const;
  // The int8 engine's (CpuInt8Engine::amx, ::activations, ::fallbackRows); false / 0 for fp32.
  bool amx() const;
  bool dynamic() const;
  uint64_t fallbackRows() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Float64 reference of HybridEngine::score (straightforward loops; non-finite rows give NaN).
void hybridReferenceF64(const ModelSpec& ae, const std::vector<DenseLayer>& head, const float* rows,
                        size_t n, double* probs, double* aeScores);

struct HeadTrainOptions {
  float lr = 1e-3f;
  float weightDecay = 0.f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float posWeight = 1.f;   // loss weight of a fraud row (> 0)
  float focalGamma = 0.f;  // 0: weighted BCE; > 0: focal loss
  uint64_t seed = 0;
  int threads = 1;
  int batchSize = 256;
};

// Trains the head on precomputed head inputs (headInputsOf) with 0/1 labels.
class HeadTrainer {
 public:
  // [sync] @throws std::invalid_argument naming the bad field (head or options).
  HeadTrainer(const std::vector<DenseLayer>& head, int inputs, const HeadTrainOptions& options);
  ~HeadTrainer();
  HeadTrainer(const HeadTrainer&) = delete;
  HeadTrainer& operator=(const HeadTrainer&) = delete;

  // [sync] One shuffled epoch; x: n * inputs finite values, y: n labels (0 or 1). A non-finite
  // input or a label other than 0/1 is returned in `bad` (col = inputs for the label) and nothing
  // is trained. res.loss is the mean weighted loss over the epoch's minibatches.
  EpochResult trainEpoch(const float* x, const uint8_t* y, size_t n,
                         const std::atomic<bool>* cancel = nullptr);

  // [sync] Weighted mean loss of n rows with the current weights (no update).
  double evalLoss(const float* x, const uint8_t* y, size_t n) const;

  // [sync] Loss and gradient of ONE minibatch made of these n rows (no weight decay, no update),
  // for tests. grads gets one layer per head layer in the [out][in] layout.
  double batchGradients(const float* x, const uint8_t* y, size_t n, std::vector<DenseLayer>* grads);

  std::vector<DenseLayer> weights() const;
  void setWeights(const std::vector<DenseLayer>& layers);
  uint64_t steps() const;
  size_t bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Float64 reference of one minibatch's loss and gradient (HeadTrainer::batchGradients), for tests.
double headBatchGradientsF64(const std::vector<DenseLayer>& head, const float* x, const uint8_t* y,
                             size_t n, float posWeight, float focalGamma,
                             std::vector<std::vector<double>>* gradW,
                             std::vector<std::vector<double>>* gradB);

}  // namespace fraudscore
