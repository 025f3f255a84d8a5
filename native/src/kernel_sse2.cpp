// Baseline build of the scoring kernel: 4-float vectors, SSE2 on any x86-64 (NEON elsewhere).
#define FS_V 4
#define FS_NS sse2
#include "kernel_impl.h"
