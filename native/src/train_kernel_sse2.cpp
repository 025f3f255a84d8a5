// Baseline build of the training kernel (4-float vectors: SSE2 on x86-64, NEON elsewhere).
#define FS_V 4
#define FS_NS train_sse2
#include "train_kernel.h"
