// CpuScorer: the JS handle of a CpuEngine. score() [sync] for small batches, scoreAsync() [async]
// on the libuv pool for everything else. Zero-copy: inputs are read and outputs written in place
// through the TypedArrays' memory, which the async worker keeps alive until it settles.
#include <memory>

#include "common.h"
#include "fraudscore/cpu.h"

namespace fsbind {

namespace {

using fraudscore::BadValue;
using fraudscore::CpuEngine;
using fraudscore::NonFinite;

struct ScoreArgs {
  const float* rows = nullptr;
  size_t n = 0;
  float* scores = nullptr;
  float* featureErrors = nullptr;
  NonFinite mode = NonFinite::kError;
  int threads = 0;
};

// [rows, scores, featureErrors|null, nonFinite (0 error, 1 nan), threads]
ScoreArgs parseScoreArgs(const Napi::CallbackInfo& info, int d) {
  Napi::Env env = info.Env();
  Napi::Float32Array rows = float32Arg(info, 0, "rows");
  const size_t len = rows.ElementLength();
  if (len == 0) throwRange(env, "Expected `rows` to hold at least one row, got 0 values");
  if (len % static_cast<size_t>(d) != 0)
    throwRange(env, "Expected `rows` to be a Float32Array of n*" + std::to_string(d) +
                        " values, got " + std::to_string(len) + " values");
  ScoreArgs a;
  a.rows = rows.Data();
  a.n = len / d;
  Napi::Float32Array scores = float32Arg(info, 1, "scores");
  if (scores.ElementLength() < a.n)
    throwRange(env, "Expected `scores` to hold at least " + std::to_string(a.n) + " values, got " +
                        std::to_string(scores.ElementLength()));
  a.scores = scores.Data();
  Napi::Float32Array fe = optionalFloat32Arg(info, 2, "featureErrors");
  if (!fe.IsEmpty()) {
    if (fe.ElementLength() < a.n * d)
      throwRange(env, "Expected `featureErrors` to hold at least " + std::to_string(a.n * d) +
                          " values, got " + std::to_string(fe.ElementLength()));
    a.featureErrors = fe.Data();
  }
  a.mode = intArg(info, 3, "nonFinite", 0, 1) == 1 ? NonFinite::kNaN : NonFinite::kError;
  a.threads = intArg(info, 4, "threads", 0, 1024);
  return a;
}

Napi::Value badToJs(Napi::Env env, const BadValue& bad) {
  if (bad.row < 0) return env.Null();
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, static_cast<double>(bad.row)));
  a.Set(1u, Napi::Number::New(env, bad.col));
  return a;
}

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
  friend class CpuScorerScoreWorker;
};

// Scores on a libuv worker thread. Holds the engine, the scorer object and every TypedArray it
// touches, so nothing is collected or freed while it runs.
class CpuScorerScoreWorker : public Napi::AsyncWorker {
 public:
  CpuScorerScoreWorker(Napi::Env env, std::shared_ptr<CpuEngine> eng, ScoreArgs args,
                       const Napi::CallbackInfo& info)
      : Napi::AsyncWorker(env, "fraudscore:CpuScorer.scoreAsync"),
        deferred_(Napi::Promise::Deferred::New(env)),
        engine_(std::move(eng)),
        args_(args) {
    owner_ = Napi::Persistent(info.This().As<Napi::Object>());
    for (size_t i = 0; i < 3 && i < info.Length(); ++i)
      if (info[i].IsObject()) keep_[i] = Napi::Persistent(info[i].As<Napi::Object>());
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      bad_ = engine_->score(args_.rows, args_.n, args_.scores, args_.featureErrors, args_.mode,
                            args_.threads);
    } catch (const std::exception& e) {
      SetError(std::string("CpuScorer.scoreAsync failed: ") + e.what());
    } catch (...) {
      SetError("CpuScorer.scoreAsync failed: unknown native error");
    }
  }

  void OnOK() override { deferred_.Resolve(badToJs(Env(), bad_)); }
  void OnError(const Napi::Error& e) override {
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    err.Set("code", Napi::String::New(Env(), "ERR_FRAUDSCORE_NATIVE"));
    deferred_.Reject(err.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<CpuEngine> engine_;
  ScoreArgs args_;
  BadValue bad_;
  Napi::ObjectReference owner_;
  Napi::ObjectReference keep_[3];
};

Napi::Value CpuScorer::ScoreAsync(const Napi::CallbackInfo& info) {
  auto eng = live(info.Env());
  ScoreArgs a = parseScoreArgs(info, eng->features());
  auto* w = new CpuScorerScoreWorker(info.Env(), eng, a, info);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void RegisterCpuScorer(Napi::Env env, Napi::Object exports) {
  exports.Set("CpuScorer", CpuScorer::Define(env));
}

}  // namespace fsbind
