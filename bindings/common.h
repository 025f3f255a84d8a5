// Shared helpers of the N-API glue: argument guards with one message format ("Expected `path` to
// be ..., got ..."), the one parser per concept (model, quant, score arguments, layers back to JS)
// and the one mapping of native failures to JS errors (code, CUDA status, non-finite [row, col]).
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "fraudscore/model.h"
#include "fraudscore/quant.h"

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

// Throws a RangeError for an argument the core refused: "Expected `model` to be valid, but
// <why>" (`why` is the core's message naming the field).
[[noreturn]] void throwInvalid(Napi::Env env, const std::string& path, const std::string& why);

// Throws a JS Error carrying the CUDA error's code (ERR_FRAUDSCORE_CUDA_*) and cudaStatus.
[[noreturn]] void throwCuda(Napi::Env env, const fraudscore::CudaError& e);

// What a native call threw, as the JS error it becomes: the message prefixed with the call's name
// ("CpuScorer.scoreAsync failed: ..."), the stable code (a CudaError's own ERR_FRAUDSCORE_CUDA*,
// else ERR_FRAUDSCORE_NATIVE) and, for CUDA, `cudaStatus`.
struct NativeFailure {
  std::string message;
  std::string code = "ERR_FRAUDSCORE_NATIVE";
  int cudaStatus = 0;

  // [any thread] Inside a catch block: what the exception in flight was.
  static NativeFailure current(const std::string& what);
  // [main thread]
  Napi::Error toJs(Napi::Env env) const;
};

// [main thread] Inside a catch block: rethrows the exception in flight as a JS error (a CudaError
// as throwCuda does, anything else as NativeFailure::current(what)).
[[noreturn]] void throwNative(Napi::Env env, const std::string& what);

// The RangeError for a value that is not finite after preprocessing, at [row, col] of `rows`:
// code ERR_FRAUDSCORE_NON_FINITE, with `row` and `column` (the TS layer adds the feature name).
Napi::Error nonFiniteError(Napi::Env env, const fraudscore::BadValue& bad);
// ERR_FRAUDSCORE_DETACHED: the output `argument` of `what` (e.g. "CpuScorer.scoreAsync") was
// detached or shrunk before the call settled (held_array.h); `argument` is also a field.
Napi::Error detachedError(Napi::Env env, const std::string& what, const char* argument);

std::string describe(const Napi::Value& v);

// The Float32Array at info[i], or a TypeError naming `name`.
Napi::Float32Array float32Arg(const Napi::CallbackInfo& info, size_t i, const char* name);
// Like float32Arg but null/undefined gives an empty (IsEmpty()) array.
Napi::Float32Array optionalFloat32Arg(const Napi::CallbackInfo& info, size_t i, const char* name);
int32_t intArg(const Napi::CallbackInfo& info, size_t i, const char* name, int32_t lo, int32_t hi);
// The `rows` argument at info[i]: a Float32Array of n * features values, n >= 1 unless
// `allowEmpty`; *n gets n. @throws TypeError/RangeError naming `rows`.
Napi::Float32Array rowsArg(const Napi::CallbackInfo& info, size_t i, int features, size_t* n,
                           bool allowEmpty = false);

// { features, transform: Uint8Array, mean, scale: Float32Array, layers: [{in, out, weight, bias}] }
fraudscore::ModelSpec modelSpecFrom(Napi::Env env, const Napi::Value& v);
// [{in, out, weight, bias}] at `name` (shapes checked by the caller's validate()).
std::vector<fraudscore::DenseLayer> layersFrom(Napi::Env env, const Napi::Value& v,
                                               const std::string& name);

// { weights: Int8Array[], weightScales: Float32Array[], inputScales: Float32Array, dynamic?,
//   fallback? } for model `m`; `path` names it in messages ("quant", "options.quant"). Shapes and
// scales are checked by QuantSpec::validate. Dynamic scales with no stored input scales get ones.
struct QuantArgs {
  fraudscore::QuantSpec spec;
  bool dynamic = false;
};
QuantArgs quantSpecFrom(Napi::Env env, const Napi::Value& v, const fraudscore::ModelSpec& m,
                        const std::string& path);

// [{in, out, weight: Float32Array, bias: Float32Array}], copies of `layers`.
Napi::Array layersToJs(Napi::Env env, const std::vector<fraudscore::DenseLayer>& layers);

void RegisterCpuScorer(Napi::Env env, Napi::Object exports);
void RegisterModule(Napi::Env env, Napi::Object exports);
void RegisterTrainer(Napi::Env env, Napi::Object exports);
void RegisterCuda(Napi::Env env, Napi::Object exports);
void RegisterInt8(Napi::Env env, Napi::Object exports);
void RegisterHybrid(Napi::Env env, Napi::Object exports);

}  // namespace fsbind
