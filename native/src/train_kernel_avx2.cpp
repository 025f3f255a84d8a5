// AVX2 + FMA build of the training kernel (see train_kernel.h and train_kernel_avx512.cpp).
#include "train_kernel.h"
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx2,fma")
#define FS_V 8
#define FS_NS train_avx2
#include "train_kernel.h"
#endif
