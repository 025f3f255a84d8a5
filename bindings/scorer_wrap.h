// The one scorer base of the addon (CpuScorer, CpuInt8Scorer, CudaScorer): the AddonScorer
// contract of src/native.ts. It owns a shared engine, reports its native memory to the JS heap
// accounting, and offers score() [sync], scoreAsync() [async, a PromiseWorker], dispose() (safe
// twice; in-flight workers keep their own reference) and `features`. Derived classes only parse
// their constructor arguments, build the engine and add their own accessors.
//
// An Engine has: int features(); BadValue score(rows, n, scores, featureErrors, mode[, threads]);
// and the bytes it holds outside the JS heap (externalBytes below; CUDA's pinned staging grows with
// the largest call, so it is re-read after every call).
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "fraudscore/cpu.h"
#include "fraudscore/cuda.h"
#include "fraudscore/int8.h"
#include "held_array.h"
#include "promise_worker.h"

namespace fsbind {

// The `simd` argument at info[i]: absent/undefined or 'auto' -> fallback; a path name the CPU runs
// (per `supported`) -> that path; anything else a TypeError/RangeError naming it.
fraudscore::SimdPath simdArg(const Napi::CallbackInfo& info, size_t i,
                             bool (*supported)(fraudscore::SimdPath), fraudscore::SimdPath fallback,
                             const char* kind = "a path", const char* unsupportedHint = "");

// What each engine kind differs in, as overloads: how it scores and what it holds natively.
inline fraudscore::BadValue runScore(fraudscore::CpuEngine& e, const ScoreArgs& a) {
  return e.score(a.rows, a.n, a.scores, a.featureErrors, a.mode, a.threads);
}
inline fraudscore::BadValue runScore(fraudscore::CpuInt8Engine& e, const ScoreArgs& a) {
  return e.score(a.rows, a.n, a.scores, a.featureErrors, a.mode, a.threads);
}
// The device scores with its own streams: `threads` does not apply.
inline fraudscore::BadValue runScore(fraudscore::CudaEngine& e, const ScoreArgs& a) {
  return e.score(a.rows, a.n, a.scores, a.featureErrors, a.mode);
}
inline size_t externalBytes(const fraudscore::CpuEngine& e) {
  return e.packedBytes();
}
inline size_t externalBytes(const fraudscore::CpuInt8Engine& e) {
  return e.packedBytes();
}
inline size_t externalBytes(const fraudscore::CudaEngine& e) {
  return e.pinnedBytes();
}

template <typename Derived, typename Engine>
class EngineScorerWrap : public Napi::ObjectWrap<Derived> {
 public:
  explicit EngineScorerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info) {}

 protected:
  using Base = EngineScorerWrap<Derived, Engine>;
  using Members = std::vector<typename Napi::ObjectWrap<Derived>::PropertyDescriptor>;
  using Method = Napi::Value (Derived::*)(const Napi::CallbackInfo&);

  // The methods and accessors every scorer class has; a derived class may append its own.
  static Members commonMembers() {
    // Runtime (not template-argument) descriptors: a pointer to a member of this base converts
    // implicitly to a pointer to a member of Derived only as a function argument.
    using W = Napi::ObjectWrap<Derived>;
    return {W::InstanceMethod("score", static_cast<Method>(&Base::Score)),
            W::InstanceMethod("scoreAsync", static_cast<Method>(&Base::ScoreAsync)),
            W::InstanceMethod("dispose", static_cast<Method>(&Base::Dispose)),
            W::InstanceAccessor("features", static_cast<Method>(&Base::Features), nullptr)};
  }

  // `simd`, for the CPU engines (their path()).
  static typename Napi::ObjectWrap<Derived>::PropertyDescriptor simdMember() {
    return Napi::ObjectWrap<Derived>::InstanceAccessor("simd", static_cast<Method>(&Base::Simd),
                                                       nullptr);
  }

  void adopt(Napi::Env env, std::shared_ptr<Engine> engine) {
    engine_ = std::move(engine);
    syncExternal(env);
  }

  std::shared_ptr<Engine> live(Napi::Env env) {
    if (!engine_) throwType(env, "Expected `scorer` to be usable, got a disposed scorer");
    return engine_;
  }

  Napi::Value Score(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto eng = live(env);
    ScoreArgs a = parseScoreArgs(info, eng->features());
    fraudscore::BadValue bad;
    try {
      bad = runScore(*eng, a);
    } catch (...) {
      throwNative(env, std::string(Derived::kName) + ".score");
    }
    syncExternal(env);
    return badToJs(env, bad);
  }

  // The worker holds the engine, this object and the memory it reads and writes (held_array.h:
  // copied unless shared, since N-API cannot pin a buffer against transfer or resize), so nothing
  // is collected or freed while it runs (dispose() during the call is safe).
  Napi::Value ScoreAsync(const Napi::CallbackInfo& info) {
    auto eng = live(info.Env());
    const std::string what = std::string(Derived::kName) + ".scoreAsync";
    auto args = std::make_shared<ScoreArgs>(parseScoreArgs(info, eng->features()));
    auto held = std::make_shared<HeldScoreArrays>();
    held->hold(info, *args, eng->features());
    // `this` outlives the worker: the worker holds its JS object (info.This()) until it settles.
    return queuePromise<fraudscore::BadValue>(
        info, what, [eng, args] { return runScore(*eng, *args); },
        [this, held, what](Napi::Env env, fraudscore::BadValue& bad) -> Napi::Value {
          syncExternal(env);
          if (const char* lost = held->writeBack()) throw detachedError(env, what, lost);
          return badToJs(env, bad);
        });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (engine_) {
      engine_.reset();  // in-flight workers hold their own reference; buffers go with the last one
      syncExternal(info.Env());
    }
    return info.Env().Undefined();
  }

  Napi::Value Simd(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), fraudscore::simdPathName(live(info.Env())->path()));
  }
  Napi::Value Features(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live(info.Env())->features());
  }

  // Keeps AdjustExternalMemory in step with what the engine holds (0 once disposed).
  void syncExternal(Napi::Env env) {
    const int64_t now = engine_ ? static_cast<int64_t>(externalBytes(*engine_)) : 0;
    if (now != external_) {
      Napi::MemoryManagement::AdjustExternalMemory(env, now - external_);
      external_ = now;
    }
  }

 private:
  // Set by adopt() once the derived constructor built the engine; null after dispose().
  std::shared_ptr<Engine> engine_;
  int64_t external_ = 0;
};

}  // namespace fsbind
