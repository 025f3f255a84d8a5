// AVX-512 VNNI + AMX build of the int8 kernel: every layer's products on the tile unit (tdpbsud,
// 16 outputs x 16 rows x 64 inputs per instruction), requantization and everything else in
// AVX-512 exactly as the VNNI build (kernel_int8_avx512.cpp). Compiled with -mamx-tile -mamx-int8
// when the compiler takes them (FRAUDSCORE_HAVE_AMX) and picked at run time only where CPUID, the
// OS (XCR0) and Linux's arch_prctl(ARCH_REQ_XCOMP_PERM) all allow tile data (int8_engine.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define FS_I8_LANES 16
#define FS_I8_K 4
#define FS_I8_CHUNK 16
#define FS_I8_VNNI 1
#define FS_I8_ASM 1
#define FS_I8_AMX 1
#define FS_I8_NS avx512_amx
#include "kernel_int8_impl.h"
