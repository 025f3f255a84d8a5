#include "common.h"

#include <algorithm>
#include <cmath>

#include "fraudscore/cuda.h"

namespace fsbind {

void throwCuda(Napi::Env env, const fraudscore::CudaError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, e.code()));
  err.Set("cudaStatus", Napi::Number::New(env, e.status()));
  throw err;
}

void throwInvalid(Napi::Env env, const std::string& path, const std::string& why) {
  throw Napi::RangeError::New(env, "Expected `" + path + "` to be valid, but " + why);
}

NativeFailure NativeFailure::current(const std::string& what) {
  NativeFailure f;
  try {
    throw;
  } catch (const fraudscore::CudaError& e) {
    f.code = e.code();
    f.cudaStatus = e.status();
    f.message = what + " failed: " + e.what();
  } catch (const std::exception& e) {
    f.message = what + " failed: " + e.what();
  } catch (...) {
    f.message = what + " failed: unknown native error";
  }
  return f;
}

Napi::Error NativeFailure::toJs(Napi::Env env) const {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  if (cudaStatus != 0) err.Set("cudaStatus", Napi::Number::New(env, cudaStatus));
  return err;
}

void throwNative(Napi::Env env, const std::string& what) {
  try {
    throw;
  } catch (const fraudscore::CudaError& e) {
    throwCuda(env, e);
  } catch (...) {
    throw NativeFailure::current(what).toJs(env);
  }
}

Napi::Error detachedError(Napi::Env env, const std::string& what, const char* argument) {
  Napi::Error err = Napi::TypeError::New(
      env, what + ": `" + argument +
               "` was detached or shrunk before the call settled; nothing was written");
  err.Set("code", Napi::String::New(env, "ERR_FRAUDSCORE_DETACHED"));
  err.Set("argument", Napi::String::New(env, argument));
  return err;
}

Napi::Error nonFiniteError(Napi::Env env, const fraudscore::BadValue& bad) {
  Napi::Error err = Napi::RangeError::New(
      env,
      "Expected `rows` to hold finite values after preprocessing, got a non-finite value at row " +
          std::to_string(bad.row) + ", column " + std::to_string(bad.col));
  err.Set("code", Napi::String::New(env, "ERR_FRAUDSCORE_NON_FINITE"));
  err.Set("row", Napi::Number::New(env, static_cast<double>(bad.row)));
  err.Set("column", Napi::Number::New(env, bad.col));
  return err;
}

void throwType(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, msg);
}
void throwRange(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, msg);
}

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return "Float32Array";
      case napi_float64_array: return "Float64Array";
      case napi_int32_array: return "Int32Array";
      case napi_uint8_array: return "Uint8Array";
      case napi_int8_array: return "Int8Array";
      default: return "a TypedArray of another type";
    }
  }
  if (v.IsArray()) return "Array";
  if (v.IsNumber()) return "number";
  if (v.IsString()) return "string";
  if (v.IsBoolean()) return "boolean";
  if (v.IsFunction()) return "function";
  return "object";
}

Napi::Float32Array float32Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throwType(info.Env(),
              std::string("Expected `") + name + "` to be a Float32Array, got " + describe(v));
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (a.ElementLength() > 0 && a.Data() == nullptr)
    throwType(info.Env(),
              std::string("Expected `") + name + "` to be attached, got a detached buffer");
  return a;
}

Napi::Float32Array optionalFloat32Arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return Napi::Float32Array();
  return float32Arg(info, i, name);
}

int32_t intArg(const Napi::CallbackInfo& info, size_t i, const char* name, int32_t lo, int32_t hi) {
  Napi::Value v = info[i];
  if (!v.IsNumber())
    throwType(info.Env(),
              std::string("Expected `") + name + "` to be an integer, got " + describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || std::floor(d) != d)
    throwRange(info.Env(), std::string("Expected `") + name + "` to be an integer in [" +
                               std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                               std::to_string(d));
  return static_cast<int32_t>(d);
}

namespace {

template <typename T>
std::vector<T> copyTyped(Napi::Env env, const Napi::Object& o, const char* key,
                         napi_typedarray_type type, const std::string& path) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throwType(env, "Expected `" + path + "." + key + "` to be a " +
                       (type == napi_float32_array ? "Float32Array" : "Uint8Array") + ", got " +
                       describe(v));
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  const T* p = reinterpret_cast<const T*>(static_cast<const uint8_t*>(t.ArrayBuffer().Data()) +
                                          t.ByteOffset());
  return std::vector<T>(p, p + t.ElementLength());
}

int intField(Napi::Env env, const Napi::Object& o, const char* key, const std::string& path) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber())
    throwType(env, "Expected `" + path + "." + key + "` to be an integer, got " + describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d <= (1 << 20)) || std::floor(d) != d)
    throwRange(env, "Expected `" + path + "." + key + "` to be an integer in [1, 1048576], got " +
                        std::to_string(d));
  return static_cast<int>(d);
}

}  // namespace

std::vector<fraudscore::DenseLayer> layersFrom(Napi::Env env, const Napi::Value& lv,
                                               const std::string& name) {
  if (!lv.IsArray()) throwType(env, "Expected `" + name + "` to be an Array, got " + describe(lv));
  Napi::Array layers = lv.As<Napi::Array>();
  std::vector<fraudscore::DenseLayer> out;
  for (uint32_t i = 0; i < layers.Length(); ++i) {
    const std::string path = name + "[" + std::to_string(i) + "]";
    Napi::Value e = layers.Get(i);
    if (!e.IsObject())
      throwType(env, "Expected `" + path + "` to be an object, got " + describe(e));
    Napi::Object lo = e.As<Napi::Object>();
    fraudscore::DenseLayer L;
    L.in = intField(env, lo, "in", path);
    L.out = intField(env, lo, "out", path);
    L.weight = copyTyped<float>(env, lo, "weight", napi_float32_array, path);
    L.bias = copyTyped<float>(env, lo, "bias", napi_float32_array, path);
    out.push_back(std::move(L));
  }
  return out;
}

fraudscore::ModelSpec modelSpecFrom(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject() || v.IsArray())
    throwType(env, "Expected `model` to be an object, got " + describe(v));
  Napi::Object o = v.As<Napi::Object>();
  fraudscore::ModelSpec m;
  m.features = intField(env, o, "features", "model");
  std::vector<uint8_t> tr = copyTyped<uint8_t>(env, o, "transform", napi_uint8_array, "model");
  for (uint8_t t : tr) m.transform.push_back(static_cast<fraudscore::Transform>(t));
  m.mean = copyTyped<float>(env, o, "mean", napi_float32_array, "model");
  m.scale = copyTyped<float>(env, o, "scale", napi_float32_array, "model");
  m.layers = layersFrom(env, o.Get("layers"), "model.layers");
  const std::string err = m.validate();
  if (!err.empty()) throwInvalid(env, "model", err);
  return m;
}

namespace {

bool isTyped(const Napi::Value& v, napi_typedarray_type t) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == t;
}

bool optionalBool(Napi::Env env, const Napi::Object& o, const char* key, const std::string& path) {
  Napi::Value v = o.Get(key);
  if (!v.IsUndefined() && !v.IsBoolean())
    throwType(env, "Expected `" + path + "." + key + "` to be a boolean, got " + describe(v));
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

}  // namespace

QuantArgs quantSpecFrom(Napi::Env env, const Napi::Value& v, const fraudscore::ModelSpec& m,
                        const std::string& path) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    throwType(env, "Expected `" + path + "` to be an object, got " + describe(v));
  Napi::Object o = v.As<Napi::Object>();
  QuantArgs out;
  out.dynamic = optionalBool(env, o, "dynamic", path);
  const bool fallback = optionalBool(env, o, "fallback", path);
  if (fallback && out.dynamic)
    throwRange(env, "Expected `" + path + ".fallback` only with static scales (`" + path +
                        ".dynamic` is true)");
  const size_t nl = m.layers.size();
  Napi::Value w = o.Get("weights"), ws = o.Get("weightScales"), xs = o.Get("inputScales");
  if (!w.IsArray())
    throwType(env, "Expected `" + path + ".weights` to be an Array, got " + describe(w));
  if (!ws.IsArray())
    throwType(env, "Expected `" + path + ".weightScales` to be an Array, got " + describe(ws));
  if (!isTyped(xs, napi_float32_array))
    throwType(env, "Expected `" + path + ".inputScales` to be a Float32Array, got " + describe(xs));
  Napi::Array wa = w.As<Napi::Array>(), wsa = ws.As<Napi::Array>();
  if (wa.Length() != nl)
    throwRange(env, "Expected `" + path + ".weights` to hold " + std::to_string(nl) +
                        " layers, got " + std::to_string(wa.Length()));
  if (wsa.Length() != nl)
    throwRange(env, "Expected `" + path + ".weightScales` to hold " + std::to_string(nl) +
                        " layers, got " + std::to_string(wsa.Length()));
  fraudscore::QuantSpec& q = out.spec;
  for (uint32_t l = 0; l < nl; ++l) {
    const std::string at = "[" + std::to_string(l) + "]";
    Napi::Value wl = wa.Get(l), sl = wsa.Get(l);
    if (!isTyped(wl, napi_int8_array))
      throwType(
          env, "Expected `" + path + ".weights" + at + "` to be an Int8Array, got " + describe(wl));
    if (!isTyped(sl, napi_float32_array))
      throwType(env, "Expected `" + path + ".weightScales" + at + "` to be a Float32Array, got " +
                         describe(sl));
    Napi::Int8Array wi = wl.As<Napi::Int8Array>();
    Napi::Float32Array sf = sl.As<Napi::Float32Array>();
    q.wq.emplace_back(wi.Data(), wi.Data() + wi.ElementLength());
    q.wscale.emplace_back(sf.Data(), sf.Data() + sf.ElementLength());
  }
  Napi::Float32Array xf = xs.As<Napi::Float32Array>();
  q.xscale.assign(xf.Data(), xf.Data() + xf.ElementLength());
  // Dynamic scales are computed per block of rows; stored static ones are not needed.
  if (out.dynamic && q.xscale.empty()) q.xscale.assign(nl, 1.f);
  q.fallback = fallback;
  const std::string err = q.validate(m);
  if (!err.empty()) throwInvalid(env, path, err);
  return out;
}

Napi::Array layersToJs(Napi::Env env, const std::vector<fraudscore::DenseLayer>& layers) {
  Napi::Array out = Napi::Array::New(env, layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    const fraudscore::DenseLayer& L = layers[l];
    Napi::Object o = Napi::Object::New(env);
    o.Set("in", Napi::Number::New(env, L.in));
    o.Set("out", Napi::Number::New(env, L.out));
    Napi::Float32Array w = Napi::Float32Array::New(env, L.weight.size());
    std::copy(L.weight.begin(), L.weight.end(), w.Data());
    Napi::Float32Array b = Napi::Float32Array::New(env, L.bias.size());
    std::copy(L.bias.begin(), L.bias.end(), b.Data());
    o.Set("weight", w);
    o.Set("bias", b);
    out.Set(static_cast<uint32_t>(l), o);
  }
  return out;
}

Napi::Float32Array rowsArg(const Napi::CallbackInfo& info, size_t i, int d, size_t* n,
                           bool allowEmpty) {
  Napi::Env env = info.Env();
  Napi::Float32Array rows = float32Arg(info, i, "rows");
  const size_t len = rows.ElementLength();
  if (len == 0 && !allowEmpty)
    throwRange(env, "Expected `rows` to hold at least one row, got 0 values");
  if (len % static_cast<size_t>(d) != 0)
    throwRange(env, "Expected `rows` to be a Float32Array of n*" + std::to_string(d) +
                        " values, got " + std::to_string(len) + " values");
  *n = len / d;
  return rows;
}

ScoreArgs parseScoreArgs(const Napi::CallbackInfo& info, int d) {
  Napi::Env env = info.Env();
  ScoreArgs a;
  a.rows = rowsArg(info, 0, d, &a.n).Data();
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
  a.mode = intArg(info, 3, "nonFinite", 0, 1) == 1 ? fraudscore::NonFinite::kNaN
                                                   : fraudscore::NonFinite::kError;
  a.threads = intArg(info, 4, "threads", 0, 1024);
  return a;
}

Napi::Value badToJs(Napi::Env env, const fraudscore::BadValue& bad) {
  if (bad.row < 0) return env.Null();
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, static_cast<double>(bad.row)));
  a.Set(1u, Napi::Number::New(env, bad.col));
  return a;
}

}  // namespace fsbind
