// Device discovery, RAII buffers and the measured ceilings (copy bandwidths, FFMA and dp4a rates)
// that the benchmark divides by to report how close a kernel runs to its floor.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cuda_common.cuh"

namespace fraudscore {

using cudadetail::fail;

bool cudaBuilt() {
  return true;
}

CudaInfo cudaInfo(int device) {
  CudaInfo info;
  info.built = true;
  cudaRuntimeGetVersion(&info.runtimeVersion);
  // With cudart linked statically this works on a machine with no driver: it returns an error.
  cudaError_t e = cudaDriverGetVersion(&info.driverVersion);
  if (e != cudaSuccess || info.driverVersion == 0) {
    info.reason = "no CUDA driver found (libcuda.so could not be loaded)";
    (void)cudaGetLastError();
    return info;
  }
  e = cudaGetDeviceCount(&info.deviceCount);
  if (e != cudaSuccess) {
    info.reason = std::string("no CUDA device answered: ") + cudaGetErrorString(e);
    info.deviceCount = 0;
    (void)cudaGetLastError();
    return info;
  }
  if (device < 0 || device >= info.deviceCount) {
    info.reason = "device " + std::to_string(device) + " does not exist (" +
                  std::to_string(info.deviceCount) + " device(s))";
    return info;
  }
  cudaDeviceProp p;
  e = cudaGetDeviceProperties(&p, device);
  if (e != cudaSuccess) {
    info.reason = std::string("cudaGetDeviceProperties failed: ") + cudaGetErrorString(e);
    (void)cudaGetLastError();
    return info;
  }
  info.device = device;
  info.name = p.name;
  info.ccMajor = p.major;
  info.ccMinor = p.minor;
  info.multiprocessors = p.multiProcessorCount;
  info.totalMemory = p.totalGlobalMem;
  int prev = 0;
  cudaGetDevice(&prev);
  if (cudaSetDevice(device) == cudaSuccess) {
    size_t freeB = 0, totalB = 0;
    if (cudaMemGetInfo(&freeB, &totalB) == cudaSuccess) {
      info.freeMemory = freeB;
      info.totalMemory = totalB;
    } else {
      (void)cudaGetLastError();
    }
    cudaSetDevice(prev);
  }
  // The kernels are built for FRAUDSCORE_CUDA_ARCHS (sm_80, sm_90 by default); older devices have
  // no kernel image.
  if (p.major < 8) {
    info.reason = std::string(p.name) + " has compute capability " + std::to_string(p.major) + "." +
                  std::to_string(p.minor) + "; fraudscore's kernels need 8.0 or newer";
    return info;
  }
  info.available = true;
  return info;
}

// ---- buffers
// --------------------------------------------------------------------------------------

CudaBuffer::CudaBuffer(size_t bytes, Kind kind, int device)
    : bytes_(bytes), kind_(kind), device_(device) {
  cudadetail::useDevice(device, "CudaBuffer");
  if (bytes == 0) return;
  if (kind == kDevice)
    FS_CUDA_CHECK(cudaMalloc(&ptr_, bytes), "CudaBuffer");
  else
    FS_CUDA_CHECK(cudaMallocHost(&ptr_, bytes), "CudaBuffer");
}

CudaBuffer::~CudaBuffer() {
  if (!ptr_) return;
  cudaSetDevice(device_);
  if (kind_ == kDevice)
    cudaFree(ptr_);
  else
    cudaFreeHost(ptr_);
}

void CudaBuffer::upload(const void* src, size_t bytes, size_t offset) {
  if (offset + bytes > bytes_)
    throw std::out_of_range("CudaBuffer.upload: past the end of the buffer");
  if (kind_ == kPinnedHost) {
    std::memcpy(static_cast<char*>(ptr_) + offset, src, bytes);
    return;
  }
  cudadetail::useDevice(device_, "CudaBuffer.upload");
  FS_CUDA_CHECK(cudaMemcpy(static_cast<char*>(ptr_) + offset, src, bytes, cudaMemcpyHostToDevice),
                "CudaBuffer.upload");
}

void CudaBuffer::download(void* dst, size_t bytes, size_t offset) const {
  if (offset + bytes > bytes_)
    throw std::out_of_range("CudaBuffer.download: past the end of the buffer");
  if (kind_ == kPinnedHost) {
    std::memcpy(dst, static_cast<const char*>(ptr_) + offset, bytes);
    return;
  }
  cudadetail::useDevice(device_, "CudaBuffer.download");
  FS_CUDA_CHECK(
      cudaMemcpy(dst, static_cast<const char*>(ptr_) + offset, bytes, cudaMemcpyDeviceToHost),
      "CudaBuffer.download");
}

void CudaBuffer::fill(uint8_t byte) {
  if (kind_ == kPinnedHost) {
    std::memset(ptr_, byte, bytes_);
    return;
  }
  cudadetail::useDevice(device_, "CudaBuffer.fill");
  FS_CUDA_CHECK(cudaMemset(ptr_, byte, bytes_), "CudaBuffer.fill");
  FS_CUDA_CHECK(cudaDeviceSynchronize(), "CudaBuffer.fill");
}

// ---- measured ceilings
// ----------------------------------------------------------------------------

namespace {

constexpr int kChains = 8;

// kChains independent FMA chains per thread keep the pipes full; the data-dependent store keeps the
// compiler from removing them.
__global__ void fmaPeakKernel(float* out, int iters, float a, float b) {
  float x[kChains];
#pragma unroll
  for (int c = 0; c < kChains; ++c) x[c] = threadIdx.x * 1e-3f + c;
  for (int it = 0; it < iters; ++it) {
#pragma unroll
    for (int c = 0; c < kChains; ++c) x[c] = fmaf(x[c], a, b);
  }
  float s = 0;
#pragma unroll
  for (int c = 0; c < kChains; ++c) s += x[c];
  if (s == 1234.5f) out[threadIdx.x] = s;
}

__global__ void dp4aPeakKernel(int* out, int iters, int a, int b) {
  int x[kChains];
#pragma unroll
  for (int c = 0; c < kChains; ++c) x[c] = threadIdx.x + c;
  for (int it = 0; it < iters; ++it) {
#pragma unroll
    for (int c = 0; c < kChains; ++c) x[c] = __dp4a(a ^ x[c], b, x[c]);
  }
  int s = 0;
#pragma unroll
  for (int c = 0; c < kChains; ++c) s += x[c];
  if (s == 1234567) out[threadIdx.x] = s;
}

template <typename F>
double medianMs(int reps, F&& body) {
  const char* where = "cudaMeasurePeaks";
  cudaEvent_t e0, e1;
  FS_CUDA_CHECK(cudaEventCreate(&e0), where);
  FS_CUDA_CHECK(cudaEventCreate(&e1), where);
  body();  // warm-up
  FS_CUDA_CHECK(cudaDeviceSynchronize(), where);
  std::vector<float> t;
  for (int r = 0; r < reps; ++r) {
    FS_CUDA_CHECK(cudaEventRecord(e0), where);
    body();
    FS_CUDA_CHECK(cudaEventRecord(e1), where);
    FS_CUDA_CHECK(cudaEventSynchronize(e1), where);
    float ms = 0;
    FS_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1), where);
    t.push_back(ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

CudaPeaks cudaMeasurePeaks(int device) {
  const char* where = "cudaMeasurePeaks";
  cudadetail::useDevice(device, where);
  cudaDeviceProp p;
  FS_CUDA_CHECK(cudaGetDeviceProperties(&p, device), where);
  CudaPeaks r;
  {
    const size_t bytes = size_t(1) << 30;
    CudaBuffer a(bytes, CudaBuffer::kDevice, device), b(bytes, CudaBuffer::kDevice, device);
    FS_CUDA_CHECK(cudaMemset(a.data(), 1, bytes), where);
    const double ms = medianMs(7, [&] {
      FS_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice), where);
    });
    r.d2dGBs = 2.0 * bytes / (ms * 1e-3) / 1e9;
  }
  {
    const size_t bytes = size_t(256) << 20;
    CudaBuffer d(bytes, CudaBuffer::kDevice, device), h(bytes, CudaBuffer::kPinnedHost, device);
    std::memset(h.data(), 1, bytes);
    double ms = medianMs(7, [&] {
      FS_CUDA_CHECK(cudaMemcpyAsync(d.data(), h.data(), bytes, cudaMemcpyHostToDevice), where);
    });
    r.h2dPinnedGBs = bytes / (ms * 1e-3) / 1e9;
    ms = medianMs(7, [&] {
      FS_CUDA_CHECK(cudaMemcpyAsync(h.data(), d.data(), bytes, cudaMemcpyDeviceToHost), where);
    });
    r.d2hPinnedGBs = bytes / (ms * 1e-3) / 1e9;
    std::vector<char> pageable(bytes, 1);
    ms = medianMs(5, [&] {
      FS_CUDA_CHECK(cudaMemcpy(d.data(), pageable.data(), bytes, cudaMemcpyHostToDevice), where);
    });
    r.h2dPageableGBs = bytes / (ms * 1e-3) / 1e9;
  }
  {
    CudaBuffer out(4096, CudaBuffer::kDevice, device);
    const int blocks = p.multiProcessorCount * 8, threads = 256, iters = 1 << 14;
    double ms = medianMs(5, [&] {
      fmaPeakKernel<<<blocks, threads>>>(out.as<float>(), iters, 0.999f, 1e-3f);
      FS_CUDA_CHECK_LAUNCH("fmaPeakKernel", where);
    });
    r.fp32Tflops = 2.0 * kChains * double(iters) * blocks * threads / (ms * 1e-3) / 1e12;
    ms = medianMs(5, [&] {
      dp4aPeakKernel<<<blocks, threads>>>(out.as<int>(), iters, 0x01020304, 0x05060708);
      FS_CUDA_CHECK_LAUNCH("dp4aPeakKernel", where);
    });
    r.dp4aTops = 8.0 * kChains * double(iters) * blocks * threads / (ms * 1e-3) / 1e12;
  }
  return r;
}

}  // namespace fraudscore
