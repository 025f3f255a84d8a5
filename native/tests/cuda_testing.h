// Helpers for the CUDA tests: skip cleanly (exit 0, saying why) when no device answers.
#pragma once

#include <cstdio>

#include "fraudscore/cuda.h"
#include "fraudscore/train.h"
#include "testing.h"

namespace fstest {

// Returns true when a CUDA device is usable. Otherwise checks the "unavailable" contract (cudaInfo
// says why, constructors throw ERR_FRAUDSCORE_CUDA_UNAVAILABLE instead of crashing), prints why the
// GPU checks are skipped, and returns false.
inline bool cudaDeviceOrSkip(const char* name) {
  const fraudscore::CudaInfo info = fraudscore::cudaInfo();
  if (info.available) {
    std::printf("%s: %s (cc %d.%d, %d SMs, %.1f GiB), driver %d, runtime %d\n", name,
                info.name.c_str(), info.ccMajor, info.ccMinor, info.multiprocessors,
                info.totalMemory / 1073741824.0, info.driverVersion, info.runtimeVersion);
    return true;
  }
  CHECK(!info.reason.empty());
  std::mt19937_64 rng(1);
  fraudscore::ModelSpec m = randomModel(rng, 5, {4});
  bool threw = false;
  try {
    fraudscore::CudaEngine eng(m, fraudscore::CudaEngine::Options{});
  } catch (const fraudscore::CudaError& e) {
    threw = true;
    CHECK_MSG(e.code() == "ERR_FRAUDSCORE_CUDA_UNAVAILABLE", "code %s: %s", e.code().c_str(),
              e.what());
  }
  CHECK(threw);
  // The CPU trainer asked to step on a device throws the same error from its constructor.
  threw = false;
  try {
    fraudscore::TrainOptions opt;
    opt.cudaDevice = 0;
    fraudscore::Trainer tr(m, opt);
  } catch (const fraudscore::CudaError& e) {
    threw = true;
    CHECK_MSG(e.code() == "ERR_FRAUDSCORE_CUDA_UNAVAILABLE", "Trainer: code %s: %s",
              e.code().c_str(), e.what());
  }
  CHECK(threw);
  std::printf("%s: SKIPPED GPU checks: %s (built with CUDA: %s)\n", name, info.reason.c_str(),
              info.built ? "yes" : "no");
  return false;
}

}  // namespace fstest
