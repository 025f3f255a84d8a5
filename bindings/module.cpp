// Module-level functions: backend discovery, thread-pool size, the float64 reference and the
// measured FMA peak (for the benchmark's GFLOP/s figures).
#include <thread>

#include "common.h"
#include "fraudscore/cpu.h"
#include "fraudscore/int8.h"
#include "fraudscore/peak.h"
#include "fraudscore/thread_pool.h"

namespace fsbind {

namespace {

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("simd", fraudscore::simdPathName(fraudscore::defaultSimd()));
  o.Set("best", fraudscore::simdPathName(fraudscore::detectSimd()));
  Napi::Array avail = Napi::Array::New(env);
  uint32_t k = 0;
  for (auto p :
       {fraudscore::SimdPath::kAvx512, fraudscore::SimdPath::kAvx2, fraudscore::SimdPath::kSse2})
    if (fraudscore::simdSupported(p)) avail.Set(k++, fraudscore::simdPathName(p));
  o.Set("available", avail);
  o.Set("int8", fraudscore::simdPathName(fraudscore::defaultInt8Simd()));
  // AMX int8 is opt-in (FRAUDSCORE_INT8_AMX=1): see fraudscore::Int8Matmul.
  o.Set("amx", fraudscore::int8AmxSupported());
  o.Set("threads", fraudscore::poolSize());
  o.Set("hardwareConcurrency", static_cast<double>(std::thread::hardware_concurrency()));
  return o;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  fraudscore::setPoolSize(intArg(info, 0, "threads", 1, 1024));
  return info.Env().Undefined();
}

// referenceScore(model, rows) -> { scores: Float64Array, featureErrors: Float64Array }
Napi::Value ReferenceScore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  fraudscore::ModelSpec spec = modelSpecFrom(env, info[0]);
  const size_t d = spec.features;
  size_t n = 0;
  Napi::Float32Array rows = rowsArg(info, 1, spec.features, &n, true);
  Napi::Float64Array scores = Napi::Float64Array::New(env, n);
  Napi::Float64Array fe = Napi::Float64Array::New(env, n * d);
  fraudscore::scoreReferenceF64(spec, rows.Data(), n, scores.Data(), fe.Data());
  Napi::Object o = Napi::Object::New(env);
  o.Set("scores", scores);
  o.Set("featureErrors", fe);
  return o;
}

Napi::Value MeasurePeak(const Napi::CallbackInfo& info) {
  const int threads = intArg(info, 0, "threads", 1, 1024);
  const double seconds = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0.5;
  return Napi::Number::New(info.Env(), fraudscore::measureFmaPeakGflops(threads, seconds));
}

}  // namespace

void RegisterModule(Napi::Env env, Napi::Object exports) {
  exports.Set("cpuInfo", Napi::Function::New<CpuInfo>(env, "cpuInfo"));
  exports.Set("setThreads", Napi::Function::New<SetThreads>(env, "setThreads"));
  exports.Set("referenceScore", Napi::Function::New<ReferenceScore>(env, "referenceScore"));
  exports.Set("measurePeakGflops", Napi::Function::New<MeasurePeak>(env, "measurePeakGflops"));
}

}  // namespace fsbind
