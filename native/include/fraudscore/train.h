// CPU training of the dense autoencoder: backpropagation of the MSE reconstruction loss and Adam.
//
// Contract (what the TS layer and the CUDA step must agree on):
// - Inputs are RAW rows (row-major, n * features floats). The trainer standardizes them with the
//   ModelSpec's preprocessing exactly as the scoring kernel does (log1p where set, then
//   (x - mean) * (1 / std) with 1 / std rounded once to float), so the loss it minimizes is the
//   score the kernel reports. Preprocessing parameters are fixed; only the layers are trained.
// - Loss of a minibatch: mean over its rows and features of (y - z)^2 (torch.nn.MSELoss()).
// - Network: hidden layers ReLU, last layer linear. Inverted dropout with probability `dropout`
//   after the FIRST hidden layer's ReLU only (the original project's Linear-ReLU-Dropout-...),
//   in training only.
// - Optimizer: torch.optim.Adam(lr, betas, eps, weight_decay) on every weight and bias:
//   g += weight_decay * p (L2 added to the gradient, not AdamW), m = lerp(m, g, 1 - b1),
//   v = b2 v + (1 - b2) g^2, p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
// - Minibatches: each epoch is a Fisher-Yates permutation of the rows drawn from xoshiro256**
//   (seeded by splitmix64 from `seed`), cut into batches of batchSize; the last batch may be
//   smaller (torch DataLoader with drop_last=False).
// - Determinism: a batch is cut into fixed slices of kSliceRows rows whose gradients are summed in
//   slice order, and dropout masks are a hash of (seed, step, row in batch, unit). So the weights
//   after any number of epochs depend on the seed and the data only, not on the thread count.
//   They do depend on the SIMD path (FRAUDSCORE_SIMD / the CPU): the vector width changes the
//   order of float additions inside a slice, so AVX-512 and SSE2 runs drift apart by rounding.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "fraudscore/model.h"

namespace fraudscore {

struct TrainOptions {
  float lr = 1e-3f;         // Adam learning rate (> 0)
  float weightDecay = 0.f;  // L2 coefficient added to the gradient (>= 0)
  float dropout = 0.f;      // after the first hidden layer, in [0, 1)
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  uint64_t seed = 0;    // shuffling and dropout
  int threads = 1;      // worker threads for an epoch (the caller's thread is one of them)
  int batchSize = 256;  // rows per minibatch (>= 1)
  // -1: the steps run on the CPU. >= 0: each minibatch's forward, backward and Adam step run on
  // that CUDA device (CudaTrainer); the epoch's checks, order and batches stay as above, so only
  // float rounding and the dropout masks (CudaTrainer draws its own) differ from a CPU run.
  // `threads` then only sizes evalLoss. The constructor throws CudaError when no device answers.
  int cudaDevice = -1;
};

// Result of one pass over the training rows.
struct EpochResult {
  double loss = 0;     // mean training loss (with dropout) over every row and feature seen
  size_t rows = 0;     // rows trained on (fewer than n when cancelled)
  size_t batches = 0;  // optimizer steps taken
  bool cancelled = false;
  BadValue bad;  // first non-finite standardized input; nothing was trained when row >= 0
};

// Rows per gradient slice (see the determinism note above).
constexpr int kSliceRows = 32;

// The dropout decision for one activation: true when unit `unit` of row `row` (position within the
// minibatch) is kept at optimizer step `step` (0-based, counted over the trainer's life).
// keepThreshold = round((1 - p) * 2^32) clamped to [0, 2^32 - 1]; see dropoutKeepThreshold.
bool dropoutKeep(uint64_t seed, uint64_t step, uint32_t row, uint32_t unit, uint32_t keepThreshold);
uint32_t dropoutKeepThreshold(float p);

class Trainer {
 public:
  // [sync] Copies the spec's weights as the starting point.
  // @throws std::invalid_argument naming the bad field (spec or options).
  Trainer(const ModelSpec& spec, const TrainOptions& options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // [sync] One epoch over n raw rows (shuffled), one Adam step per minibatch. Checks every input
  // first: a non-finite standardized value (or a log1p input <= -1) returns it in `bad` and
  // trains nothing. `cancel`, when set by another thread, stops after the current minibatch.
  EpochResult trainEpoch(const float* rows, size_t n, const std::atomic<bool>* cancel = nullptr);

  // [sync] Mean squared reconstruction error (no dropout) of n raw rows: the mean of the scoring
  // kernel's scores with the current weights. A bad value is reported through `bad` (result NaN).
  double evalLoss(const float* rows, size_t n, BadValue* bad, int threads = 0) const;

  // [sync] For tests and the CUDA cross-check: the loss and gradient of ONE minibatch made of
  // these n rows in this order (no weight decay, no update). With `dropout`, masks are those of
  // optimizer step `step`. grads gets one layer per spec layer in the [out][in] layout.
  // CPU steps only (@throws std::logic_error with cudaDevice >= 0).
  double batchGradients(const float* rows, size_t n, bool dropout, uint64_t step,
                        std::vector<DenseLayer>* grads);

  // The current weights (spec layout), and a copy of the spec holding them.
  std::vector<DenseLayer> weights() const;
  ModelSpec spec() const;
  // Replaces the weights (same shapes, finite). Adam's moments and step count are kept, so
  // restoring a snapshot and continuing behaves like PyTorch's load_state_dict on the model only.
  // @throws std::invalid_argument naming the bad layer/field; std::logic_error with
  //   cudaDevice >= 0 (the device trainer keeps its weights to itself).
  void setWeights(const std::vector<DenseLayer>& layers);

  uint64_t steps() const;  // optimizer steps taken so far
  const TrainOptions& options() const;
  // Bytes held by weights, optimizer state and per-thread scratch (for JS heap accounting).
  size_t bytes() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace fraudscore
