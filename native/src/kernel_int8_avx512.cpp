// AVX-512 VNNI build of the int8 kernel (vpdpbusd; compiled with -mavx512vnni, picked at run time).
// FS_I8_ASM: the weight operand of vpdpbusd as an embedded broadcast (inline asm; see dot()).
// GCC 12 reports the deliberately undefined pass-through operand of its own AVX-512 intrinsics
// (_mm512_undefined_*) as "may be used uninitialized": a false positive in the system header.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define FS_I8_LANES 16
#define FS_I8_K 4
#define FS_I8_CHUNK 16
#define FS_I8_VNNI 1
#define FS_I8_ASM 1
#define FS_I8_NS avx512
#include "kernel_int8_impl.h"
