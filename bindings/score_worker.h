// The async half of every CPU scorer binding: scoreAsync() validates like score(), then scores on a
// libuv worker thread. The worker holds the engine, the JS scorer object and the memory it reads
// and writes (held_array.h: copied unless shared, since N-API cannot pin a buffer against transfer
// or resize), so nothing is collected or freed while it runs (dispose() during the call is safe).
// Errors never cross threads as exceptions: Execute records the message, OnError rejects; settling
// while the environment is torn down (worker.terminate()) is a no-op, never an abort.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "common.h"
#include "held_array.h"

namespace fsbind {

template <typename Engine>
class ScoreAsyncWorker : public Napi::AsyncWorker {
 public:
  // `what` names the call in errors and async hooks, e.g. "CpuScorer.scoreAsync".
  ScoreAsyncWorker(Napi::Env env, std::string what, std::shared_ptr<Engine> eng, ScoreArgs args,
                   const Napi::CallbackInfo& info)
      : Napi::AsyncWorker(env, ("fraudscore:" + what).c_str()),
        deferred_(Napi::Promise::Deferred::New(env)),
        what_(std::move(what)),
        engine_(std::move(eng)),
        args_(args) {
    owner_ = Napi::Persistent(info.This().As<Napi::Object>());
    held_.hold(info, args_, engine_->features());
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      bad_ = engine_->score(args_.rows, args_.n, args_.scores, args_.featureErrors, args_.mode,
                            args_.threads);
    } catch (const std::exception& e) {
      SetError(what_ + " failed: " + e.what());
    } catch (...) {
      SetError(what_ + " failed: unknown native error");
    }
  }

  void OnOK() override {
    settleSafely([&] {
      const std::string lost = held_.writeBack();
      if (lost.empty()) return deferred_.Resolve(badToJs(Env(), bad_));
      Napi::Error err = Napi::TypeError::New(Env(), what_ + ": " + lost);
      err.Set("code", Napi::String::New(Env(), "ERR_FRAUDSCORE_DETACHED"));
      deferred_.Reject(err.Value());
    });
  }
  void OnError(const Napi::Error& e) override {
    settleSafely([&] {
      Napi::Error err = Napi::Error::New(Env(), e.Message());
      err.Set("code", Napi::String::New(Env(), "ERR_FRAUDSCORE_NATIVE"));
      deferred_.Reject(err.Value());
    });
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string what_;
  std::shared_ptr<Engine> engine_;
  ScoreArgs args_;
  fraudscore::BadValue bad_;
  Napi::ObjectReference owner_;
  HeldScoreArrays held_;
};

// [async] Parses the score arguments for `eng` and queues the worker; returns its promise.
template <typename Engine>
Napi::Value queueScoreAsync(const Napi::CallbackInfo& info, std::shared_ptr<Engine> eng,
                            std::string what) {
  ScoreArgs a = parseScoreArgs(info, eng->features());
  auto* w = new ScoreAsyncWorker<Engine>(info.Env(), std::move(what), std::move(eng), a, info);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace fsbind
