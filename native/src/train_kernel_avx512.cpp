// AVX-512 build of the training kernel (see train_kernel.h). The instruction set is selected with a
// target pragma in this file alone, so the build needs no per-file flags; nothing from the
// standard library is instantiated here (ODR-merged inlines could otherwise carry AVX-512 code
// into baseline callers). The trainer only calls it when the CPU supports AVX-512.
#include "train_kernel.h"
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,fma,prefer-vector-width=512")
#define FS_V 16
#define FS_NS train_avx512
#include "train_kernel.h"
#endif
