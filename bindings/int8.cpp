// CpuInt8Scorer: the JS handle of a CpuInt8Engine, with exactly CpuScorer's interface: score()
// [sync] for small batches, scoreAsync() [async] on the libuv pool, dispose(), simd. Zero-copy: the
// rows are read and the outputs written in place through the TypedArrays' memory, which the async
// worker keeps alive until it settles. The quantized weights are copied into the engine's packed
// form at construction, so the caller's Int8Arrays may change or be collected afterwards.
#include "fraudscore/int8.h"

#include <memory>

#include "common.h"
#include "scorer_wrap.h"

namespace fsbind {

namespace {

using fraudscore::CpuInt8Engine;

bool isTyped(const Napi::Value& v, napi_typedarray_type t) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == t;
}

std::string typeName(const Napi::Value& v) {
  return isTyped(v, napi_int8_array) ? "Int8Array" : describe(v);
}

// { weights: Int8Array[], weightScales: Float32Array[], inputScales: Float32Array, dynamic?,
//   fallback? }
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
  Napi::Value fb = o.Get("fallback");
  if (!fb.IsUndefined() && !fb.IsBoolean())
    throwType(env, "Expected `quant.fallback` to be a boolean, got " + describe(fb));
  const bool fallback = fb.IsBoolean() && fb.As<Napi::Boolean>().Value();
  if (fallback && *dynamic)
    throwRange(env, "Expected `quant.fallback` only with static scales (`quant.dynamic` is true)");
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
  q.fallback = fallback;
  const std::string err = q.validate(m);
  if (!err.empty()) throwRange(env, "Invalid `quant`: " + err);
  return q;
}

class CpuInt8Scorer : public EngineScorerWrap<CpuInt8Scorer, CpuInt8Engine> {
 public:
  static constexpr const char* kName = "CpuInt8Scorer";

  static Napi::Function Define(Napi::Env env) {
    auto members = commonMembers();
    members.push_back(InstanceAccessor<&CpuInt8Scorer::Dynamic>("dynamic"));
    members.push_back(InstanceAccessor<&CpuInt8Scorer::FallbackRows>("fallbackRows"));
    members.push_back(InstanceAccessor<&CpuInt8Scorer::Amx>("amx"));
    return DefineClass(env, kName, members);
  }

  // new CpuInt8Scorer(model, quant, simd?: string)
  explicit CpuInt8Scorer(const Napi::CallbackInfo& info) : Base(info) {
    Napi::Env env = info.Env();
    fraudscore::ModelSpec spec = modelSpecFrom(env, info[0]);
    bool dynamic = false;
    fraudscore::QuantSpec quant = quantSpecFrom(env, info[1], spec, &dynamic);
    const fraudscore::SimdPath path =
        simdArg(info, 2, fraudscore::int8SimdSupported, fraudscore::defaultInt8Simd(),
                "an int8 path", " (the int8 avx512 path needs AVX512-VNNI)");
    try {
      adopt(env, std::make_shared<CpuInt8Engine>(spec, quant,
                                                 dynamic ? fraudscore::Int8Activations::kDynamic
                                                         : fraudscore::Int8Activations::kStatic,
                                                 path));
    } catch (const std::exception& e) {
      throwRange(env, std::string("Invalid `model`: ") + e.what());
    }
  }

 private:
  Napi::Value FallbackRows(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env())->fallbackRows()));
  }

  Napi::Value Amx(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), live(info.Env())->amx());
  }

  Napi::Value Dynamic(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(
        info.Env(), live(info.Env())->activations() == fraudscore::Int8Activations::kDynamic);
  }
};

}  // namespace

void RegisterInt8(Napi::Env env, Napi::Object exports) {
  exports.Set("CpuInt8Scorer", CpuInt8Scorer::Define(env));
}

}  // namespace fsbind
