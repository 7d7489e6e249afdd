// Pointwise stages on AVX-512 and AVX2 vectors, shared by the pointwise chain and the kernels that apply
// a chain to their results while still in registers (the VNNI conv, the exact depthwise conv).
// Internal to _QVChainGemm. The operations, and their order, are qv_pointwise_chain's.
#ifndef QV_PW_STAGES_H
#define QV_PW_STAGES_H

#include "qv_chain_gemm.h"

// A product then a sum stays two roundings in every file that includes this (see chain_gemm.c).
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include "qv_isa.h"

#define QV_PW_MAX_STAGES 8

// Which stages pair with the next: stage k (re)quantizes and stage k + 1 dequantizes with the same
// zero point in every lane, so (rint(t) + z) − z is rint(t): the zero point is neither added nor
// taken off. Decided once per call, for every one of the `channels` parameter sets at once, so the
// flags hold in every lane of any parameter layout.
static inline int qv_pw_quantizes(int kind) { return kind == QV_PW_QUANTIZE || kind == QV_PW_REQUANTIZE; }

static inline void qv_pw_pairs(const qv_pw_stage *st, size_t ns, size_t channels, int *pair) {
    for (size_t k = 0; k < ns; k++) {
        int pr = k + 1 < ns && qv_pw_quantizes(st[k].kind) && st[k + 1].kind == QV_PW_DEQUANTIZE && st[k].zero &&
                 st[k + 1].zero;
        for (size_t c = 0; pr && c < channels; c++)
            pr = st[k].zero[st[k].count == 1 ? 0 : c] == st[k + 1].zero[st[k + 1].count == 1 ? 0 : c];
        pair[k] = pr;
    }
}

// One definition of the stages per vector width (W: 512 for AVX-512, 256 for AVX2):
// - qv_pwW: stage k's parameters as vectors, the same in every lane (one parameter set) or per
//   lane, and the pair flags;
// - qv_pwW_pairs: the pair flags (once per call); qv_pwW_set: every lane takes parameter set c
//   (stages with one set take theirs), the pair flags untouched;
// - qv_pwW_apply: the stages over u vectors (u a constant at the call, so the loops unroll): v
//   holds floats and q int32 values; qv_pwW_apply_rows: the same over rows × u vectors, row r with
//   its own parameter set; a dequantize reads q, a (re)quantize writes q, the others
//   read and write v. Lanes the caller does not store may hold anything (0/0 is NaN, never stored).
// Rounding is to nearest even (AVX2's cvtps2dq in the default mode), NaN and overflow give
// INT32_MIN in both; max(t, lo) is lo for NaN; ReLU keeps v unless 0 ≥ v.
#define QV_PW_DEFINE(W, ATTR, VF, VI, SET1_PS, SET1_EPI32, MUL, ADD, DIV, SUB_I, ADD_I, I2F, F2I, MIN, MAX, RELU)          \
    typedef struct {                                                                                                     \
        VF a[QV_PW_MAX_STAGES], b[QV_PW_MAX_STAGES], l[QV_PW_MAX_STAGES], h[QV_PW_MAX_STAGES];                           \
        VI z[QV_PW_MAX_STAGES];                                                                                          \
        int pair[QV_PW_MAX_STAGES];                                                                                      \
    } qv_pw##W;                                                                                                          \
    static inline void qv_pw##W##_pairs(const qv_pw_stage *st, size_t ns, size_t channels, qv_pw##W *p) {                \
        qv_pw_pairs(st, ns, channels, p->pair);                                                                          \
    }                                                                                                                    \
    ATTR static inline void qv_pw##W##_set(const qv_pw_stage *st, size_t ns, size_t c, qv_pw##W *p) {                    \
        for (size_t k = 0; k < ns; k++) {                                                                                \
            const size_t j = st[k].count == 1 ? 0 : c;                                                                   \
            p->a[k] = SET1_PS(st[k].scale ? st[k].scale[j] : 0.0f);                                                      \
            p->b[k] = SET1_PS(st[k].shift ? st[k].shift[j] : 0.0f);                                                      \
            p->z[k] = SET1_EPI32(st[k].zero ? st[k].zero[j] : 0);                                                        \
            p->l[k] = SET1_PS(st[k].lo);                                                                                 \
            p->h[k] = SET1_PS(st[k].hi);                                                                                 \
        }                                                                                                                \
    }                                                                                                                    \
    /* rows × u vectors, row r with parameter set p[r] (rows and u constants at the call): one */                        \
    /* dispatch per stage for the whole block. The pair flags are p[0]'s (the same in every set). */                     \
    ATTR static inline void qv_pw##W##_apply_rows(const qv_pw_stage *st, size_t ns, const qv_pw##W *p, size_t rows,      \
                                                  size_t u, VF *v, VI *q) {                                              \
        for (size_t k = 0; k < ns; k++) {                                                                                \
            switch (st[k].kind) {                                                                                        \
            case QV_PW_DEQUANTIZE:                                                                                       \
                for (size_t r = 0; r < rows; r++)                                                                        \
                    for (size_t i = 0; i < u; i++) v[r * u + i] = MUL(I2F(SUB_I(q[r * u + i], p[r].z[k])), p[r].a[k]);  \
                break;                                                                                                   \
            case QV_PW_AFFINE:                                                                                           \
                for (size_t r = 0; r < rows; r++)                                                                        \
                    for (size_t i = 0; i < u; i++) v[r * u + i] = ADD(MUL(v[r * u + i], p[r].a[k]), p[r].b[k]);          \
                break;                                                                                                   \
            case QV_PW_RELU:                                                                                             \
                for (size_t i = 0; i < rows * u; i++) v[i] = RELU(v[i]);                                                 \
                break;                                                                                                   \
            default:                                                                                                     \
                for (size_t r = 0; r < rows; r++)                                                                        \
                    for (size_t i = 0; i < u; i++) {                                                                     \
                        const size_t at = r * u + i;                                                                     \
                        VF t = st[k].kind == QV_PW_REQUANTIZE ? MUL(v[at], p[r].a[k]) : DIV(v[at], p[r].a[k]);           \
                        t = MIN(MAX(t, p[r].l[k]), p[r].h[k]);                                                           \
                        const VI n = F2I(t);                                                                             \
                        /* Paired: the next stage's float(q − z)·scale is float(n)·scale (a float rounding of t */       \
                        /* would keep the sign of −0; the integer has none).                                      */     \
                        if (p[0].pair[k]) v[at] = MUL(I2F(n), p[r].a[k + 1]);                                            \
                        else q[at] = ADD_I(n, p[r].z[k]);                                                                \
                    }                                                                                                    \
                k += p[0].pair[k] != 0;                                                                                  \
            }                                                                                                            \
        }                                                                                                                \
    }                                                                                                                    \
    ATTR static inline void qv_pw##W##_apply(const qv_pw_stage *st, size_t ns, const qv_pw##W *p, size_t u, VF *v,       \
                                             VI *q) {                                                                    \
        qv_pw##W##_apply_rows(st, ns, p, 1, u, v, q);                                                                    \
    }

#define QV_PW512_F2I(t) _mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define QV_PW512_RELU(v) _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(_mm512_setzero_ps(), v, _CMP_GE_OQ), _mm512_setzero_ps())
#define QV_PW256_RELU(v) _mm256_blendv_ps(v, _mm256_setzero_ps(), _mm256_cmp_ps(_mm256_setzero_ps(), v, _CMP_GE_OQ))
QV_PW_DEFINE(512, QV_TARGET("avx512f") __attribute__((always_inline)), __m512, __m512i, _mm512_set1_ps, _mm512_set1_epi32,
             _mm512_mul_ps, _mm512_add_ps, _mm512_div_ps, _mm512_sub_epi32, _mm512_add_epi32, _mm512_cvtepi32_ps,
             QV_PW512_F2I, _mm512_min_ps, _mm512_max_ps, QV_PW512_RELU)
QV_PW_DEFINE(256, QV_TARGET("avx2") __attribute__((always_inline)), __m256, __m256i, _mm256_set1_ps, _mm256_set1_epi32,
             _mm256_mul_ps, _mm256_add_ps, _mm256_div_ps, _mm256_sub_epi32, _mm256_add_epi32, _mm256_cvtepi32_ps,
             _mm256_cvtps_epi32, _mm256_min_ps, _mm256_max_ps, QV_PW256_RELU)

// Whether the last stage writes integers.
static inline int qv_pw_writes_integers(const qv_pw_stage *st, size_t ns) {
    return st[ns - 1].kind == QV_PW_QUANTIZE || st[ns - 1].kind == QV_PW_REQUANTIZE;
}

#endif
#endif
