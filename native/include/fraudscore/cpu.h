// CPU scoring engine: fused preprocessing + MLP + squared error, SIMD chosen at run time.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "fraudscore/model.h"

namespace fraudscore {

// Instruction-set paths, best first. Each is compiled into the same binary; the best one that the
// CPU and OS support is picked at run time (override with FRAUDSCORE_SIMD=avx512|avx2|sse2).
enum class SimdPath { kAvx512 = 0, kAvx2 = 1, kSse2 = 2 };

const char* simdPathName(SimdPath p);
// The best path this CPU supports.
SimdPath detectSimd();
// True when this CPU (and OS) can run the path.
bool simdSupported(SimdPath p);
// The path new engines use: FRAUDSCORE_SIMD when set and supported, else detectSimd().
SimdPath defaultSimd();
// The best path `supported` accepts; with honorEnv, FRAUDSCORE_SIMD first when it names a supported
// path. Shared by the fp32 and int8 engines (whose AVX-512 path also needs VNNI).
SimdPath pickSimd(bool (*supported)(SimdPath), bool honorEnv);

// Weights repacked for one SIMD width. Immutable after construction, so one engine can serve
// concurrent calls from many threads.
class CpuEngine {
 public:
  // [sync] @throws std::invalid_argument when the spec is inconsistent.
  explicit CpuEngine(const ModelSpec& spec, SimdPath path = defaultSimd());
  ~CpuEngine();
  CpuEngine(const CpuEngine&) = delete;
  CpuEngine& operator=(const CpuEngine&) = delete;

  // [sync] Scores n raw rows (row-major, n * features floats).
  // @param scores        n outputs: mean squared reconstruction error in standardized space
  // @param featureErrors null, or n * features outputs: each feature's squared error
  // @param threads       0 = the shared pool's size; 1 = the calling thread only
  // @returns the first bad value (row -1 when every value was finite). With NonFinite::kError the
  //          outputs are unspecified when a bad value is returned.
  BadValue score(const float* rows, size_t n, float* scores, float* featureErrors, NonFinite mode,
                 int threads = 0) const;

  int features() const;
  SimdPath path() const;
  const ModelSpec& spec() const;
  // Bytes of packed weights held by this engine (reported to the JS heap accounting).
  size_t packedBytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Float64 reference of the same computation, straightforward loops, for tests.
// Non-finite rows get NaN. featureErrors may be null.
void scoreReferenceF64(const ModelSpec& spec, const float* rows, size_t n, double* scores,
                       double* featureErrors);

}  // namespace fraudscore
