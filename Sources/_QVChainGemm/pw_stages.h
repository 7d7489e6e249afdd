// Pointwise stages on AVX-512 vectors, shared by the pointwise chain and the kernels that apply
// a chain to their results while still in registers (the VNNI conv, the exact depthwise conv).
// Internal to _QVChainGemm. The operations, and their order, are qv_pointwise_chain's.
#ifndef QV_PW_STAGES_H
#define QV_PW_STAGES_H

#include "qv_chain_gemm.h"

// A product then a sum stays two roundings in every file that includes this (see chain_gemm.c).
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>

#define QV_PW_MAX_STAGES 8

// Stage k's parameters as vectors: the same in every lane (one parameter set), or per lane.
typedef struct {
    __m512 a[QV_PW_MAX_STAGES], b[QV_PW_MAX_STAGES], l[QV_PW_MAX_STAGES], h[QV_PW_MAX_STAGES];
    __m512i z[QV_PW_MAX_STAGES];
    // pair[k]: stage k (re)quantizes and stage k + 1 dequantizes with the same zero point in
    // every lane, so (rint(t) + z) − z is rint(t): the zero point is neither added nor taken off.
    int pair[QV_PW_MAX_STAGES];
} qv_pw512;

static inline int qv_pw_quantizes(int kind) { return kind == QV_PW_QUANTIZE || kind == QV_PW_REQUANTIZE; }

// Every lane takes parameter set c (stages with one set take theirs); the pair flags are not
// touched (qv_pw512_pairs sets them once per call).
__attribute__((target("avx512f"), always_inline)) static inline void qv_pw512_set(const qv_pw_stage *st, size_t ns,
                                                                                   size_t c, qv_pw512 *p) {
    for (size_t k = 0; k < ns; k++) {
        const size_t j = st[k].count == 1 ? 0 : c;
        p->a[k] = _mm512_set1_ps(st[k].scale ? st[k].scale[j] : 0.0f);
        p->b[k] = _mm512_set1_ps(st[k].shift ? st[k].shift[j] : 0.0f);
        p->z[k] = _mm512_set1_epi32(st[k].zero ? st[k].zero[j] : 0);
        p->l[k] = _mm512_set1_ps(st[k].lo);
        p->h[k] = _mm512_set1_ps(st[k].hi);
    }
}

// Which stages pair with the next (see qv_pw512): decided once per call, for every one of the
// `channels` parameter sets at once, so the flags hold in every lane of any parameter layout.
static inline void qv_pw512_pairs(const qv_pw_stage *st, size_t ns, size_t channels, qv_pw512 *p) {
    for (size_t k = 0; k < ns; k++) {
        int pair = k + 1 < ns && qv_pw_quantizes(st[k].kind) && st[k + 1].kind == QV_PW_DEQUANTIZE && st[k].zero &&
                   st[k + 1].zero;
        for (size_t c = 0; pair && c < channels; c++)
            pair = st[k].zero[st[k].count == 1 ? 0 : c] == st[k + 1].zero[st[k + 1].count == 1 ? 0 : c];
        p->pair[k] = pair;
    }
}

// The stages over u vectors (u a constant at the call, so the loops unroll): v holds floats and
// q int32 values; a dequantize reads q, a (re)quantize writes q, the others read and write v.
// Lanes the caller does not store may hold anything (0/0 is NaN, never stored).
__attribute__((target("avx512f"), always_inline)) static inline void qv_pw512_apply(const qv_pw_stage *st, size_t ns,
                                                                                     const qv_pw512 *p, size_t u,
                                                                                     __m512 *v, __m512i *q) {
    const __m512 zero = _mm512_setzero_ps();
    for (size_t k = 0; k < ns; k++) {
        switch (st[k].kind) {
        case QV_PW_DEQUANTIZE:
            for (size_t i = 0; i < u; i++) v[i] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q[i], p->z[k])), p->a[k]);
            break;
        case QV_PW_AFFINE:
            for (size_t i = 0; i < u; i++) v[i] = _mm512_add_ps(_mm512_mul_ps(v[i], p->a[k]), p->b[k]);
            break;
        case QV_PW_RELU:
            for (size_t i = 0; i < u; i++) v[i] = _mm512_mask_mov_ps(v[i], _mm512_cmp_ps_mask(zero, v[i], _CMP_GE_OQ), zero);
            break;
        default:
            for (size_t i = 0; i < u; i++) {
                __m512 t = st[k].kind == QV_PW_REQUANTIZE ? _mm512_mul_ps(v[i], p->a[k]) : _mm512_div_ps(v[i], p->a[k]);
                t = _mm512_min_ps(_mm512_max_ps(t, p->l[k]), p->h[k]);  // max(t, lo) is lo for NaN
                const __m512i r = _mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                // Paired: the next stage's float(q − z)·scale is float(r)·scale (a float rounding
                // of t would keep the sign of −0; the integer has none).
                if (p->pair[k]) v[i] = _mm512_mul_ps(_mm512_cvtepi32_ps(r), p->a[k + 1]);
                else q[i] = _mm512_add_epi32(r, p->z[k]);
            }
            k += p->pair[k] != 0;
        }
    }
}

// Whether the last stage writes integers.
static inline int qv_pw_writes_integers(const qv_pw_stage *st, size_t ns) {
    return st[ns - 1].kind == QV_PW_QUANTIZE || st[ns - 1].kind == QV_PW_REQUANTIZE;
}

#endif
#endif
