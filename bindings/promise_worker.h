// The one async worker of the addon: every [async] method (scoreAsync of each scorer, the
// trainer's trainEpoch and evalLoss) queues a PromiseWorker with the work to run on a libuv thread
// and how to turn its result into a JS value on the main thread.
//
// Errors never cross threads as exceptions: Execute() records what was thrown (NativeFailure: the
// message prefixed with the call's name, the stable `code`, the CUDA status), OnError() rejects
// with it. settle() may throw a Napi::Error (a non-finite value, a detached output), which rejects
// too. The worker keeps its JS owner and any value passed to keep() alive until it settles; the
// work's own native state (an engine, held copies of the arrays) lives in what the lambdas capture.
// Settling while the environment is torn down (worker.terminate()) is a no-op, never an abort.
#pragma once

#include <napi.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "held_array.h"

namespace fsbind {

template <typename T>
class PromiseWorker final : public Napi::AsyncWorker {
 public:
  using Run = std::function<T()>;
  using Settle = std::function<Napi::Value(Napi::Env, T&)>;
  // Runs on the main thread once the work is done, whatever its outcome, before settling.
  using Done = std::function<void()>;

  // `what` names the call in errors and async hooks, e.g. "CpuScorer.scoreAsync".
  PromiseWorker(const Napi::CallbackInfo& info, std::string what, Run run, Settle settle,
                Done done = nullptr)
      : Napi::AsyncWorker(info.Env(), ("fraudscore:" + what).c_str()),
        deferred_(Napi::Promise::Deferred::New(info.Env())),
        what_(std::move(what)),
        run_(std::move(run)),
        settle_(std::move(settle)),
        done_(std::move(done)) {
    keep(info.This());
  }

  // [main thread] Keeps `v` (an input the work reads in place) alive until the worker settles.
  void keep(Napi::Value v) {
    if (v.IsObject()) keep_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

  // [main thread] Queues the work; the worker deletes itself once it has settled.
  Napi::Promise queue() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  void Execute() override {
    try {
      result_ = run_();
    } catch (...) {
      failure_ = NativeFailure::current(what_);
      SetError(failure_.message);
    }
  }

  void OnOK() override {
    if (done_) done_();
    settleSafely([&] {
      try {
        deferred_.Resolve(settle_(Env(), result_));
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
      }
    });
  }

  void OnError(const Napi::Error&) override {
    if (done_) done_();
    settleSafely([&] { deferred_.Reject(failure_.toJs(Env()).Value()); });
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string what_;
  Run run_;
  Settle settle_;
  Done done_;
  T result_{};
  NativeFailure failure_;
  std::vector<Napi::ObjectReference> keep_;
};

// [main thread] Builds and queues a PromiseWorker; `setup` may keep() more values.
template <typename T>
Napi::Promise queuePromise(const Napi::CallbackInfo& info, std::string what,
                           typename PromiseWorker<T>::Run run,
                           typename PromiseWorker<T>::Settle settle,
                           typename PromiseWorker<T>::Done done = nullptr,
                           const std::function<void(PromiseWorker<T>&)>& setup = nullptr) {
  auto* w = new PromiseWorker<T>(info, std::move(what), std::move(run), std::move(settle),
                                 std::move(done));
  if (setup) setup(*w);
  return w->queue();
}

}  // namespace fsbind
