// CpuScorer: the JS handle of a CpuEngine (the AddonScorer contract, scorer_wrap.h), plus `simd`.
// Also the `simd` argument parser both CPU scorers share.
#include <memory>

#include "common.h"
#include "fraudscore/cpu.h"
#include "scorer_wrap.h"

namespace fsbind {

fraudscore::SimdPath simdArg(const Napi::CallbackInfo& info, size_t i,
                             bool (*supported)(fraudscore::SimdPath), fraudscore::SimdPath fallback,
                             const char* kind, const char* unsupportedHint) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || info[i].IsUndefined()) return fallback;
  if (!info[i].IsString())
    throwType(env, "Expected `simd` to be a string, got " + describe(info[i]));
  const std::string want = info[i].As<Napi::String>().Utf8Value();
  if (want == "auto") return fallback;
  for (auto p :
       {fraudscore::SimdPath::kAvx512, fraudscore::SimdPath::kAvx2, fraudscore::SimdPath::kSse2}) {
    if (want != fraudscore::simdPathName(p)) continue;
    if (!supported(p))
      throwRange(env, std::string("Expected `simd` to be ") + kind + " this CPU supports, got '" +
                          want + "'" + unsupportedHint);
    return p;
  }
  throwRange(env, "Expected `simd` to be 'auto', 'avx512', 'avx2' or 'sse2', got '" + want + "'");
}

namespace {

class CpuScorer : public EngineScorerWrap<CpuScorer, fraudscore::CpuEngine> {
 public:
  static constexpr const char* kName = "CpuScorer";

  static Napi::Function Define(Napi::Env env) {
    auto members = commonMembers();
    members.push_back(simdMember());
    return DefineClass(env, kName, members);
  }

  // new CpuScorer(model, simd?: string)
  explicit CpuScorer(const Napi::CallbackInfo& info) : Base(info) {
    Napi::Env env = info.Env();
    fraudscore::ModelSpec spec = modelSpecFrom(env, info[0]);
    const fraudscore::SimdPath path =
        simdArg(info, 1, fraudscore::simdSupported, fraudscore::defaultSimd());
    try {
      adopt(env, std::make_shared<fraudscore::CpuEngine>(spec, path));
    } catch (const std::exception& e) {
      throwInvalid(env, "model", e.what());
    }
  }
};

}  // namespace

void RegisterCpuScorer(Napi::Env env, Napi::Object exports) {
  exports.Set("CpuScorer", CpuScorer::Define(env));
}

}  // namespace fsbind
