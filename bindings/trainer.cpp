// Trainer: the JS handle of a native fraudscore::Trainer. Epochs and validation losses run on the
// libuv pool as PromiseWorkers (an epoch takes from milliseconds to minutes; the event loop keeps
// ticking). Zero-copy: the rows are read in place through the Float32Array, which the worker keeps
// alive until it settles. One call at a time per trainer: the weights are not safe to read while an
// epoch writes them, so a second call while one is in flight is an error rather than a data race.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>

#include "common.h"
#include "fraudscore/cuda.h"
#include "fraudscore/train.h"
#include "promise_worker.h"

namespace fsbind {

namespace {

using fraudscore::BadValue;
using fraudscore::DenseLayer;
using fraudscore::EpochResult;
using fraudscore::TrainOptions;

// State shared between the JS object and its in-flight worker (which may outlive dispose()).
struct TrainerState {
  explicit TrainerState(std::unique_ptr<fraudscore::Trainer> t) : trainer(std::move(t)) {}
  std::unique_ptr<fraudscore::Trainer> trainer;
  std::atomic<bool> cancel{false};
  std::atomic<bool> busy{false};
};

// Shortest readable form of a number for messages ("0.001", "1e+03", "-1").
std::string fmt(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", d);
  return buf;
}

double numberOption(Napi::Env env, const Napi::Object& o, const char* key, double def, double lo,
                    double hi, bool loOpen, bool hiOpen, bool integer) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return def;
  const std::string name = std::string("options.") + key;
  if (!v.IsNumber())
    throwType(env, "Expected `" + name + "` to be a" + (integer ? "n integer" : " number") +
                       ", got " + describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  const bool okLo = loOpen ? d > lo : d >= lo;
  const bool okHi = hiOpen ? d < hi : d <= hi;
  if (!std::isfinite(d) || !okLo || !okHi || (integer && std::floor(d) != d))
    throwRange(env, "Expected `" + name + "` to be a" + (integer ? "n integer" : " number") +
                        " in " + (loOpen ? "(" : "[") + fmt(lo) + ", " + fmt(hi) +
                        (hiOpen ? ")" : "]") + ", got " + fmt(d));
  return d;
}

TrainOptions optionsFrom(Napi::Env env, const Napi::Value& v) {
  TrainOptions o;
  if (v.IsUndefined()) return o;
  if (!v.IsObject() || v.IsArray())
    throwType(env, "Expected `options` to be an object, got " + describe(v));
  Napi::Object obj = v.As<Napi::Object>();
  o.lr = static_cast<float>(numberOption(env, obj, "lr", o.lr, 0, 1e3, true, false, false));
  o.weightDecay = static_cast<float>(
      numberOption(env, obj, "weightDecay", o.weightDecay, 0, 1e3, false, false, false));
  o.dropout =
      static_cast<float>(numberOption(env, obj, "dropout", o.dropout, 0, 1, false, true, false));
  o.beta1 = static_cast<float>(numberOption(env, obj, "beta1", o.beta1, 0, 1, false, true, false));
  o.beta2 = static_cast<float>(numberOption(env, obj, "beta2", o.beta2, 0, 1, false, true, false));
  o.eps = static_cast<float>(numberOption(env, obj, "eps", o.eps, 0, 1, true, false, false));
  // Seeds are integers up to 2^53 - 1 (exact in a JS number).
  o.seed = static_cast<uint64_t>(
      numberOption(env, obj, "seed", 0, 0, 9007199254740991.0, false, false, true));
  o.threads = static_cast<int>(numberOption(env, obj, "threads", 1, 1, 1024, false, false, true));
  o.batchSize =
      static_cast<int>(numberOption(env, obj, "batchSize", 256, 1, 16777216, false, false, true));
  o.cudaDevice =
      static_cast<int>(numberOption(env, obj, "cudaDevice", -1, -1, 1024, false, false, true));
  return o;
}

// Marks the trainer busy for one native call; released by the worker when it settles.
class BusyGuard {
 public:
  BusyGuard(Napi::Env env, TrainerState& s, const char* op) : s_(&s) {
    bool expected = false;
    if (!s.busy.compare_exchange_strong(expected, true))
      throwType(env, std::string("Expected `trainer` to be idle for ") + op +
                         "(), got a trainEpoch() or evalLoss() still in flight (await it first)");
  }
  ~BusyGuard() {
    if (s_) s_->busy.store(false);
  }
  void release() { s_ = nullptr; }  // ownership moves to a worker

 private:
  TrainerState* s_;
};

class Trainer : public Napi::ObjectWrap<Trainer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "Trainer",
        {InstanceMethod<&Trainer::TrainEpoch>("trainEpoch"),
         InstanceMethod<&Trainer::EvalLoss>("evalLoss"),
         InstanceMethod<&Trainer::GetWeights>("getWeights"),
         InstanceMethod<&Trainer::SetWeights>("setWeights"),
         InstanceMethod<&Trainer::Cancel>("cancel"), InstanceMethod<&Trainer::Dispose>("dispose"),
         InstanceAccessor<&Trainer::Steps>("steps"),
         InstanceAccessor<&Trainer::Features>("features")});
  }

  // new Trainer(model, options?)
  explicit Trainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Trainer>(info) {
    Napi::Env env = info.Env();
    fraudscore::ModelSpec spec = modelSpecFrom(env, info[0]);
    TrainOptions opt = optionsFrom(env, info[1]);
    try {
      state_ = std::make_shared<TrainerState>(std::make_unique<fraudscore::Trainer>(spec, opt));
    } catch (const fraudscore::CudaError& e) {
      throwCuda(env, e);
    } catch (const std::exception& e) {
      throw Napi::RangeError::New(
          env, std::string("Expected `model` and `options` to be valid, but ") + e.what());
    }
    features_ = spec.features;
    account(env);
  }

  // Keeps the JS heap accounting in step with what the trainer holds (scratch grows on first use).
  void account(Napi::Env env) {
    if (!state_) return;
    const int64_t now = static_cast<int64_t>(state_->trainer->bytes());
    if (now != external_) Napi::MemoryManagement::AdjustExternalMemory(env, now - external_);
    external_ = now;
  }

 private:
  std::shared_ptr<TrainerState> live(Napi::Env env) {
    if (!state_) throwType(env, "Expected `trainer` to be usable, got a disposed trainer");
    return state_;
  }

  Napi::Value TrainEpoch(const Napi::CallbackInfo& info);
  Napi::Value EvalLoss(const Napi::CallbackInfo& info);

  Napi::Value GetWeights(const Napi::CallbackInfo& info) {
    auto s = live(info.Env());
    BusyGuard g(info.Env(), *s, "getWeights");
    try {
      return layersToJs(info.Env(), s->trainer->weights());
    } catch (...) {  // the device trainer copies them back
      throwNative(info.Env(), "Trainer.getWeights");
    }
  }

  // setWeights(layers: [{in, out, weight, bias}]): same shapes as the model.
  Napi::Value SetWeights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto s = live(env);
    BusyGuard g(env, *s, "setWeights");
    // Reuse the model converter for the layer checks: a spec with the trainer's preprocessing.
    fraudscore::ModelSpec base;
    try {
      base = s->trainer->spec();
    } catch (const fraudscore::CudaError& e) {
      throwCuda(env, e);
    }
    Napi::Value lv = info[0];
    if (!lv.IsArray()) throwType(env, "Expected `layers` to be an Array, got " + describe(lv));
    Napi::Object m = Napi::Object::New(env);
    m.Set("features", Napi::Number::New(env, base.features));
    Napi::Uint8Array tr = Napi::Uint8Array::New(env, base.features);
    Napi::Float32Array mean = Napi::Float32Array::New(env, base.features);
    Napi::Float32Array scale = Napi::Float32Array::New(env, base.features);
    for (int j = 0; j < base.features; ++j) {
      tr[j] = static_cast<uint8_t>(base.transform[j]);
      mean[j] = base.mean[j];
      scale[j] = base.scale[j];
    }
    m.Set("transform", tr);
    m.Set("mean", mean);
    m.Set("scale", scale);
    m.Set("layers", lv);
    fraudscore::ModelSpec spec = modelSpecFrom(env, m);
    try {
      s->trainer->setWeights(spec.layers);
    } catch (const std::invalid_argument& e) {
      throwInvalid(env, "layers", e.what());
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("Trainer.setWeights: ") + e.what());
    }
    return env.Undefined();
  }

  // [sync] Asks the epoch in flight (if any) to stop after its current minibatch.
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (state_) state_->cancel.store(true);
    return info.Env().Undefined();
  }

  // [sync] Safe to call twice; an epoch in flight finishes on its own reference first.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (state_) {
      state_->cancel.store(true);
      state_.reset();
      Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -external_);
      external_ = 0;
    }
    return info.Env().Undefined();
  }

  Napi::Value Steps(const Napi::CallbackInfo& info) {
    auto s = live(info.Env());
    BusyGuard g(info.Env(), *s, "steps");
    return Napi::Number::New(info.Env(), static_cast<double>(s->trainer->steps()));
  }
  Napi::Value Features(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), features_);
  }

  std::shared_ptr<TrainerState> state_;
  int features_ = 0;
  int64_t external_ = 0;
};

// The rows are read in place (a training set can be most of memory, so no copy): unlike scoring,
// a detach during an epoch is not guarded yet. The worker keeps the trainer state, the JS trainer
// and the rows alive; `busy` is released on the main thread when it settles, whatever the outcome.

// trainEpoch(rows) -> Promise<{loss, rows, batches, cancelled}>
Napi::Value Trainer::TrainEpoch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = live(env);
  size_t n = 0;
  const float* rows = rowsArg(info, 0, features_, &n).Data();
  BusyGuard g(env, *s, "trainEpoch");
  s->cancel.store(false);  // a cancel() applies to the epoch in flight, not to later ones
  Napi::Promise p = queuePromise<EpochResult>(
      info, "Trainer.trainEpoch",
      [s, rows, n] { return s->trainer->trainEpoch(rows, n, &s->cancel); },
      [this](Napi::Env env, EpochResult& r) -> Napi::Value {
        account(env);
        if (r.bad.row >= 0) throw nonFiniteError(env, r.bad);
        Napi::Object o = Napi::Object::New(env);
        o.Set("loss", Napi::Number::New(env, r.loss));
        o.Set("rows", Napi::Number::New(env, static_cast<double>(r.rows)));
        o.Set("batches", Napi::Number::New(env, static_cast<double>(r.batches)));
        o.Set("cancelled", Napi::Boolean::New(env, r.cancelled));
        return o;
      },
      [s] { s->busy.store(false); }, [&](PromiseWorker<EpochResult>& w) { w.keep(info[0]); });
  g.release();
  return p;
}

// What evalLoss computes: the loss, or the first value that is not finite after preprocessing.
struct EvalResult {
  double loss = 0;
  BadValue bad;
};

// evalLoss(rows, threads?) -> Promise<number>
Napi::Value Trainer::EvalLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto s = live(env);
  size_t n = 0;
  const float* rows = rowsArg(info, 0, features_, &n).Data();
  const int threads =
      info.Length() > 1 && !info[1].IsUndefined() ? intArg(info, 1, "threads", 0, 1024) : 0;
  BusyGuard g(env, *s, "evalLoss");
  Napi::Promise p = queuePromise<EvalResult>(
      info, "Trainer.evalLoss",
      [s, rows, n, threads] {
        EvalResult r;
        r.loss = s->trainer->evalLoss(rows, n, &r.bad, threads);
        return r;
      },
      [](Napi::Env env, EvalResult& r) -> Napi::Value {
        if (r.bad.row >= 0) throw nonFiniteError(env, r.bad);
        return Napi::Number::New(env, r.loss);
      },
      [s] { s->busy.store(false); }, [&](PromiseWorker<EvalResult>& w) { w.keep(info[0]); });
  g.release();
  return p;
}

}  // namespace

void RegisterTrainer(Napi::Env env, Napi::Object exports) {
  exports.Set("Trainer", Trainer::Define(env));
}

}  // namespace fsbind
