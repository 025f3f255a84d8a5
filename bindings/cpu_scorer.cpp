// CpuScorer: the JS handle of a CpuEngine. score() [sync] for small batches, scoreAsync() [async]
// on the libuv pool for everything else. Zero-copy: inputs are read and outputs written in place
// through the TypedArrays' memory, which the async worker keeps alive until it settles.
#include <memory>

#include "common.h"
#include "fraudscore/cpu.h"
#include "score_worker.h"

namespace fsbind {

namespace {

using fraudscore::BadValue;
using fraudscore::CpuEngine;
using fraudscore::NonFinite;

class CpuScorer : public Napi::ObjectWrap<CpuScorer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "CpuScorer",
        {InstanceMethod<&CpuScorer::Score>("score"),
         InstanceMethod<&CpuScorer::ScoreAsync>("scoreAsync"),
         InstanceMethod<&CpuScorer::Dispose>("dispose"), InstanceAccessor<&CpuScorer::Simd>("simd"),
         InstanceAccessor<&CpuScorer::Features>("features")});
  }

  // new CpuScorer(model, simd?: string)
  explicit CpuScorer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CpuScorer>(info) {
    Napi::Env env = info.Env();
    fraudscore::ModelSpec spec = modelSpecFrom(env, info[0]);
    fraudscore::SimdPath path = fraudscore::defaultSimd();
    if (info.Length() > 1 && info[1].IsString()) {
      const std::string want = info[1].As<Napi::String>().Utf8Value();
      bool found = false;
      for (auto p : {fraudscore::SimdPath::kAvx512, fraudscore::SimdPath::kAvx2,
                     fraudscore::SimdPath::kSse2}) {
        if (want == fraudscore::simdPathName(p)) {
          if (!fraudscore::simdSupported(p))
            throwRange(env, "Expected `simd` to be a path this CPU supports, got '" + want + "'");
          path = p;
          found = true;
        }
      }
      if (!found && want != "auto")
        throwRange(env,
                   "Expected `simd` to be 'auto', 'avx512', 'avx2' or 'sse2', got '" + want + "'");
    }
    try {
      engine_ = std::make_shared<CpuEngine>(spec, path);
    } catch (const std::exception& e) {
      throwRange(env, std::string("Invalid `model`: ") + e.what());
    }
    external_ = static_cast<int64_t>(engine_->packedBytes());
    Napi::MemoryManagement::AdjustExternalMemory(env, external_);
  }

  ~CpuScorer() override = default;

 private:
  std::shared_ptr<CpuEngine> live(Napi::Env env) {
    if (!engine_) throwType(env, "Expected `scorer` to be usable, got a disposed scorer");
    return engine_;
  }

  Napi::Value Score(const Napi::CallbackInfo& info) {
    auto eng = live(info.Env());
    ScoreArgs a = parseScoreArgs(info, eng->features());
    BadValue bad = eng->score(a.rows, a.n, a.scores, a.featureErrors, a.mode, a.threads);
    return badToJs(info.Env(), bad);
  }

  Napi::Value ScoreAsync(const Napi::CallbackInfo& info);

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (engine_) {
      engine_.reset();  // in-flight workers hold their own reference
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

  std::shared_ptr<CpuEngine> engine_;
  int64_t external_ = 0;
};

Napi::Value CpuScorer::ScoreAsync(const Napi::CallbackInfo& info) {
  return queueScoreAsync(info, live(info.Env()), "CpuScorer.scoreAsync");
}

}  // namespace

void RegisterCpuScorer(Napi::Env env, Napi::Object exports) {
  exports.Set("CpuScorer", CpuScorer::Define(env));
}

}  // namespace fsbind
