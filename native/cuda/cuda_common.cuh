// Shared pieces of the CUDA backend: error checking that turns every failed runtime call into a
// CudaError naming the call, and device selection.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "fraudscore/cuda.h"

namespace fraudscore {
namespace cudadetail {

// Errors that mean "no usable driver/device here" rather than a failure of our own code.
inline bool isUnavailable(cudaError_t e) {
  return e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver ||
         e == cudaErrorInvalidDevice || e == cudaErrorDevicesUnavailable ||
         e == cudaErrorSystemDriverMismatch || e == cudaErrorCompatNotSupportedOnDevice ||
         e == cudaErrorStubLibrary || e == cudaErrorNoKernelImageForDevice ||
         e == cudaErrorInitializationError;
}

[[noreturn]] inline void fail(cudaError_t e, const char* call, const char* where) {
  (void)cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  const std::string msg = std::string(where) + ": " + call + " failed: " + cudaGetErrorName(e) +
                          " (" + cudaGetErrorString(e) + ")";
  throw CudaError(msg, isUnavailable(e) ? "ERR_FRAUDSCORE_CUDA_UNAVAILABLE" : "ERR_FRAUDSCORE_CUDA",
                  static_cast<int>(e));
}

// Checks a runtime call; `where` names the public operation ("CudaEngine.score").
#define FS_CUDA_CHECK(call, where)                                                     \
  do {                                                                                 \
    cudaError_t fs_err_ = (call);                                                      \
    if (fs_err_ != cudaSuccess) ::fraudscore::cudadetail::fail(fs_err_, #call, where); \
  } while (0)

// Checks a kernel launch (configuration errors show up in cudaGetLastError right away).
#define FS_CUDA_CHECK_LAUNCH(name, where)                                             \
  do {                                                                                \
    cudaError_t fs_err_ = cudaGetLastError();                                         \
    if (fs_err_ != cudaSuccess) ::fraudscore::cudadetail::fail(fs_err_, name, where); \
  } while (0)

// Selects `device` on the calling thread, or throws ERR_FRAUDSCORE_CUDA_UNAVAILABLE.
inline void useDevice(int device, const char* where) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    // cudaInfo words the usual causes plainly ("no CUDA driver found ...").
    const CudaInfo info = cudaInfo(device);
    throw CudaError(
        std::string(where) + ": " + (info.reason.empty() ? cudaGetErrorString(e) : info.reason),
        isUnavailable(e) ? "ERR_FRAUDSCORE_CUDA_UNAVAILABLE" : "ERR_FRAUDSCORE_CUDA",
        static_cast<int>(e));
  }
  if (device < 0 || device >= count)
    throw CudaError(std::string(where) + ": device " + std::to_string(device) +
                        " does not exist (" + std::to_string(count) + " device(s))",
                    "ERR_FRAUDSCORE_CUDA_UNAVAILABLE", static_cast<int>(cudaErrorInvalidDevice));
  FS_CUDA_CHECK(cudaSetDevice(device), where);
}

}  // namespace cudadetail
}  // namespace fraudscore
