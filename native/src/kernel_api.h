// Entry points of the per-instruction-set kernels (see kernel_impl.h).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "fraudscore/model.h"

namespace fraudscore {

struct PackedModel;

using ScoreRangeFn = bool (*)(const PackedModel& P, const float* rows, size_t begin, size_t end,
                              float* scores, float* featureErrors, NonFinite mode, float* scratch,
                              BadValue* bad, const std::atomic<int64_t>* stopBelow);

#define FS_DECLARE_KERNEL(ns)                                                          \
  namespace ns {                                                                       \
  bool scoreRange(const PackedModel& P, const float* rows, size_t begin, size_t end,   \
                  float* scores, float* featureErrors, NonFinite mode, float* scratch, \
                  BadValue* bad, const std::atomic<int64_t>* stopBelow);               \
  }

#if defined(__x86_64__) || defined(_M_X64)
FS_DECLARE_KERNEL(avx512)
FS_DECLARE_KERNEL(avx2)
#endif
FS_DECLARE_KERNEL(sse2)

#undef FS_DECLARE_KERNEL

}  // namespace fraudscore
