// AVX2 + FMA build of the scoring kernel (compiled with -mavx2 -mfma; picked at run time).
#define FS_V 8
#define FS_NS avx2
#include "kernel_impl.h"
