// What an AsyncWorker needs to touch JS memory from a libuv thread safely, and to finish safely
// when its environment (a worker thread, the process) is being torn down.
//
// N-API cannot pin an ArrayBuffer: holding a reference keeps the JS object alive, not its memory. A
// transfer (postMessage, structuredClone with `transfer`) detaches the buffer and moves or frees
// its memory, and resize() of a resizable ArrayBuffer decommits the pages, all while the worker
// runs. So a worker reads and writes such memory directly only when it belongs to a
// SharedArrayBuffer (never detached, only grows); otherwise inputs are copied in on the main thread
// before the call returns, and outputs go to the worker's own storage and are copied back on the
// main thread when the call settles, after checking the target still holds them. The copy costs one
// memcpy per call (inputs: n*features floats, read once by a kernel that does ~50 flops per byte);
// pass SharedArrayBuffer- backed arrays to avoid it.
#pragma once

#include <napi.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common.h"

namespace fsbind {

// true when `a` views a SharedArrayBuffer (napi_is_arraybuffer is false for one).
inline bool viewsSharedMemory(const Napi::TypedArray& a) {
  napi_value buf = nullptr;
  if (napi_get_typedarray_info(a.Env(), a, nullptr, nullptr, nullptr, &buf, nullptr) != napi_ok)
    return false;
  bool isAb = true;
  if (napi_is_arraybuffer(a.Env(), buf, &isAb) != napi_ok) return false;
  return !isAb;
}

class HeldFloats {
 public:
  // [main thread] Holds the first `n` values of `a`; an input is copied now unless shared.
  void hold(Napi::Float32Array a, size_t n, bool input) {
    ref_ = Napi::Persistent(a);
    n_ = n;
    if (viewsSharedMemory(a)) {
      ptr_ = a.Data();
      return;
    }
    // Not value-initialised (std::vector would zero it first: one more pass over memory).
    own_.reset(new float[n > 0 ? n : 1]);
    if (input && n > 0) std::memcpy(own_.get(), a.Data(), n * sizeof(float));
    ptr_ = own_.get();
  }

  bool held() const { return n_ > 0 || !ref_.IsEmpty(); }
  // [any thread] Where the worker reads or writes.
  float* data() const { return ptr_; }

  // [main thread] Copies an output back into its array. false when the array no longer holds the
  // values (its buffer was detached or shrunk while the worker ran): nothing is written then.
  bool writeBack() {
    if (!own_) return true;  // shared memory: written in place
    Napi::Float32Array a = ref_.Value();
    if (a.ElementLength() < n_ || a.Data() == nullptr) return false;
    std::memcpy(a.Data(), own_.get(), n_ * sizeof(float));
    return true;
  }

 private:
  Napi::Reference<Napi::Float32Array> ref_;
  float* ptr_ = nullptr;
  size_t n_ = 0;
  std::unique_ptr<float[]> own_;
};

// Runs `settle` (which resolves or rejects a promise) and swallows the failure N-API reports when
// the environment can no longer run JS (worker.terminate(), process.exit() in a worker): nobody is
// left to receive the result, and an exception escaping OnOK/OnError would abort the process.
template <typename F>
void settleSafely(F&& settle) {
  try {
    settle();
  } catch (...) {
  }
}

// The rows, scores and featureErrors of one score call, held for a worker (see HeldFloats).
struct HeldScoreArrays {
  HeldFloats rows, scores, featureErrors;

  // [main thread] `info` is the score call's: [rows, scores, featureErrors|null, ...], already
  // checked by parseScoreArgs into `a`, whose pointers are redirected to the held memory.
  void hold(const Napi::CallbackInfo& info, ScoreArgs& a, int features) {
    const size_t nd = a.n * static_cast<size_t>(features);
    rows.hold(info[0].As<Napi::Float32Array>(), nd, true);
    scores.hold(info[1].As<Napi::Float32Array>(), a.n, false);
    a.rows = rows.data();
    a.scores = scores.data();
    if (a.featureErrors) {
      featureErrors.hold(info[2].As<Napi::Float32Array>(), nd, false);
      a.featureErrors = featureErrors.data();
    }
  }

  // [main thread] Copies the outputs back; nullptr on success, else the name of the output that
  // was lost ("scores", "featureErrors").
  const char* writeBack() {
    if (!scores.writeBack()) return "scores";
    if (featureErrors.held() && !featureErrors.writeBack()) return "featureErrors";
    return nullptr;
  }
};

}  // namespace fsbind
