// Placeholder so the CUDA target has a source; replaced by the CUDA backend.
#include <cuda_runtime.h>
extern "C" int fraudscore_cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}
