// What every CPU scorer's JS class shares (CpuScorer, CpuInt8Scorer): it owns a shared engine,
// reports its packed weights to the JS heap accounting, and offers score() [sync], scoreAsync()
// [async], dispose() (safe twice; in-flight workers keep their own reference), `simd` and
// `features`. Derived classes only parse their constructor arguments and build the engine.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "fraudscore/cpu.h"
#include "score_worker.h"

namespace fsbind {

// The `simd` argument at info[i]: absent/undefined or 'auto' -> fallback; a path name the CPU runs
// (per `supported`) -> that path; anything else a TypeError/RangeError naming it.
fraudscore::SimdPath simdArg(const Napi::CallbackInfo& info, size_t i,
                             bool (*supported)(fraudscore::SimdPath), fraudscore::SimdPath fallback,
                             const char* kind = "a path", const char* unsupportedHint = "");

template <typename Derived, typename Engine>
class EngineScorerWrap : public Napi::ObjectWrap<Derived> {
 public:
  explicit EngineScorerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info) {}

 protected:
  using Base = EngineScorerWrap<Derived, Engine>;

  // The methods and accessors every scorer class has; a derived class may append its own.
  static std::vector<typename Napi::ObjectWrap<Derived>::PropertyDescriptor> commonMembers() {
    // Runtime (not template-argument) descriptors: a pointer to a member of this base converts
    // implicitly to a pointer to a member of Derived only as a function argument.
    using W = Napi::ObjectWrap<Derived>;
    using Method = Napi::Value (Derived::*)(const Napi::CallbackInfo&);
    return {W::InstanceMethod("score", static_cast<Method>(&Base::Score)),
            W::InstanceMethod("scoreAsync", static_cast<Method>(&Base::ScoreAsync)),
            W::InstanceMethod("dispose", static_cast<Method>(&Base::Dispose)),
            W::InstanceAccessor("simd", static_cast<Method>(&Base::Simd), nullptr),
            W::InstanceAccessor("features", static_cast<Method>(&Base::Features), nullptr)};
  }

  void adopt(Napi::Env env, std::shared_ptr<Engine> engine) {
    engine_ = std::move(engine);
    external_ = static_cast<int64_t>(engine_->packedBytes());
    Napi::MemoryManagement::AdjustExternalMemory(env, external_);
  }

  std::shared_ptr<Engine> live(Napi::Env env) {
    if (!engine_) throwType(env, "Expected `scorer` to be usable, got a disposed scorer");
    return engine_;
  }

 protected:
  Napi::Value Score(const Napi::CallbackInfo& info) {
    auto eng = live(info.Env());
    ScoreArgs a = parseScoreArgs(info, eng->features());
    return badToJs(info.Env(),
                   eng->score(a.rows, a.n, a.scores, a.featureErrors, a.mode, a.threads));
  }

  Napi::Value ScoreAsync(const Napi::CallbackInfo& info) {
    return queueScoreAsync(info, live(info.Env()), std::string(Derived::kName) + ".scoreAsync");
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (engine_) {
      engine_.reset();
      Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -external_);
      external_ = 0;
    }
    return info.Env().Undefined();
  }

  Napi::Value Simd(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), fraudscore::simdPathName(live(info.Env())->path()));
  }
  Napi::Value Features(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live(info.Env())->features());
  }

  // Set by adopt() once the derived constructor built the engine; null after dispose().
 private:
  std::shared_ptr<Engine> engine_;
  int64_t external_ = 0;
};

}  // namespace fsbind
