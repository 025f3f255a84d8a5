// The CUDA backend's API in a build without CUDA (WITH_CUDA=OFF or no nvcc): it reports that it was
// built without CUDA and every constructor throws, so callers take the same "unavailable" path as
// on a CUDA build running on a machine with no device. A CUDA build compiles native/cuda/ instead.
#ifndef FRAUDSCORE_WITH_CUDA

#include "fraudscore/cuda.h"

namespace fraudscore {

namespace {
constexpr const char* kReason =
    "built without CUDA (rebuild with nvcc on the PATH and WITH_CUDA=ON)";
[[noreturn]] void unavailable(const char* what) {
  throw CudaError(std::string(what) + ": " + kReason, "ERR_FRAUDSCORE_CUDA_UNAVAILABLE", 0);
}
}  // namespace

bool cudaBuilt() {
  return false;
}

CudaInfo cudaInfo(int /*device*/) {
  CudaInfo info;
  info.reason = kReason;
  return info;
}

struct CudaEngine::Impl {};
CudaEngine::CudaEngine(const ModelSpec&, const Options&, const QuantSpec*) {
  unavailable("CudaEngine");
}
CudaEngine::~CudaEngine() = default;
BadValue CudaEngine::score(const float*, size_t, float*, float*, NonFinite) {
  unavailable("CudaEngine.score");
}
BadValue CudaEngine::scoreDevice(const float*, size_t, float*, float*, NonFinite, float*) {
  unavailable("CudaEngine.scoreDevice");
}
int CudaEngine::features() const {
  return 0;
}
int CudaEngine::device() const {
  return -1;
}
CudaPrecision CudaEngine::precision() const {
  return CudaPrecision::kFp32;
}
const char* CudaEngine::kernelName() const {
  return "none";
}
size_t CudaEngine::deviceBytes() const {
  return 0;
}
size_t CudaEngine::pinnedBytes() const {
  return 0;
}

struct CudaTrainer::Impl {};
CudaTrainer::CudaTrainer(const ModelSpec&, const CudaTrainOptions&) {
  unavailable("CudaTrainer");
}
CudaTrainer::~CudaTrainer() = default;
float CudaTrainer::step(const float*, int) {
  unavailable("CudaTrainer.step");
}
float CudaTrainer::stepDevice(const float*, int) {
  unavailable("CudaTrainer.stepDevice");
}
float CudaTrainer::gradients(const float*, int, ModelSpec*) {
  unavailable("CudaTrainer.gradients");
}
void CudaTrainer::weights(ModelSpec*) const {
  unavailable("CudaTrainer.weights");
}
int64_t CudaTrainer::steps() const {
  return 0;
}

CudaPeaks cudaMeasurePeaks(int) {
  unavailable("cudaMeasurePeaks");
}

CudaBuffer::CudaBuffer(size_t, Kind kind, int device) : kind_(kind), device_(device) {
  unavailable("CudaBuffer");
}
CudaBuffer::~CudaBuffer() = default;
void CudaBuffer::upload(const void*, size_t, size_t) {
  unavailable("CudaBuffer.upload");
}
void CudaBuffer::download(void*, size_t, size_t) const {
  unavailable("CudaBuffer.download");
}
void CudaBuffer::fill(uint8_t) {
  unavailable("CudaBuffer.fill");
}

}  // namespace fraudscore

#endif  // FRAUDSCORE_WITH_CUDA
