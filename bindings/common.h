// Shared helpers of the N-API glue: argument guards with one message format, and the conversion
// of a JS model description into the core's ModelSpec.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "fraudscore/model.h"

namespace fraudscore {
class CudaError;
}

namespace fsbind {

// The arguments every scorer's score()/scoreAsync() takes:
// [rows, scores, featureErrors|null, nonFinite (0 error, 1 nan), threads].
struct ScoreArgs {
  const float* rows = nullptr;
  size_t n = 0;
  float* scores = nullptr;
  float* featureErrors = nullptr;
  fraudscore::NonFinite mode = fraudscore::NonFinite::kError;
  int threads = 0;
};

// Checks and views the score arguments for a model of `features` columns (one message format for
// every scorer). @throws TypeError/RangeError naming the argument.
ScoreArgs parseScoreArgs(const Napi::CallbackInfo& info, int features);

// null when every value was finite, else [row, column] of the first bad one.
Napi::Value badToJs(Napi::Env env, const fraudscore::BadValue& bad);

// Throws a JS TypeError/RangeError naming the argument, in the format the TS layer uses:
// "Expected `rows` to be a Float32Array, got number".
[[noreturn]] void throwType(Napi::Env env, const std::string& msg);
[[noreturn]] void throwRange(Napi::Env env, const std::string& msg);

// Throws a JS Error carrying the CUDA error's code (ERR_FRAUDSCORE_CUDA_*) and cudaStatus.
[[noreturn]] void throwCuda(Napi::Env env, const fraudscore::CudaError& e);

std::string describe(const Napi::Value& v);

// The Float32Array at info[i], or a TypeError naming `name`.
Napi::Float32Array float32Arg(const Napi::CallbackInfo& info, size_t i, const char* name);
// Like float32Arg but null/undefined gives an empty (IsEmpty()) array.
Napi::Float32Array optionalFloat32Arg(const Napi::CallbackInfo& info, size_t i, const char* name);
int32_t intArg(const Napi::CallbackInfo& info, size_t i, const char* name, int32_t lo, int32_t hi);

// { features, transform: Uint8Array, mean, scale: Float32Array, layers: [{in, out, weight, bias}] }
fraudscore::ModelSpec modelSpecFrom(Napi::Env env, const Napi::Value& v);
// [{in, out, weight, bias}] at `name` (shapes checked by the caller's validate()).
std::vector<fraudscore::DenseLayer> layersFrom(Napi::Env env, const Napi::Value& v,
                                               const std::string& name);

void RegisterCpuScorer(Napi::Env env, Napi::Object exports);
void RegisterModule(Napi::Env env, Napi::Object exports);
void RegisterTrainer(Napi::Env env, Napi::Object exports);
void RegisterCuda(Napi::Env env, Napi::Object exports);
void RegisterInt8(Napi::Env env, Napi::Object exports);
void RegisterHybrid(Napi::Env env, Napi::Object exports);

}  // namespace fsbind
