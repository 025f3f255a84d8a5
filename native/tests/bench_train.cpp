// C++-level training throughput on the benchmark shape [29, 32, 16, 32, 29] (rows/s of full
// epochs: shuffle, forward, backward, Adam), per SIMD path and thread count. The target is
// >= 1.2M rows/s at batch 256 on 2 threads (PyTorch: ~230k rows/s on 2 threads).
//   bench_train [--rows N] [--batch B] [--epochs E] [--threads T] [--dropout P] [--cuda]
// --cuda measures the path of train({ backend: 'cuda' }) instead: the same epochs with each
// minibatch's step on CUDA device 0 (Trainer with cudaDevice = 0: host gather and standardize, one
// upload and one step per minibatch); it prints SKIPPED and exits 0 when no device answers.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "fraudscore/cpu.h"
#include "fraudscore/cuda.h"
#include "fraudscore/train.h"
#include "testing.h"

using namespace fraudscore;
using Clock = std::chrono::steady_clock;

// CPU seconds used by the whole process: on a shared machine the wall clock also counts time this
// process waited for a core, so rows per CPU-second is reported next to rows per wall-second.
static double cpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  size_t n = 200000;
  int batch = 256, epochs = 3, threadsArg = 0;
  float dropout = 0.1f;
  bool cuda = false;
  for (int i = 1; i < argc; ++i) {
    const bool more = i + 1 < argc;
    if (!std::strcmp(argv[i], "--rows") && more)
      n = std::stoull(argv[++i]);
    else if (!std::strcmp(argv[i], "--batch") && more)
      batch = std::stoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--epochs") && more)
      epochs = std::stoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--threads") && more)
      threadsArg = std::stoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--dropout") && more)
      dropout = std::stof(argv[++i]);
    else if (!std::strcmp(argv[i], "--cuda"))
      cuda = true;
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  std::mt19937_64 rng(7);
  ModelSpec m = fstest::randomModel(rng, 29, {32, 16, 32});
  std::vector<float> rows = fstest::randomRows(rng, m, n);
  if (cuda) {
    const CudaInfo info = cudaInfo();
    if (!info.available) {
      std::printf("bench_train --cuda: SKIPPED: %s\n", info.reason.c_str());
      return 0;
    }
    TrainOptions opt;
    opt.batchSize = batch;
    opt.dropout = dropout;
    opt.weightDecay = 1e-5f;
    opt.seed = 42;
    opt.cudaDevice = 0;
    Trainer tr(m, opt);
    tr.trainEpoch(rows.data(), std::min<size_t>(n, 20000));  // warm up: allocations, clocks
    double loss = 0;
    const auto t0 = Clock::now();
    for (int e = 0; e < epochs; ++e) loss = tr.trainEpoch(rows.data(), n).loss;
    const double el = std::chrono::duration<double>(Clock::now() - t0).count();
    const double rps = static_cast<double>(n) * epochs / el;
    std::printf("cuda    %s batch=%d rows=%zu: %.3f Mrows/s of train() epochs, last loss %.4f\n",
                info.name.c_str(), batch, n, rps / 1e6, loss);
    return 0;
  }
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> threadList = threadsArg > 0
                                    ? std::vector<int>{threadsArg}
                                    : (hw > 1 ? std::vector<int>{1, hw} : std::vector<int>{1});
  const char* forced = std::getenv("FRAUDSCORE_SIMD");
  std::printf("rows=%zu batch=%d epochs=%d dropout=%.2f\n", n, batch, epochs, dropout);
  for (SimdPath path : {SimdPath::kAvx512, SimdPath::kAvx2, SimdPath::kSse2}) {
    if (!simdSupported(path)) continue;
    // The trainer follows FRAUDSCORE_SIMD; set it per path so each is measured.
    setenv("FRAUDSCORE_SIMD", simdPathName(path), 1);
    if (forced && *forced && std::strcmp(forced, simdPathName(path)) != 0) continue;
    for (int threads : threadList) {
      TrainOptions opt;
      opt.batchSize = batch;
      opt.threads = threads;
      opt.dropout = dropout;
      opt.weightDecay = 1e-5f;
      opt.seed = 42;
      Trainer tr(m, opt);
      tr.trainEpoch(rows.data(), std::min<size_t>(n, 20000));  // warm up: scratch, pages, clocks
      double loss = 0;
      const auto t0 = Clock::now();
      const double c0 = cpuSeconds();
      for (int e = 0; e < epochs; ++e) loss = tr.trainEpoch(rows.data(), n).loss;
      const double el = std::chrono::duration<double>(Clock::now() - t0).count();
      const double cpu = cpuSeconds() - c0;
      const double rps = static_cast<double>(n) * epochs / el;
      std::printf(
          "%-7s threads=%d batch=%d: %.3f Mrows/s (%.1f GFLOP/s fwd+bwd), %.3f Mrows per "
          "CPU-second, cpu/wall %.2f, last loss %.4f\n",
          simdPathName(path), threads, batch, rps / 1e6, rps * 3 * m.flopsPerRow() / 1e9,
          static_cast<double>(n) * epochs / cpu / 1e6, cpu / el, loss);
    }
  }
  return 0;
}
