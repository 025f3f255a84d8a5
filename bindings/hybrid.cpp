// The hybrid model's JS handles: HybridScorer (the fused AE + head engine, the AE in fp32 or, given
// a quantization, in int8) and HeadTrainer (the supervised head's trainer). HybridScorer takes the
// CpuScorer's arguments plus an optional 6th,
// `aeScores`, so the TS Scorer drives it like any scorer: score(rows, probs, featureErrors|null,
// nonFinite, threads, aeScores|null). scoreAsync holds its arrays as every scorer does
// (held_array.h) and runs on the one PromiseWorker (promise_worker.h), as HeadTrainer.trainEpoch
// does over inputs it copies (a head's training set is the labelled rows only: small). Errors take
// the addon's one format and codes (common.h: nonFiniteError, throwNative, NativeFailure).
#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>

#include "common.h"
#include "fraudscore/head.h"
#include "held_array.h"
#include "promise_worker.h"
#include "scorer_wrap.h"

namespace fsbind {

namespace {

using fraudscore::BadValue;
using fraudscore::DenseLayer;

// The optional aeScores output at info[5]: n floats or null/undefined.
float* aeScoresArg(const Napi::CallbackInfo& info, size_t n) {
  Napi::Float32Array a = optionalFloat32Arg(info, 5, "aeScores");
  if (a.IsEmpty()) return nullptr;
  if (a.ElementLength() < n)
    throwRange(info.Env(), "Expected `aeScores` to hold at least " + std::to_string(n) +
                               " values, got " + std::to_string(a.ElementLength()));
  return a.Data();
}

class HybridScorer : public Napi::ObjectWrap<HybridScorer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HybridScorer",
                       {InstanceMethod<&HybridScorer::Score>("score"),
                        InstanceMethod<&HybridScorer::ScoreAsync>("scoreAsync"),
                        InstanceMethod<&HybridScorer::HeadInputs>("headInputs"),
                        InstanceMethod<&HybridScorer::Dispose>("dispose"),
                        InstanceAccessor<&HybridScorer::Simd>("simd"),
                        InstanceAccessor<&HybridScorer::Features>("features"),
                        InstanceAccessor<&HybridScorer::Int8>("int8"),
                        InstanceAccessor<&HybridScorer::Dynamic>("dynamic"),
                        InstanceAccessor<&HybridScorer::Amx>("amx"),
                        InstanceAccessor<&HybridScorer::FallbackRows>("fallbackRows")});
  }

  // new HybridScorer(model, head: [{in, out, weight, bias}], simd?: string, quant?:
  // CpuInt8Scorer's) With `quant` the autoencoder runs in int8 (simd then names an int8 path), the
  // head in fp32.
  explicit HybridScorer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HybridScorer>(info) {
    Napi::Env env = info.Env();
    fraudscore::ModelSpec spec = modelSpecFrom(env, info[0]);
    std::vector<DenseLayer> head = layersFrom(env, info[1], "head");
    const bool int8 = info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsNull();
    try {
      if (int8) {
        QuantArgs quant = quantSpecFrom(env, info[3], spec, "quant");
        const fraudscore::SimdPath path =
            simdArg(info, 2, fraudscore::int8SimdSupported, fraudscore::defaultInt8Simd(),
                    "an int8 path", " (the int8 avx512 path needs AVX512-VNNI)");
        engine_ = std::make_shared<fraudscore::HybridEngine>(
            spec, quant.spec,
            quant.dynamic ? fraudscore::Int8Activations::kDynamic
                          : fraudscore::Int8Activations::kStatic,
            head, path);
      } else {
        const fraudscore::SimdPath path =
            simdArg(info, 2, fraudscore::simdSupported, fraudscore::defaultSimd());
        engine_ = std::make_shared<fraudscore::HybridEngine>(spec, head, path);
      }
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::invalid_argument& e) {
      throwRange(env, std::string("Expected `model` and `head` to be valid, but ") + e.what());
    } catch (...) {
      throwNative(env, "HybridScorer");
    }
    external_ = static_cast<int64_t>(engine_->packedBytes());
    Napi::MemoryManagement::AdjustExternalMemory(env, external_);
  }

 private:
  std::shared_ptr<fraudscore::HybridEngine> live(Napi::Env env) {
    if (!engine_) throwType(env, "Expected `scorer` to be usable, got a disposed scorer");
    return engine_;
  }

  Napi::Value Score(const Napi::CallbackInfo& info) {
    auto eng = live(info.Env());
    ScoreArgs a = parseScoreArgs(info, eng->features());
    float* ae = aeScoresArg(info, a.n);
    fraudscore::BadValue bad;
    try {
      bad = eng->score(a.rows, a.n, a.scores, ae, a.featureErrors, a.mode, a.threads);
    } catch (...) {
      throwNative(info.Env(), "HybridScorer.score");
    }
    return badToJs(info.Env(), bad);
  }

  // As every scorer's (scorer_wrap.h), plus the held aeScores output.
  Napi::Value ScoreAsync(const Napi::CallbackInfo& info) {
    auto eng = live(info.Env());
    const std::string what = "HybridScorer.scoreAsync";
    auto args = std::make_shared<ScoreArgs>(parseScoreArgs(info, eng->features()));
    auto held = std::make_shared<HeldScoreArrays>();
    held->hold(info, *args, eng->features());
    auto ae = std::make_shared<HeldFloats>();
    if (aeScoresArg(info, args->n) != nullptr)
      ae->hold(info[5].As<Napi::Float32Array>(), args->n, false);
    return queuePromise<fraudscore::BadValue>(
        info, what,
        [eng, args, ae] {
          return eng->score(args->rows, args->n, args->scores, ae->held() ? ae->data() : nullptr,
                            args->featureErrors, args->mode, args->threads);
        },
        [held, ae, what](Napi::Env env, fraudscore::BadValue& bad) -> Napi::Value {
          const char* lost = held->writeBack();
          if (!lost && ae->held() && !ae->writeBack()) lost = "aeScores";
          if (lost) throw detachedError(env, what, lost);
          return badToJs(env, bad);
        });
  }

  // [sync] headInputs(rows, threads) -> Float32Array of n * (2 * features + 1): what the head reads
  // (for training it). A non-finite value throws a RangeError naming its row and column.
  Napi::Value HeadInputs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto eng = live(env);
    Napi::Float32Array rows = float32Arg(info, 0, "rows");
    const size_t d = static_cast<size_t>(eng->features());
    if (rows.ElementLength() == 0 || rows.ElementLength() % d != 0)
      throwRange(env, "Expected `rows` to be a Float32Array of n*" + std::to_string(d) +
                          " values (n >= 1), got " + std::to_string(rows.ElementLength()) +
                          " values");
    const int threads = intArg(info, 1, "threads", 0, 1024);
    const size_t n = rows.ElementLength() / d;
    const size_t k = static_cast<size_t>(fraudscore::headInputs(static_cast<int>(d)));
    Napi::Float32Array out = Napi::Float32Array::New(env, n * k);
    BadValue bad;
    try {
      bad = eng->headInputsOf(rows.Data(), n, out.Data(), threads);
    } catch (...) {
      throwNative(env, "HybridScorer.headInputs");
    }
    if (bad.row >= 0) throw nonFiniteError(env, bad);
    return out;
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
  Napi::Value Int8(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), live(info.Env())->int8());
  }
  Napi::Value Dynamic(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), live(info.Env())->dynamic());
  }
  Napi::Value Amx(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), live(info.Env())->amx());
  }
  Napi::Value FallbackRows(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env())->fallbackRows()));
  }

  std::shared_ptr<fraudscore::HybridEngine> engine_;
  int64_t external_ = 0;
};

// ---- HeadTrainer -----------------------------------------------------------------------------

std::string shortNumber(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", d);
  return buf;
}

// An optional number option in [lo, hi] (or (lo, hi] with loOpen), named options.<key> in errors.
double numberField(Napi::Env env, const Napi::Object& o, const char* key, double def, double lo,
                   double hi, bool integer, bool loOpen = false) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  const std::string name = std::string("options.") + key;
  if (!v.IsNumber()) throwType(env, "Expected `" + name + "` to be a number, got " + describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || (loOpen ? !(d > lo) : d < lo) || d > hi ||
      (integer && std::floor(d) != d))
    throwRange(env, "Expected `" + name + "` to be a" + (integer ? "n integer" : " number") +
                        " in " + (loOpen ? "(" : "[") + shortNumber(lo) + ", " + shortNumber(hi) +
                        "], got " + shortNumber(d));
  return d;
}

fraudscore::HeadTrainOptions headOptionsFrom(Napi::Env env, const Napi::Value& v) {
  fraudscore::HeadTrainOptions o;
  if (v.IsUndefined()) return o;
  if (!v.IsObject() || v.IsArray())
    throwType(env, "Expected `options` to be an object, got " + describe(v));
  Napi::Object obj = v.As<Napi::Object>();
  // Ranges are checked again (with open bounds) by the core; these keep casts well defined.
  o.lr = static_cast<float>(numberField(env, obj, "lr", o.lr, 0, 1e3, false, true));
  o.weightDecay = static_cast<float>(numberField(env, obj, "weightDecay", 0, 0, 1e3, false));
  o.beta1 = static_cast<float>(numberField(env, obj, "beta1", o.beta1, 0, 1, false));
  o.beta2 = static_cast<float>(numberField(env, obj, "beta2", o.beta2, 0, 1, false));
  o.eps = static_cast<float>(numberField(env, obj, "eps", o.eps, 0, 1, false, true));
  o.posWeight = static_cast<float>(numberField(env, obj, "posWeight", 1, 0, 1e6, false, true));
  o.focalGamma = static_cast<float>(numberField(env, obj, "focalGamma", 0, 0, 10, false));
  o.seed = static_cast<uint64_t>(numberField(env, obj, "seed", 0, 0, 9007199254740991.0, true));
  o.threads = static_cast<int>(numberField(env, obj, "threads", 1, 1, 1024, true));
  o.batchSize = static_cast<int>(numberField(env, obj, "batchSize", 256, 1, 16777216, true));
  return o;
}

struct HeadState {
  std::unique_ptr<fraudscore::HeadTrainer> trainer;
  std::atomic<bool> cancel{false};
  std::atomic<bool> busy{false};
};

// x (n * inputs floats) and y (n labels, Uint8Array of 0/1) at info[0], info[1].
size_t headDataArgs(const Napi::CallbackInfo& info, int inputs, Napi::Float32Array* x,
                    Napi::Uint8Array* y) {
  Napi::Env env = info.Env();
  *x = float32Arg(info, 0, "inputs");
  const size_t len = x->ElementLength();
  if (len == 0 || len % static_cast<size_t>(inputs) != 0)
    throwRange(env, "Expected `inputs` to be a Float32Array of n*" + std::to_string(inputs) +
                        " values (n >= 1), got " + std::to_string(len) + " values");
  const size_t n = len / inputs;
  if (!info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throwType(env, "Expected `labels` to be a Uint8Array, got " + describe(info[1]));
  *y = info[1].As<Napi::Uint8Array>();
  if (y->ElementLength() != n)
    throwRange(env, "Expected `labels` to hold " + std::to_string(n) +
                        " values (one per row), got " + std::to_string(y->ElementLength()));
  return n;
}

Napi::Error headBadError(Napi::Env env, const BadValue& bad, int inputs) {
  Napi::Error err = Napi::RangeError::New(
      env, bad.col == inputs ? "Expected `labels` to hold 0 or 1, got another value at row " +
                                   std::to_string(bad.row)
                             : "Expected `inputs` to hold finite values, got a non-finite value "
                               "at row " +
                                   std::to_string(bad.row) + ", column " + std::to_string(bad.col));
  err.Set("code", Napi::String::New(env, "ERR_FRAUDSCORE_NON_FINITE"));
  err.Set("row", Napi::Number::New(env, static_cast<double>(bad.row)));
  err.Set("column", Napi::Number::New(env, bad.col));
  return err;
}

class HeadTrainer : public Napi::ObjectWrap<HeadTrainer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "HeadTrainer",
                       {InstanceMethod<&HeadTrainer::TrainEpoch>("trainEpoch"),
                        InstanceMethod<&HeadTrainer::EvalLoss>("evalLoss"),
                        InstanceMethod<&HeadTrainer::BatchGradients>("batchGradients"),
                        InstanceMethod<&HeadTrainer::GetWeights>("getWeights"),
                        InstanceMethod<&HeadTrainer::SetWeights>("setWeights"),
                        InstanceMethod<&HeadTrainer::Cancel>("cancel"),
                        InstanceMethod<&HeadTrainer::Dispose>("dispose"),
                        InstanceAccessor<&HeadTrainer::Steps>("steps")});
  }

  // new HeadTrainer(head: [{in, out, weight, bias}], inputs, options?)
  explicit HeadTrainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HeadTrainer>(info) {
    Napi::Env env = info.Env();
    std::vector<DenseLayer> head = layersFrom(env, info[0], "head");
    inputs_ = intArg(info, 1, "inputs", 3, 1 << 20);
    fraudscore::HeadTrainOptions opt = headOptionsFrom(env, info[2]);
    try {
      state_ = std::make_shared<HeadState>();
      state_->trainer = std::make_unique<fraudscore::HeadTrainer>(head, inputs_, opt);
    } catch (const std::exception& e) {
      throwRange(env, std::string("Expected `head` and `options` to be valid, but ") + e.what());
    }
  }

 private:
  std::shared_ptr<HeadState> live(Napi::Env env, const char* op) {
    if (!state_) throwType(env, "Expected `trainer` to be usable, got a disposed trainer");
    if (state_->busy.load())
      throwType(env, std::string("Expected `trainer` to be idle for ") + op +
                         "(), got a trainEpoch() still in flight (await it first)");
    return state_;
  }

  Napi::Value TrainEpoch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = live(env, "trainEpoch");
    Napi::Float32Array x;
    Napi::Uint8Array y;
    headDataArgs(info, inputs_, &x, &y);
    // Copies: the labelled rows are few, and the caller may reuse its arrays at once.
    auto xs = std::make_shared<std::vector<float>>(x.Data(), x.Data() + x.ElementLength());
    auto ys = std::make_shared<std::vector<uint8_t>>(y.Data(), y.Data() + y.ElementLength());
    const int inputs = inputs_;
    s->busy.store(true);
    s->cancel.store(false);
    return queuePromise<fraudscore::EpochResult>(
        info, "HeadTrainer.trainEpoch",
        [s, xs, ys] {
          return s->trainer->trainEpoch(xs->data(), ys->data(), ys->size(), &s->cancel);
        },
        [inputs](Napi::Env env, fraudscore::EpochResult& r) -> Napi::Value {
          if (r.bad.row >= 0) throw headBadError(env, r.bad, inputs);
          Napi::Object o = Napi::Object::New(env);
          o.Set("loss", Napi::Number::New(env, r.loss));
          o.Set("rows", Napi::Number::New(env, static_cast<double>(r.rows)));
          o.Set("batches", Napi::Number::New(env, static_cast<double>(r.batches)));
          o.Set("cancelled", Napi::Boolean::New(env, r.cancelled));
          return o;
        },
        [s] { s->busy.store(false); });
  }

  // [sync] evalLoss(inputs, labels) -> weighted mean loss. Bad values throw as trainEpoch rejects.
  Napi::Value EvalLoss(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = live(env, "evalLoss");
    Napi::Float32Array x;
    Napi::Uint8Array y;
    const size_t n = headDataArgs(info, inputs_, &x, &y);
    for (size_t r = 0; r < n; ++r) {
      for (int j = 0; j < inputs_; ++j)
        if (!std::isfinite(x.Data()[r * inputs_ + j]))
          throw headBadError(env, BadValue{static_cast<int64_t>(r), j}, inputs_);
      if (y.Data()[r] > 1)
        throw headBadError(env, BadValue{static_cast<int64_t>(r), inputs_}, inputs_);
    }
    return Napi::Number::New(env, s->trainer->evalLoss(x.Data(), y.Data(), n));
  }

  // [sync] batchGradients(inputs, labels) -> { loss, grads: layers } of one minibatch (tests).
  Napi::Value BatchGradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = live(env, "batchGradients");
    Napi::Float32Array x;
    Napi::Uint8Array y;
    const size_t n = headDataArgs(info, inputs_, &x, &y);
    std::vector<DenseLayer> g;
    double loss = 0;
    try {
      loss = s->trainer->batchGradients(x.Data(), y.Data(), n, &g);
    } catch (const std::invalid_argument& e) {
      throwRange(env, std::string("HeadTrainer.batchGradients: ") + e.what());
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", Napi::Number::New(env, loss));
    o.Set("grads", layersToJs(env, g));
    return o;
  }

  Napi::Value GetWeights(const Napi::CallbackInfo& info) {
    return layersToJs(info.Env(), live(info.Env(), "getWeights")->trainer->weights());
  }

  Napi::Value SetWeights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = live(env, "setWeights");
    std::vector<DenseLayer> layers = layersFrom(env, info[0], "layers");
    try {
      s->trainer->setWeights(layers);
    } catch (const std::exception& e) {
      throwRange(env, std::string("Expected `layers` to be valid, but ") + e.what());
    }
    return env.Undefined();
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (state_) state_->cancel.store(true);
    return info.Env().Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (state_) {
      state_->cancel.store(true);
      state_.reset();
    }
    return info.Env().Undefined();
  }

  Napi::Value Steps(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(),
                             static_cast<double>(live(info.Env(), "steps")->trainer->steps()));
  }

  std::shared_ptr<HeadState> state_;
  int inputs_ = 0;
};

}  // namespace

void RegisterHybrid(Napi::Env env, Napi::Object exports) {
  exports.Set("HybridScorer", HybridScorer::Define(env));
  exports.Set("HeadTrainer", HeadTrainer::Define(env));
}

}  // namespace fsbind
