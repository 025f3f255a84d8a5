// CpuInt8Scorer: the JS handle of a CpuInt8Engine (the AddonScorer contract, scorer_wrap.h), plus
// `simd`, `dynamic`, `fallbackRows` and `amx`. The quantized weights are copied into the engine's
// packed form at construction, so the caller's Int8Arrays may change or be collected afterwards.
#include "fraudscore/int8.h"

#include <memory>

#include "common.h"
#include "scorer_wrap.h"

namespace fsbind {

namespace {

using fraudscore::CpuInt8Engine;

class CpuInt8Scorer : public EngineScorerWrap<CpuInt8Scorer, CpuInt8Engine> {
 public:
  static constexpr const char* kName = "CpuInt8Scorer";

  static Napi::Function Define(Napi::Env env) {
    auto members = commonMembers();
    members.push_back(simdMember());
    members.push_back(InstanceAccessor<&CpuInt8Scorer::Dynamic>("dynamic"));
    members.push_back(InstanceAccessor<&CpuInt8Scorer::FallbackRows>("fallbackRows"));
    members.push_back(InstanceAccessor<&CpuInt8Scorer::Amx>("amx"));
    return DefineClass(env, kName, members);
  }

  // new CpuInt8Scorer(model, quant, simd?: string)
  explicit CpuInt8Scorer(const Napi::CallbackInfo& info) : Base(info) {
    Napi::Env env = info.Env();
    fraudscore::ModelSpec spec = modelSpecFrom(env, info[0]);
    QuantArgs quant = quantSpecFrom(env, info[1], spec, "quant");
    const fraudscore::SimdPath path =
        simdArg(info, 2, fraudscore::int8SimdSupported, fraudscore::defaultInt8Simd(),
                "an int8 path", " (the int8 avx512 path needs AVX512-VNNI)");
    try {
      adopt(env,
            std::make_shared<CpuInt8Engine>(spec, quant.spec,
                                            quant.dynamic ? fraudscore::Int8Activations::kDynamic
                                                          : fraudscore::Int8Activations::kStatic,
                                            path));
    } catch (const std::exception& e) {
      throwInvalid(env, "model", e.what());
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
