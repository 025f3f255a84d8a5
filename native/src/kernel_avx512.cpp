// AVX-512 build of the scoring kernel (compiled with -mavx512f -mfma; picked at run time).
#define FS_V 16
#define FS_NS avx512
#include "kernel_impl.h"
