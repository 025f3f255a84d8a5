// CpuInt8Scorer: the JS handle of a CpuInt8Engine, with exactly CpuScorer's interface: score()
// [sync] for small batches, scoreAsync() [async] on the libuv pool, dispose(), simd. Zero-copy: the
// rows are read and the outputs written in place through the TypedArrays' memory, which the async
// worker keeps alive until it settles. The quantized weights are copied into the engine's packed
// form at construction, so the caller's Int8Arrays may change or be collected afterwards.
#include "fraudscore/int8.h"

#include <memory>

#include "common.h"
#include "score_worker.h"

namespace fsbind {

namespace {

using fraudscore::BadValue;
using fraudscore::CpuInt8Engine;
using fraudscore::NonFinite;

bool isTyped(const Napi::Value& v, napi_typedarray_type t) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == t;
}

std::string typeName(const Napi::Value& v) {
  return isTyped(v, napi_int8_array) ? "Int8Array" : describe(v);
}

// { weights: Int8Array[], weightScales: Float32Array[], inputScales: Float32Array, dynamic? }
// Shapes and scales are checked by QuantSpec::validate (the message names the field).
fraudscore::QuantSpec quantSpecFrom(Napi::Env env, const Napi::Value& v,
                                    const fraudscore::ModelSpec& m, bool* dynamic) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    throwType(env, "Expected `quant` to be an object, got " + describe(v));
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value dyn = o.Get("dynamic");
  if (!dyn.IsUndefined() && !dyn.IsBoolean())
    throwType(env, "Expected `quant.dynamic` to be a boolean, got " + describe(dyn));
  *dynamic = dyn.IsBoolean() && dyn.As<Napi::Boolean>().Value();
  const size_t nl = m.layers.size();
  Napi::Value w = o.Get("weights"), ws = o.Get("weightScales"), xs = o.Get("inputScales");
  if (!w.IsArray()) throwType(env, "Expected `quant.weights` to be an Array, got " + typeName(w));
  if (!ws.IsArray())
    throwType(env, "Expected `quant.weightScales` to be an Array, got " + typeName(ws));
  if (!isTyped(xs, napi_float32_array))
    throwType(env, "Expected `quant.inputScales` to be a Float32Array, got " + typeName(xs));
  Napi::Array wa = w.As<Napi::Array>(), wsa = ws.As<Napi::Array>();
  if (wa.Length() != nl)
    throwRange(env, "Expected `quant.weights` to hold " + std::to_string(nl) + " layers, got " +
                        std::to_string(wa.Length()));
  if (wsa.Length() != nl)
    throwRange(env, "Expected `quant.weightScales` to hold " + std::to_string(nl) +
                        " layers, got " + std::to_string(wsa.Length()));
  fraudscore::QuantSpec q;
  for (uint32_t l = 0; l < nl; ++l) {
    const std::string at = "[" + std::to_string(l) + "]";
    Napi::Value wl = wa.Get(l), sl = wsa.Get(l);
    if (!isTyped(wl, napi_int8_array))
      throwType(env, "Expected `quant.weights" + at + "` to be an Int8Array, got " + typeName(wl));
    if (!isTyped(sl, napi_float32_array))
      throwType(
          env, "Expected `quant.weightScales" + at + "` to be a Float32Array, got " + typeName(sl));
    Napi::Int8Array wi = wl.As<Napi::Int8Array>();
    Napi::Float32Array sf = sl.As<Napi::Float32Array>();
    q.wq.emplace_back(wi.Data(), wi.Data() + wi.ElementLength());
    q.wscale.emplace_back(sf.Data(), sf.Data() + sf.ElementLength());
  }
  Napi::Float32Array xf = xs.As<Napi::Float32Array>();
  q.xscale.assign(xf.Data(), xf.Data() + xf.ElementLength());
  // Dynamic scales are computed per block of rows; stored static ones are not needed.
  if (*dynamic && q.xscale.empty()) q.xscale.assign(nl, 1.f);
  const std::string err = q.validate(m);
  if (!err.empty()) throwRange(env, "Invalid `quant`: " + err);
  return q;
}

class CpuInt8Scorer : public Napi::ObjectWrap<CpuInt8Scorer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CpuInt8Scorer",
                       {InstanceMethod<&CpuInt8Scorer::Score>("score"),
                        InstanceMethod<&CpuInt8Scorer::ScoreAsync>("scoreAsync"),
                        InstanceMethod<&CpuInt8Scorer::Dispose>("dispose"),
                        InstanceAccessor<&CpuInt8Scorer::Simd>("simd"),
                        InstanceAccessor<&CpuInt8Scorer::Features>("features"),
                        InstanceAccessor<&CpuInt8Scorer::Dynamic>("dynamic")});
  }

  // new CpuInt8Scorer(model, quant, simd?: string)
  explicit CpuInt8Scorer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CpuInt8Scorer>(info) {
    Napi::Env env = info.Env();
    fraudscore::ModelSpec spec = modelSpecFrom(env, info[0]);
    bool dynamic = false;
    fraudscore::QuantSpec quant = quantSpecFrom(env, info[1], spec, &dynamic);
    fraudscore::SimdPath path = fraudscore::defaultInt8Simd();
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      if (!info[2].IsString())
        throwType(env, "Expected `simd` to be a string, got " + describe(info[2]));
      const std::string want = info[2].As<Napi::String>().Utf8Value();
      bool found = want == "auto";
      for (auto p : {fraudscore::SimdPath::kAvx512, fraudscore::SimdPath::kAvx2,
                     fraudscore::SimdPath::kSse2}) {
        if (want == fraudscore::simdPathName(p)) {
          if (!fraudscore::int8SimdSupported(p))
            throwRange(env, "Expected `simd` to be an int8 path this CPU supports, got '" + want +
                                "' (avx512 needs AVX512-VNNI)");
          path = p;
          found = true;
        }
      }
      if (!found)
        throwRange(env,
                   "Expected `simd` to be 'auto', 'avx512', 'avx2' or 'sse2', got '" + want + "'");
    }
    try {
      engine_ = std::make_shared<CpuInt8Engine>(
          spec, quant,
          dynamic ? fraudscore::Int8Activations::kDynamic : fraudscore::Int8Activations::kStatic,
          path);
    } catch (const std::exception& e) {
      throwRange(env, std::string("Invalid `model`: ") + e.what());
    }
    external_ = static_cast<int64_t>(engine_->packedBytes());
    Napi::MemoryManagement::AdjustExternalMemory(env, external_);
  }

  ~CpuInt8Scorer() override = default;

 private:
  std::shared_ptr<CpuInt8Engine> live(Napi::Env env) {
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
  Napi::Value Dynamic(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(
        info.Env(), live(info.Env())->activations() == fraudscore::Int8Activations::kDynamic);
  }

  std::shared_ptr<CpuInt8Engine> engine_;
  int64_t external_ = 0;
};

Napi::Value CpuInt8Scorer::ScoreAsync(const Napi::CallbackInfo& info) {
  return queueScoreAsync(info, live(info.Env()), "CpuInt8Scorer.scoreAsync");
}

}  // namespace

void RegisterInt8(Napi::Env env, Napi::Object exports) {
  exports.Set("CpuInt8Scorer", CpuInt8Scorer::Define(env));
}

}  // namespace fsbind
