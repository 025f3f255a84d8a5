// Baseline build of the int8 kernel: pmaddwd on int16 pairs with SSE2 (every x86-64), plain C++
// elsewhere. Always compiled; the fallback when nothing better is supported.
#define FS_I8_LANES 4
#define FS_I8_K 2
#define FS_I8_CHUNK 4
#define FS_I8_NS sse2
#include "kernel_int8_impl.h"
