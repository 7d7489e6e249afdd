// Instruction-set plumbing shared by the kernels (internal to _QVChainGemm): the x86 intrinsics,
// QV_TARGET(features) for a function that uses them, and the CPU's features (qv_cpu_init,
// qv_cpu_has).
//
// With QV_EMULATE_AVX512 (test builds only: scripts/emulated_avx512.sh, which compiles this module
// with -mavx2 -mfma) the AVX-512 intrinsics come from SIMDe (Debian's libsimde-dev), computed with
// AVX2, and the CPU claims every feature: the AVX-512 and VNNI kernels then run, lane for lane as
// written, on a host without them, so their sweeps run on AVX2-only machines too.
#ifndef QV_ISA_H
#define QV_ISA_H

#if defined(__x86_64__)
#if defined(QV_EMULATE_AVX512)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <string.h>
#define QV_TARGET(...)
#define qv_cpu_init() ((void)0)
#define qv_cpu_has(feature) ((void)(feature), 1)
#include <math.h>
// The intrinsics this SIMDe lacks, lane by lane as Intel's pseudocode defines them (masked loads
// and stores touch only the selected lanes).
static inline simde__m512i qv_emu_maskz_loadu_epi32(simde__mmask16 k, const void *p) {
    int32_t r[16] = {0};
    for (int i = 0; i < 16; i++) if (k >> i & 1) memcpy(&r[i], (const char *)p + 4 * i, 4);
    return simde_mm512_loadu_si512(r);
}
static inline simde__m512 qv_emu_maskz_loadu_ps(simde__mmask16 k, const void *p) {
    return simde_mm512_castsi512_ps(qv_emu_maskz_loadu_epi32(k, p));
}
static inline void qv_emu_mask_storeu_epi32(void *p, simde__mmask16 k, simde__m512i a) {
    int32_t v[16];
    simde_mm512_storeu_si512(v, a);
    for (int i = 0; i < 16; i++) if (k >> i & 1) memcpy((char *)p + 4 * i, &v[i], 4);
}
static inline void qv_emu_mask_storeu_ps(void *p, simde__mmask16 k, simde__m512 a) {
    qv_emu_mask_storeu_epi32(p, k, simde_mm512_castps_si512(a));
}
static inline simde__m512i qv_emu_mask_i32gather_epi32(simde__m512i src, simde__mmask16 k, simde__m512i idx,
                                                       const void *base, int scale) {
    int32_t r[16], ix[16];
    simde_mm512_storeu_si512(r, src);
    simde_mm512_storeu_si512(ix, idx);
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy(&r[i], (const char *)base + (ptrdiff_t)ix[i] * scale, 4);
    return simde_mm512_loadu_si512(r);
}
static inline simde__m512 qv_emu_cvtepi32_ps(simde__m512i a) {
    simde__m512i_private v = simde__m512i_to_private(a);
    simde__m512_private r;
    for (int i = 0; i < 16; i++) r.f32[i] = (float)v.i32[i];
    return simde__m512_from_private(r);
}
// float → int32 as x86 converts: out of range and NaN give INT32_MIN ("integer indefinite").
static inline int32_t qv_emu_f2i(float v) {
    return v >= -2147483648.0f && v < 2147483648.0f ? (int32_t)v : INT32_MIN;
}
static inline simde__m512i qv_emu_cvttps_epi32(simde__m512 a) {
    simde__m512_private v = simde__m512_to_private(a);
    simde__m512i_private r;
    for (int i = 0; i < 16; i++) r.i32[i] = qv_emu_f2i(truncf(v.f32[i]));
    return simde__m512i_from_private(r);
}
static inline simde__m512i qv_emu_cvt_roundps_epi32(simde__m512 a, int mode) {
    simde__m512_private v = simde__m512_to_private(a);
    simde__m512i_private r;
    for (int i = 0; i < 16; i++) {
        const float f = v.f32[i];
        const float t = (mode & 3) == 1 ? floorf(f) : (mode & 3) == 2 ? ceilf(f) : (mode & 3) == 3 ? truncf(f)
                                                                                     : nearbyintf(f);
        r.i32[i] = qv_emu_f2i(t);
    }
    return simde__m512i_from_private(r);
}
static inline simde__mmask16 qv_emu_cmplt_epi32_mask(simde__m512i a, simde__m512i b) {
    simde__m512i_private x = simde__m512i_to_private(a), y = simde__m512i_to_private(b);
    simde__mmask16 k = 0;
    for (int i = 0; i < 16; i++) k |= (simde__mmask16)((x.i32[i] < y.i32[i]) << i);
    return k;
}
static inline uint32_t qv_emu_reduce_max_epu32(simde__m512i a) {
    simde__m512i_private v = simde__m512i_to_private(a);
    uint32_t m = v.u32[0];
    for (int i = 1; i < 16; i++) m = v.u32[i] > m ? v.u32[i] : m;
    return m;
}
#define _mm512_maskz_loadu_epi32 qv_emu_maskz_loadu_epi32
#define _mm512_maskz_loadu_ps qv_emu_maskz_loadu_ps
#define _mm512_mask_storeu_epi32 qv_emu_mask_storeu_epi32
#define _mm512_mask_storeu_ps qv_emu_mask_storeu_ps
#define _mm512_mask_i32gather_epi32 qv_emu_mask_i32gather_epi32
#define _mm512_cvtepi32_ps qv_emu_cvtepi32_ps
#define _mm512_cvttps_epi32 qv_emu_cvttps_epi32
#define _mm512_cvt_roundps_epi32 qv_emu_cvt_roundps_epi32
#define _mm512_cmplt_epi32_mask qv_emu_cmplt_epi32_mask
#define _mm512_reduce_max_epu32 qv_emu_reduce_max_epu32
#else
#include <immintrin.h>
#define QV_TARGET(...) __attribute__((target(__VA_ARGS__)))
#define qv_cpu_init() __builtin_cpu_init()
#define qv_cpu_has(feature) __builtin_cpu_supports(feature)
#endif
#else
#define QV_TARGET(...)
#define qv_cpu_init() ((void)0)
#define qv_cpu_has(feature) ((void)(feature), 0)
#endif

#endif
