#include "common.h"

#include <cmath>

#include "fraudscore/cuda.h"

namespace fsbind {

void throwCuda(Napi::Env env, const fraudscore::CudaError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, e.code()));
  err.Set("cudaStatus", Napi::Number::New(env, e.status()));
  throw err;
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
  if (!err.empty()) throwRange(env, "Invalid `model`: " + err);
  return m;
}

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
