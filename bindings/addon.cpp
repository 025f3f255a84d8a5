// Module entry: each binding file registers its own exports (one line each).
#include "common.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  fsbind::RegisterModule(env, exports);
  fsbind::RegisterCpuScorer(env, exports);
  fsbind::RegisterTrainer(env, exports);
  fsbind::RegisterCuda(env, exports);
  fsbind::RegisterInt8(env, exports);
  fsbind::RegisterHybrid(env, exports);
  return exports;
}

NODE_API_MODULE(fraudscore, Init)
