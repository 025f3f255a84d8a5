// CUDA glue: cudaInfo() and the CudaScorer class, the AddonScorer contract of every scorer
// (scorer_wrap.h) plus `precision`, `kernel`, `device` and `deviceBytes`, so the TS Scorer can pick
// it or a CPU engine. CUDA errors become JS errors with a stable `code`
// (ERR_FRAUDSCORE_CUDA_UNAVAILABLE when no device answers, ERR_FRAUDSCORE_CUDA for a runtime or
// device failure) and the CUDA status in `cudaStatus`; nothing here aborts the process. Works
// unchanged in a build without CUDA (the core's cuda_absent.cpp throws the unavailable error and
// cudaInfo reports why). Training on a device goes through the Trainer (trainer.cpp, cudaDevice).
#include "fraudscore/cuda.h"

#include <memory>

#include "common.h"
#include "scorer_wrap.h"

namespace fsbind {

namespace {

using fraudscore::CudaEngine;
using fraudscore::CudaError;
using fraudscore::CudaPrecision;

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

class CudaScorer : public EngineScorerWrap<CudaScorer, CudaEngine> {
 public:
  static constexpr const char* kName = "CudaScorer";

  static Napi::Function Define(Napi::Env env) {
    auto members = commonMembers();
    members.push_back(InstanceAccessor<&CudaScorer::Precision>("precision"));
    members.push_back(InstanceAccessor<&CudaScorer::Kernel>("kernel"));
    members.push_back(InstanceAccessor<&CudaScorer::Device>("device"));
    members.push_back(InstanceAccessor<&CudaScorer::DeviceBytes>("deviceBytes"));
    return DefineClass(env, kName, members);
  }

  // new CudaScorer(model, { precision?: 'fp32' | 'int8', quant?, device? })
  explicit CudaScorer(const Napi::CallbackInfo& info) : Base(info) {
    Napi::Env env = info.Env();
    fraudscore::ModelSpec spec = modelSpecFrom(env, info[0]);
    CudaEngine::Options opt;
    QuantArgs quant;
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
        quant = quantSpecFrom(env, qv, spec, "options.quant");
        if (quant.dynamic)
          throwRange(env,
                     "Expected `options.quant.dynamic` to be false: the CUDA int8 engine uses "
                     "static (calibrated) input scales");
        if (quant.spec.fallback)
          throwRange(env,
                     "Expected `options.quant.fallback` to be false: the CUDA int8 engine clamps "
                     "out-of-range activations and has no fp32 fallback");
        haveQuant = true;
      }
    }
    try {
      adopt(env, std::make_shared<CudaEngine>(spec, opt, haveQuant ? &quant.spec : nullptr));
    } catch (const CudaError& e) {
      throwCuda(env, e);
    } catch (const std::invalid_argument& e) {
      throwInvalid(env, "model", e.what());
    } catch (...) {
      throwNative(env, kName);
    }
  }

 private:
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
};

}  // namespace

void RegisterCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaInfo", Napi::Function::New<CudaInfoJs>(env, "cudaInfo"));
  exports.Set("CudaScorer", CudaScorer::Define(env));
}

}  // namespace fsbind
