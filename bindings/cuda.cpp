// CUDA glue: cudaInfo() and the CudaScorer class, with exactly CpuScorer's JS interface (score,
// scoreAsync, dispose) so the TS Scorer can pick either; and CudaTrainer for train({ backend:
// 'cuda' }). CUDA errors become JS errors with a stable `code` (ERR_FRAUDSCORE_CUDA_UNAVAILABLE
// when no device answers, ERR_FRAUDSCORE_CUDA for a runtime/device failure) and the CUDA status in
// `cudaStatus`; nothing here aborts the process. Works unchanged in a build without CUDA (the
// core's cuda_absent.cpp throws the unavailable error and cudaInfo reports why).
#include "fraudscore/cuda.h"

#include <memory>
#include <mutex>

#include "common.h"
#include "held_array.h"

namespace fsbind {

namespace {

using fraudscore::BadValue;
using fraudscore::CudaEngine;
using fraudscore::CudaError;
using fraudscore::CudaPrecision;
using fraudscore::CudaTrainer;
using fraudscore::NonFinite;

Napi::Value CudaInfoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int device = 0;
  if (info.Length() > 0 && !info[0].IsUndefined()) device = intArg(info, 0, "device", 0, 1024);
  const fraudscore::CudaInfo c = fraudscore::cudaInfo(device);
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", c.available);
  o.Set("built", c.built);
  if (!c.available) o.Set("reason", c.reason);
  o.Set("deviceCount", c.deviceCount);
  if (c.device >= 0) {
    o.Set("device", c.device);
    o.Set("name", c.name);
    o.Set("computeCapability", std::to_string(c.ccMajor) + "." + std::to_string(c.ccMinor));
    o.Set("multiprocessors", c.multiprocessors);
    o.Set("totalMemory", static_cast<double>(c.totalMemory));
    o.Set("freeMemory", static_cast<double>(c.freeMemory));
  }
  auto version = [](int v) {
    return v ? std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10) : "";
  };
  o.Set("driverVersion", version(c.driverVersion));
  o.Set("runtimeVersion", version(c.runtimeVersion));
  return o;
}

// { weights: Int8Array[], weightScales: Float32Array[], inputScales: Float32Array, dynamic? }
fraudscore::QuantSpec quantSpecFrom(Napi::Env env, const Napi::Value& v,
                                    const fraudscore::ModelSpec& m) {
  if (!v.IsObject() || v.IsArray())
    throwType(env, "Expected `options.quant` to be an object, got " + describe(v));
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value dyn = o.Get("dynamic");
  if (dyn.IsBoolean() && dyn.As<Napi::Boolean>().Value())
    throwRange(env,
               "Expected `options.quant.dynamic` to be false: the CUDA int8 engine uses static "
               "(calibrated) "
               "input scales");
  Napi::Value fb = o.Get("fallback");
  if (fb.IsBoolean() && fb.As<Napi::Boolean>().Value())
    throwRange(env,
               "Expected `options.quant.fallback` to be false: the CUDA int8 engine clamps "
               "out-of-range activations and has no fp32 fallback");
  fraudscore::QuantSpec q;
  const size_t nl = m.layers.size();
  Napi::Value w = o.Get("weights"), ws = o.Get("weightScales"), xs = o.Get("inputScales");
  if (!w.IsArray())
    throwType(env, "Expected `options.quant.weights` to be an Array, got " + describe(w));
  if (!ws.IsArray())
    throwType(env, "Expected `options.quant.weightScales` to be an Array, got " + describe(ws));
  if (!xs.IsTypedArray() || xs.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throwType(env,
              "Expected `options.quant.inputScales` to be a Float32Array, got " + describe(xs));
  Napi::Array wa = w.As<Napi::Array>(), wsa = ws.As<Napi::Array>();
  if (wa.Length() != nl || wsa.Length() != nl)
    throwRange(env, "Expected `options.quant.weights` and `options.quant.weightScales` to hold " +
                        std::to_string(nl) + " layers, got " + std::to_string(wa.Length()) +
                        " and " + std::to_string(wsa.Length()));
  for (uint32_t l = 0; l < nl; ++l) {
    const std::string at = "[" + std::to_string(l) + "]";
    Napi::Value wl = wa.Get(l), sl = wsa.Get(l);
    if (!wl.IsTypedArray() || wl.As<Napi::TypedArray>().TypedArrayType() != napi_int8_array)
      throwType(env, "Expected `options.quant.weights" + at + "` to be an Int8Array, got " +
                         describe(wl));
    if (!sl.IsTypedArray() || sl.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throwType(env, "Expected `options.quant.weightScales" + at + "` to be a Float32Array, got " +
                         describe(sl));
    Napi::Int8Array wi = wl.As<Napi::Int8Array>();
    Napi::Float32Array sf = sl.As<Napi::Float32Array>();
    q.wq.emplace_back(wi.Data(), wi.Data() + wi.ElementLength());
    q.wscale.emplace_back(sf.Data(), sf.Data() + sf.ElementLength());
  }
  Napi::Float32Array xf = xs.As<Napi::Float32Array>();
  q.xscale.assign(xf.Data(), xf.Data() + xf.ElementLength());
  const std::string err = q.validate(m);
  if (!err.empty()) throwRange(env, "Invalid `options.quant`: " + err);
  return q;
}

class CudaScorer : public Napi::ObjectWrap<CudaScorer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CudaScorer",
                       {InstanceMethod<&CudaScorer::Score>("score"),
                        InstanceMethod<&CudaScorer::ScoreAsync>("scoreAsync"),
                        InstanceMethod<&CudaScorer::Dispose>("dispose"),
                        InstanceAccessor<&CudaScorer::Features>("features"),
                        InstanceAccessor<&CudaScorer::Precision>("precision"),
                        InstanceAccessor<&CudaScorer::Kernel>("kernel"),
                        InstanceAccessor<&CudaScorer::Device>("device"),
                        InstanceAccessor<&CudaScorer::DeviceBytes>("deviceBytes")});
  }

  // new CudaScorer(model, { precision?: 'fp32' | 'int8', quant?, device? })
  explicit CudaScorer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaScorer>(info) {
    Napi::Env env = info.Env();
    fraudscore::ModelSpec spec = modelSpecFrom(env, info[0]);
    CudaEngine::Options opt;
    fraudscore::QuantSpec quant;
    bool haveQuant = false;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (!info[1].IsObject() || info[1].IsArray())
        throwType(env, "Expected `options` to be an object, got " + describe(info[1]));
      Napi::Object o = info[1].As<Napi::Object>();
      Napi::Value p = o.Get("precision");
      if (!p.IsUndefined()) {
        const std::string s = p.IsString() ? p.As<Napi::String>().Utf8Value() : describe(p);
        if (s == "int8")
          opt.precision = CudaPrecision::kInt8;
        else if (s != "fp32")
          throwRange(env, "Expected `options.precision` to be 'fp32' or 'int8', got '" + s + "'");
      }
      Napi::Value dv = o.Get("device");
      if (!dv.IsUndefined()) {
        if (!dv.IsNumber() || dv.As<Napi::Number>().DoubleValue() < 0 ||
            dv.As<Napi::Number>().DoubleValue() !=
                static_cast<double>(dv.As<Napi::Number>().Int32Value()))
          throwRange(env,
                     "Expected `options.device` to be a non-negative integer, got " + describe(dv));
        opt.device = dv.As<Napi::Number>().Int32Value();
      }
      Napi::Value qv = o.Get("quant");
      if (opt.precision == CudaPrecision::kInt8) {
        if (qv.IsUndefined() || qv.IsNull())
          throwType(
              env,
              "Expected `options.quant` for precision 'int8' (run quantize(model) first), got " +
                  describe(qv));
        quant = quantSpecFrom(env, qv, spec);
        haveQuant = true;
      }
    }
    try {
      engine_ = std::make_shared<CudaEngine>(spec, opt, haveQuant ? &quant : nullptr);
    } catch (const CudaError& e) {
      throwCuda(env, e);
    } catch (const std::invalid_argument& e) {
      throwRange(env, std::string("Invalid `model`: ") + e.what());
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("CudaScorer failed: ") + e.what());
    }
    syncExternal(env);
  }

 private:
  std::shared_ptr<CudaEngine> live(Napi::Env env) {
    if (!engine_) throwType(env, "Expected `scorer` to be usable, got a disposed scorer");
    return engine_;
  }

  // Pinned staging grows with the largest call: report it to V8 as external memory.
  void syncExternal(Napi::Env env) {
    const int64_t now = engine_ ? static_cast<int64_t>(engine_->pinnedBytes()) : 0;
    if (now != external_) {
      Napi::MemoryManagement::AdjustExternalMemory(env, now - external_);
      external_ = now;
    }
  }

  Napi::Value Score(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto eng = live(env);
    ScoreArgs a = parseScoreArgs(info, eng->features());
    BadValue bad;
    try {
      bad = eng->score(a.rows, a.n, a.scores, a.featureErrors, a.mode);
    } catch (const CudaError& e) {
      throwCuda(env, e);
    }
    syncExternal(env);
    return badToJs(env, bad);
  }

  Napi::Value ScoreAsync(const Napi::CallbackInfo& info);

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (engine_) {
      engine_.reset();  // in-flight workers hold their own reference; buffers go with the last one
      syncExternal(info.Env());
    }
    return info.Env().Undefined();
  }

  Napi::Value Features(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live(info.Env())->features());
  }
  Napi::Value Precision(const Napi::CallbackInfo& info) {
    return Napi::String::New(
        info.Env(), live(info.Env())->precision() == CudaPrecision::kInt8 ? "int8" : "fp32");
  }
  Napi::Value Kernel(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), live(info.Env())->kernelName());
  }
  Napi::Value Device(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live(info.Env())->device());
  }
  Napi::Value DeviceBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env())->deviceBytes()));
  }

  std::shared_ptr<CudaEngine> engine_;
  int64_t external_ = 0;
  friend class CudaScorerScoreWorker;
};

// Scores on a libuv worker thread; holds the engine, the scorer and every TypedArray it touches.
class CudaScorerScoreWorker : public Napi::AsyncWorker {
 public:
  CudaScorerScoreWorker(Napi::Env env, std::shared_ptr<CudaEngine> eng, ScoreArgs args,
                        const Napi::CallbackInfo& info)
      : Napi::AsyncWorker(env, "fraudscore:CudaScorer.scoreAsync"),
        deferred_(Napi::Promise::Deferred::New(env)),
        engine_(std::move(eng)),
        args_(args) {
    owner_ = Napi::Persistent(info.This().As<Napi::Object>());
    held_.hold(info, args_, engine_->features());
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      bad_ = engine_->score(args_.rows, args_.n, args_.scores, args_.featureErrors, args_.mode);
    } catch (const CudaError& e) {
      code_ = e.code();
      status_ = e.status();
      SetError(std::string("CudaScorer.scoreAsync failed: ") + e.what());
    } catch (const std::exception& e) {
      SetError(std::string("CudaScorer.scoreAsync failed: ") + e.what());
    } catch (...) {
      SetError("CudaScorer.scoreAsync failed: unknown native error");
    }
  }

  void OnOK() override {
    settleSafely([&] {
      CudaScorer* s = Napi::ObjectWrap<CudaScorer>::Unwrap(owner_.Value());
      s->syncExternal(Env());
      const std::string lost = held_.writeBack();
      if (lost.empty()) return deferred_.Resolve(badToJs(Env(), bad_));
      Napi::Error err = Napi::TypeError::New(Env(), "CudaScorer.scoreAsync: " + lost);
      err.Set("code", Napi::String::New(Env(), "ERR_FRAUDSCORE_DETACHED"));
      deferred_.Reject(err.Value());
    });
  }
  void OnError(const Napi::Error& e) override {
    settleSafely([&] {
      Napi::Error err = Napi::Error::New(Env(), e.Message());
      err.Set("code", Napi::String::New(Env(), code_));
      if (status_) err.Set("cudaStatus", Napi::Number::New(Env(), status_));
      deferred_.Reject(err.Value());
    });
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<CudaEngine> engine_;
  ScoreArgs args_;
  BadValue bad_;
  std::string code_ = "ERR_FRAUDSCORE_NATIVE";
  int status_ = 0;
  Napi::ObjectReference owner_;
  HeldScoreArrays held_;
};

Napi::Value CudaScorer::ScoreAsync(const Napi::CallbackInfo& info) {
  auto eng = live(info.Env());
  ScoreArgs a = parseScoreArgs(info, eng->features());
  auto* w = new CudaScorerScoreWorker(info.Env(), eng, a, info);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// ---- CudaTrainer
// ----------------------------------------------------------------------------------

float numberField(Napi::Env env, const Napi::Object& o, const char* key, float fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber())
    throwType(env,
              std::string("Expected `options.") + key + "` to be a number, got " + describe(v));
  return static_cast<float>(v.As<Napi::Number>().DoubleValue());
}

Napi::Object layersToJs(Napi::Env env, const fraudscore::ModelSpec& m) {
  Napi::Array layers = Napi::Array::New(env, m.layers.size());
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const fraudscore::DenseLayer& L = m.layers[l];
    Napi::Object o = Napi::Object::New(env);
    o.Set("in", L.in);
    o.Set("out", L.out);
    Napi::Float32Array w = Napi::Float32Array::New(env, L.weight.size());
    std::copy(L.weight.begin(), L.weight.end(), w.Data());
    Napi::Float32Array b = Napi::Float32Array::New(env, L.bias.size());
    std::copy(L.bias.begin(), L.bias.end(), b.Data());
    o.Set("weight", w);
    o.Set("bias", b);
    layers.Set(static_cast<uint32_t>(l), o);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("layers", layers);
  return r;
}

class CudaTrainerJs : public Napi::ObjectWrap<CudaTrainerJs> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CudaTrainer",
                       {InstanceMethod<&CudaTrainerJs::Step>("step"),
                        InstanceMethod<&CudaTrainerJs::StepAsync>("stepAsync"),
                        InstanceMethod<&CudaTrainerJs::Weights>("weights"),
                        InstanceMethod<&CudaTrainerJs::Dispose>("dispose"),
                        InstanceAccessor<&CudaTrainerJs::Steps>("steps")});
  }

  // new CudaTrainer(model, { lr, beta1, beta2, eps, weightDecay, dropout: number (after the first
  // hidden layer) | number[] (per hidden layer), seed, device })
  explicit CudaTrainerJs(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaTrainerJs>(info) {
    Napi::Env env = info.Env();
    fraudscore::ModelSpec spec = modelSpecFrom(env, info[0]);
    fraudscore::CudaTrainOptions opt;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      if (!info[1].IsObject() || info[1].IsArray())
        throwType(env, "Expected `options` to be an object, got " + describe(info[1]));
      Napi::Object o = info[1].As<Napi::Object>();
      opt.lr = numberField(env, o, "lr", opt.lr);
      opt.beta1 = numberField(env, o, "beta1", opt.beta1);
      opt.beta2 = numberField(env, o, "beta2", opt.beta2);
      opt.eps = numberField(env, o, "eps", opt.eps);
      opt.weightDecay = numberField(env, o, "weightDecay", opt.weightDecay);
      Napi::Value dr = o.Get("dropout");
      if (dr.IsNumber()) {
        opt.dropout = {static_cast<float>(dr.As<Napi::Number>().DoubleValue())};
      } else if (dr.IsArray()) {
        Napi::Array a = dr.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); ++i) {
          Napi::Value e = a.Get(i);
          if (!e.IsNumber())
            throwType(env, "Expected `options.dropout[" + std::to_string(i) +
                               "]` to be a number, got " + describe(e));
          opt.dropout.push_back(static_cast<float>(e.As<Napi::Number>().DoubleValue()));
        }
      } else if (!dr.IsUndefined()) {
        throwType(env,
                  "Expected `options.dropout` to be a number or an Array, got " + describe(dr));
      }
      Napi::Value sd = o.Get("seed");
      if (!sd.IsUndefined()) {
        if (!sd.IsNumber())
          throwType(env, "Expected `options.seed` to be an integer, got " + describe(sd));
        opt.seed = static_cast<uint64_t>(sd.As<Napi::Number>().Int64Value());
      }
      Napi::Value dv = o.Get("device");
      if (!dv.IsUndefined()) opt.device = static_cast<int>(numberField(env, o, "device", 0));
    }
    try {
      trainer_ = std::make_shared<CudaTrainer>(spec, opt);
    } catch (const CudaError& e) {
      throwCuda(env, e);
    } catch (const std::invalid_argument& e) {
      throwRange(env, std::string("Invalid `options`: ") + e.what());
    }
    features_ = spec.features;
  }

 private:
  std::shared_ptr<CudaTrainer> live(Napi::Env env) {
    if (!trainer_) throwType(env, "Expected `trainer` to be usable, got a disposed trainer");
    return trainer_;
  }
  Napi::Float32Array batchArg(const Napi::CallbackInfo& info) {
    Napi::Float32Array z = float32Arg(info, 0, "z");
    const size_t len = z.ElementLength();
    if (len == 0 || len % static_cast<size_t>(features_) != 0 || len / features_ > (1u << 30))
      throwRange(info.Env(), "Expected `z` to be a Float32Array of n*" + std::to_string(features_) +
                                 " standardized values (n >= 1), got " + std::to_string(len) +
                                 " values");
    return z;
  }

  // step(z) -> loss [sync]
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto tr = live(env);
    Napi::Float32Array z = batchArg(info);
    try {
      std::lock_guard<std::mutex> g(*mu_);
      return Napi::Number::New(env,
                               tr->step(z.Data(), static_cast<int>(z.ElementLength() / features_)));
    } catch (const CudaError& e) {
      throwCuda(env, e);
    }
  }
  Napi::Value StepAsync(const Napi::CallbackInfo& info);
  Napi::Value Weights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto tr = live(env);
    fraudscore::ModelSpec m;
    try {
      std::lock_guard<std::mutex> g(*mu_);
      tr->weights(&m);
    } catch (const CudaError& e) {
      throwCuda(env, e);
    }
    return layersToJs(env, m);
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    trainer_.reset();
    return info.Env().Undefined();
  }
  Napi::Value Steps(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env())->steps()));
  }

  std::shared_ptr<CudaTrainer> trainer_;
  // A trainer is not re-entrant: steps from the pool and weights() from JS take turns.
  std::shared_ptr<std::mutex> mu_ = std::make_shared<std::mutex>();
  int features_ = 0;
  friend class CudaTrainerStepWorker;
};

class CudaTrainerStepWorker : public Napi::AsyncWorker {
 public:
  CudaTrainerStepWorker(Napi::Env env, std::shared_ptr<CudaTrainer> tr,
                        std::shared_ptr<std::mutex> mu, Napi::Float32Array z, int features,
                        const Napi::CallbackInfo& info)
      : Napi::AsyncWorker(env, "fraudscore:CudaTrainer.stepAsync"),
        deferred_(Napi::Promise::Deferred::New(env)),
        trainer_(std::move(tr)),
        mu_(std::move(mu)),
        n_(static_cast<int>(z.ElementLength() / features)) {
    owner_ = Napi::Persistent(info.This().As<Napi::Object>());
    z_.hold(z, z.ElementLength(), true);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      std::lock_guard<std::mutex> g(*mu_);
      loss_ = trainer_->step(z_.data(), n_);
    } catch (const CudaError& e) {
      code_ = e.code();
      SetError(std::string("CudaTrainer.stepAsync failed: ") + e.what());
    } catch (const std::exception& e) {
      SetError(std::string("CudaTrainer.stepAsync failed: ") + e.what());
    } catch (...) {
      SetError("CudaTrainer.stepAsync failed: unknown native error");
    }
  }
  void OnOK() override {
    settleSafely([&] { deferred_.Resolve(Napi::Number::New(Env(), loss_)); });
  }
  void OnError(const Napi::Error& e) override {
    settleSafely([&] {
      Napi::Error err = Napi::Error::New(Env(), e.Message());
      err.Set("code", Napi::String::New(Env(), code_));
      deferred_.Reject(err.Value());
    });
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<CudaTrainer> trainer_;
  std::shared_ptr<std::mutex> mu_;
  HeldFloats z_;
  int n_;
  float loss_ = 0;
  std::string code_ = "ERR_FRAUDSCORE_NATIVE";
  Napi::ObjectReference owner_;
};

Napi::Value CudaTrainerJs::StepAsync(const Napi::CallbackInfo& info) {
  auto tr = live(info.Env());
  Napi::Float32Array z = batchArg(info);
  auto* w = new CudaTrainerStepWorker(info.Env(), tr, mu_, z, features_, info);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void RegisterCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaInfo", Napi::Function::New<CudaInfoJs>(env, "cudaInfo"));
  exports.Set("CudaScorer", CudaScorer::Define(env));
  exports.Set("CudaTrainer", CudaTrainerJs::Define(env));
}

}  // namespace fsbind
