// MLAS's float transcendental kernels as onnxruntime 1.32 runs them on x86-64 (the FMA3 kernels
// every AVX2 and AVX-512 host takes): the logistic and tanh rational approximations, the erf
// kernel, the sum-exp kernel of Softmax, and Gelu on top of erf and tanh. Each polynomial step is
// one fused multiply-add, as in those kernels; nothing else is fused (the file turns contraction
// off). Compiled twice: with the FMA instruction (the host's path) and with libm's fmaf (the
// portable path); both give the same bits. Checked against onnxruntime by the op suite
// (exact_sigmoid_tanh, exact_softmax_erf_gelu) and the unary/softmax/normalize sweeps.
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "qv_chain_gemm.h"
#include "qv_isa.h"

static inline float f_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t bits_f(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
// x86 vmaxps(a, b) / vminps(a, b): the second operand when either is NaN.
static inline float vmax(float a, float b) { return a > b ? a : b; }
static inline float vmin(float a, float b) { return a < b ? a : b; }

#define ALWAYS __attribute__((always_inline)) static inline

// MlasComputeLogistic: clamp to [−18, 18] (NaN to −18), p(x²)·x / q(x²) + 0.5, then max(0, ·).
ALWAYS float logistic1(float input) {
    float v = input >= -18.0f ? input : -18.0f;
    v = v < 18.0f ? v : 18.0f;
    const float x2 = v * v;
    float p = fmaf(x2, 4.37031012579801e-11f, 1.15627324459942e-07f);
    p = fmaf(x2, p, 6.08574864600143e-05f);
    p = fmaf(x2, p, 8.51377133304701e-03f);
    p = fmaf(x2, p, 2.48287947061529e-01f);
    float q = fmaf(x2, 6.10247389755681e-13f, 5.76102136993427e-09f);
    q = fmaf(x2, q, 6.29106785017040e-06f);
    q = fmaf(x2, q, 1.70198817374094e-03f);
    q = fmaf(x2, q, 1.16817656904453e-01f);
    q = fmaf(x2, q, 9.93151921023180e-01f);
    const float y = v * p / q + 0.5f;
    return isnan(y) ? y : (y >= 0.0f ? y : 0.0f);
}

// MlasComputeTanh: clamp to [−9, 9], p(x²)·x / q(x²).
ALWAYS float tanh1(float input) {
    float v = input >= -9.0f ? input : -9.0f;
    v = v < 9.0f ? v : 9.0f;
    const float x2 = v * v;
    float p = fmaf(x2, -2.76076847742355e-16f, 2.00018790482477e-13f);
    p = fmaf(x2, p, -8.60467152213735e-11f);
    p = fmaf(x2, p, 5.12229709037114e-08f);
    p = fmaf(x2, p, 1.48572235717979e-05f);
    p = fmaf(x2, p, 6.37261928875436e-04f);
    p = fmaf(x2, p, 4.89352455891786e-03f);
    float q = fmaf(x2, 1.19825839466702e-06f, 1.18534705686654e-04f);
    q = fmaf(x2, q, 2.26843463243900e-03f);
    q = fmaf(x2, q, 4.89352518554385e-03f);
    return v * p / q;
}

#define EXP_BIAS 12582912.0f  // 1.5·2²³: rounds to an integer in the low mantissa bits
#define EXP_LOG2E f_bits(0x3FB8AA3Bu)
#define EXP_LN2_HI f_bits(0xBF317200u)
#define EXP_LN2_LO f_bits(0xB5BFBE8Eu)
#define SUMEXP_LOWER_FMA3 f_bits(0xC2B0C0A5u)    // −88.376…
#define SUMEXP_LOWER_AVX512 f_bits(0xC2CFF1B5u)  // −103.97…

// One lane of MLAS's sum-exp kernel on v = x − max: FMA3 rebuilds 2^m by shifting the biased
// integer into the exponent (0 below −87.68); AVX-512F clamps lower and scales with vscalefps.
ALWAYS float sumexp1(float input, int avx512) {
    const float v = vmax(avx512 ? SUMEXP_LOWER_AVX512 : SUMEXP_LOWER_FMA3, input);
    const float biased = fmaf(EXP_LOG2E, v, EXP_BIAS);
    const float m = biased - EXP_BIAS;
    float r = fmaf(m, EXP_LN2_HI, v);
    r = fmaf(m, EXP_LN2_LO, r);
    float p = fmaf(f_bits(0x3AB4A000u), r, f_bits(0x3C092F6Eu));
    p = fmaf(p, r, f_bits(0x3D2AADADu));
    p = fmaf(p, r, f_bits(0x3E2AAA28u));
    p = fmaf(p, r, f_bits(0x3EFFFFFBu));
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    if (avx512) {
        if (!isfinite(m) || isnan(p)) return NAN;
        return (float)ldexp((double)p, (int)m);
    }
    return p * f_bits((bits_f(biased) << 23) + 0x3F800000u);
}

// MlasErfKernelFma3 (every x86 host; clamp 3.925 in onnxruntime 1.32): below 0.921875 an odd
// polynomial, above it 1 − exp(−q(|x|)) with MLAS's exp; the sign put back, NaN through.
ALWAYS float erf1(float x) {
    const uint32_t sign = bits_f(x) & 0x80000000u;
    const float a = vmin(f_bits(0x407B3333u), f_bits(bits_f(x) & 0x7FFFFFFFu));
    const float s = a * a;
    float p = fmaf(-5.99104969e-4f, s, 4.99339588e-3f);
    p = fmaf(p, s, -2.67667342e-2f);
    p = fmaf(p, s, 1.12818025e-1f);
    p = fmaf(p, s, -3.76124859e-1f);
    p = fmaf(p, s, 1.28379151e-1f);
    const int big = a > f_bits(0x3F6C0000u);
    const float small = big ? 0.0f : fmaf(p, a, a);
    const float ab = big ? a : 0.0f;
    float q = fmaf(1.72948930e-5f, ab, -3.83208680e-4f);
    q = fmaf(q, ab, 3.88393435e-3f);
    q = fmaf(q, ab, -2.42545605e-2f);
    q = fmaf(q, ab, 1.06777847e-1f);
    q = fmaf(q, ab, 6.34846687e-1f);
    q = fmaf(q, ab, 1.28717512e-1f);
    q = fmaf(q, ab, ab);
    const float t = vmax(-q, SUMEXP_LOWER_FMA3);
    const float r = fmaf(EXP_LOG2E, t, EXP_BIAS) - EXP_BIAS;
    float f = fmaf(EXP_LN2_HI, r, t);
    f = fmaf(r, EXP_LN2_LO, f);
    float y = fmaf(1.38319808e-3f, f, 8.37550033e-3f);
    y = fmaf(y, f, 4.16689515e-2f);
    y = fmaf(y, f, 1.66664466e-1f);
    y = fmaf(y, f, 4.99999851e-1f);
    y = fmaf(y, f, 1.0f);
    y = fmaf(y, f, 1.0f);
    const int32_t ri = isfinite(r) ? (int32_t)r : 0;
    y = 1.0f - y * f_bits((uint32_t)(ri + 127) << 23);
    return f_bits(bits_f(y) | bits_f(small) | sign);
}

// onnxruntime's Gelu: (0.5·x)·(erf(x·(1/√2)) + 1), or with tanh (0.5·x)·(tanh(x·((C·x)·x + B)) + 1).
ALWAYS float gelu1(float x, int tanh_form) {
    if (tanh_form) {
        const float inner = (f_bits(0x3D122279u) * x) * x + f_bits(0x3F4C422Au);
        return (0.5f * x) * (tanh1(x * inner) + 1.0f);
    }
    return (0.5f * x) * (erf1(x * f_bits(0x3F3504F3u)) + 1.0f);
}

// MlasComputeSoftmax on one row: max, e = exp(x − max) summed with element i in lane i mod
// lanes (8, or 16 on AVX-512F, reduced to 8 first), pairwise lane reduction, then (1/S)·e or
// (x − max) − logf(S).
ALWAYS void softmax_row(const float *x, float *y, size_t n, int log_softmax, int avx512) {
    float maximum = -3.40282347e+38f;
    for (size_t i = 0; i < n; i++) maximum = vmax(maximum, x[i]);
    const float neg_max = -maximum;
    float acc[16] = {0};
    const size_t mask = avx512 ? 15 : 7;
    for (size_t i = 0; i < n; i++) {
        const float e = sumexp1(neg_max + x[i], avx512);
        if (!log_softmax) y[i] = e;
        acc[i & mask] = acc[i & mask] + e;
    }
    if (avx512)
        for (int k = 0; k < 8; k++) acc[k] = acc[k + 8] + acc[k];
    const float s = ((acc[4] + acc[5]) + (acc[6] + acc[7])) + ((acc[0] + acc[1]) + (acc[2] + acc[3]));
    if (log_softmax) {
        const float l = logf(s);
        for (size_t i = 0; i < n; i++) y[i] = (neg_max + x[i]) - l;
    } else {
        const float scale = 1.0f / s;
        for (size_t i = 0; i < n; i++) y[i] = scale * y[i];
    }
}

#define DEFINE_LOOPS(SUFFIX, TARGET)                                                                      \
    TARGET static void logistic_##SUFFIX(const float *x, float *y, size_t n) {                           \
        for (size_t i = 0; i < n; i++) y[i] = logistic1(x[i]);                                            \
    }                                                                                                     \
    TARGET static void tanh_##SUFFIX(const float *x, float *y, size_t n) {                               \
        for (size_t i = 0; i < n; i++) y[i] = tanh1(x[i]);                                                \
    }                                                                                                     \
    TARGET static void erf_##SUFFIX(const float *x, float *y, size_t n) {                                \
        for (size_t i = 0; i < n; i++) y[i] = erf1(x[i]);                                                 \
    }                                                                                                     \
    TARGET static void gelu_##SUFFIX(const float *x, float *y, size_t n, int tanh_form) {                \
        for (size_t i = 0; i < n; i++) y[i] = gelu1(x[i], tanh_form);                                     \
    }                                                                                                     \
    TARGET static void softmax_##SUFFIX(const float *x, float *y, size_t n, int log_softmax, int avx512) { \
        softmax_row(x, y, n, log_softmax, avx512);                                                        \
    }

DEFINE_LOOPS(fma, QV_TARGET("fma"))
DEFINE_LOOPS(portable, )

void qv_mlas_logistic(const float *x, float *y, size_t n) {
    if (qv_chain_path_has_fma()) logistic_fma(x, y, n); else logistic_portable(x, y, n);
}
void qv_mlas_tanh(const float *x, float *y, size_t n) {
    if (qv_chain_path_has_fma()) tanh_fma(x, y, n); else tanh_portable(x, y, n);
}
void qv_mlas_erf(const float *x, float *y, size_t n) {
    if (qv_chain_path_has_fma()) erf_fma(x, y, n); else erf_portable(x, y, n);
}
void qv_mlas_gelu(const float *x, float *y, size_t n, int tanh_form) {
    if (qv_chain_path_has_fma()) gelu_fma(x, y, n, tanh_form); else gelu_portable(x, y, n, tanh_form);
}
void qv_mlas_softmax_row(const float *x, float *y, size_t n, int log_softmax, int avx512) {
    if (qv_chain_path_has_fma()) softmax_fma(x, y, n, log_softmax, avx512);
    else softmax_portable(x, y, n, log_softmax, avx512);
}
