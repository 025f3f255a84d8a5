// AVX2 build of the int8 kernel (vpmaddubsw on byte quads, then vpmaddwd; compiled with -mavx2,
// picked at run time).
#define FS_I8_LANES 8
#define FS_I8_K 4
#define FS_I8_CHUNK 8
#define FS_I8_AVX2 1
#define FS_I8_NS avx2
#include "kernel_int8_impl.h"
