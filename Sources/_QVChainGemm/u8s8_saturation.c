// onnxruntime's u8×s8 integer products on x86 without VNNI (AVX2, AVX-512BW): MLAS multiplies
// with vpmaddubsw, which adds the raw products of each k-pair (2j, 2j+1) into an int16 with
// saturation before vpmaddwd widens them into the int32 accumulator. Zero points are applied
// afterwards through row and column sums, so the only departure from the exact sum is, per
// pair, sat16(a0·b0 + a1·b1) − (a0·b0 + a1·b1). These functions add that departure to exact
// accumulators. Only pairs whose weights can reach the int16 bounds with some u8 input are
// visited (255·max(w0⁺ + w1⁺, w0⁻ + w1⁻) > 32767), so typical layers cost a fraction of the
// product itself.
#pragma STDC FP_CONTRACT OFF
#include "qv_chain_gemm.h"

#include <stdlib.h>
#include "qv_isa.h"

int qv_u8s8_pair_can_saturate(int32_t w0, int32_t w1) {
    int32_t pos = (w0 > 0 ? w0 : 0) + (w1 > 0 ? w1 : 0);
    int32_t neg = (w0 < 0 ? -w0 : 0) + (w1 < 0 ? -w1 : 0);
    int32_t worst = pos > neg ? pos : neg;
    return 255 * worst > 32767;
}

static inline int32_t pair_departure(int32_t a0, int32_t b0, int32_t a1, int32_t b1) {
    int32_t p = a0 * b0 + a1 * b1;
    if (p > 32767) return 32767 - p;
    if (p < -32768) return -32768 - p;
    return 0;
}

int64_t qv_u8s8_saturation_gemm(size_t m, size_t n, size_t k, const int32_t *a, ptrdiff_t sam, ptrdiff_t sak,
                                const int32_t *b, ptrdiff_t sbk, ptrdiff_t sbn, int64_t *corr) {
    int64_t events = 0;
    for (size_t j = 0; j < n; j++) {
        for (size_t kk = 0; kk + 1 < k; kk += 2) {
            int32_t b0 = b[(ptrdiff_t)kk * sbk + (ptrdiff_t)j * sbn];
            int32_t b1 = b[(ptrdiff_t)(kk + 1) * sbk + (ptrdiff_t)j * sbn];
            if (!qv_u8s8_pair_can_saturate(b0, b1)) continue;
            for (size_t i = 0; i < m; i++) {
                const int32_t *row = a + (ptrdiff_t)i * sam;
                int32_t d = pair_departure(row[(ptrdiff_t)kk * sak], b0, row[(ptrdiff_t)(kk + 1) * sak], b1);
                if (d) {
                    corr[i * n + j] += d;
                    events++;
                }
            }
        }
    }
    return events;
}

typedef struct {
    size_t c, ky, kx;
    int32_t w;
} qv_tap;

// Departures of one pair over one output row's run of pixels [lo, hi) where both taps read inside
// the image: a0 = r0[ox·sw], a1 = r1[ox·sw]. Branch-free so that it vectorizes; compiled for
// AVX-512, AVX2 and the baseline, and picked once per process.
#define QV_PAIR_RUN_BODY                                                                      \
    int64_t events = 0;                                                                       \
    for (size_t ox = lo; ox < hi; ox++) {                                                     \
        int32_t p = r0[ox * sw] * w0 + r1[ox * sw] * w1;                                      \
        int32_t c = p > 32767 ? 32767 : (p < -32768 ? -32768 : p);                            \
        out[ox] += c - p;                                                                     \
        events += c != p;                                                                     \
    }                                                                                         \
    return events;

typedef int64_t (*qv_pair_run_fn)(const int32_t *, const int32_t *, size_t, int32_t, int32_t, size_t, size_t, int64_t *);

QV_TARGET("avx512f,avx512bw,avx512dq,avx512vl")
static int64_t pair_run_avx512(const int32_t *r0, const int32_t *r1, size_t sw, int32_t w0, int32_t w1, size_t lo, size_t hi, int64_t *out) {
    QV_PAIR_RUN_BODY
}
QV_TARGET("avx2")
static int64_t pair_run_avx2(const int32_t *r0, const int32_t *r1, size_t sw, int32_t w0, int32_t w1, size_t lo, size_t hi, int64_t *out) {
    QV_PAIR_RUN_BODY
}
static int64_t pair_run_base(const int32_t *r0, const int32_t *r1, size_t sw, int32_t w0, int32_t w1, size_t lo, size_t hi, int64_t *out) {
    QV_PAIR_RUN_BODY
}

static qv_pair_run_fn pair_run(void) {
    static qv_pair_run_fn fn = 0;
    if (!fn) {
        qv_cpu_init();
        fn = qv_cpu_has("avx512bw") && qv_cpu_has("avx512vl") ? pair_run_avx512
           : qv_cpu_has("avx2") ? pair_run_avx2 : pair_run_base;
    }
    return fn;
}

/// Whether weights w0, w1 can saturate a pair with inputs in [0, amax].
static inline int can_saturate(int32_t w0, int32_t w1, int32_t amax) {
    int32_t pos = (w0 > 0 ? w0 : 0) + (w1 > 0 ? w1 : 0);
    int32_t neg = (w0 < 0 ? -w0 : 0) + (w1 < 0 ? -w1 : 0);
    int32_t worst = pos > neg ? pos : neg;
    return amax * worst > 32767;
}

int64_t qv_u8s8_saturation_conv(const qv_conv_geometry *g, const int32_t *x, int32_t xzp, const int32_t *w, size_t mg,
                                int64_t *corr) {
    const size_t kh = g->kernel_h, kw = g->kernel_w, ch = g->channels;
    const size_t ktotal = ch * kh * kw, pixels = g->out_h * g->out_w, sw = g->stride_w;
    // The largest input this image reads (padding reads xzp): pairs it cannot saturate are skipped.
    int32_t amax = xzp;
    for (size_t i = 0; i < ch * g->height * g->width; i++) amax = x[i] > amax ? x[i] : amax;
    qv_tap *taps = malloc(sizeof(qv_tap) * (ktotal + 1));
    if (!taps) return -1;
    const qv_pair_run_fn run = pair_run();
    int64_t events = 0;
    for (size_t mi = 0; mi < mg; mi++) {
        const int32_t *wm = w + mi * ktotal;
        // The reduction in MLAS's order: kernel row, kernel column, then channel (NHWC im2col).
        size_t t = 0;
        for (size_t ky = 0; ky < kh; ky++)
            for (size_t kx = 0; kx < kw; kx++)
                for (size_t c = 0; c < ch; c++) {
                    taps[t].c = c; taps[t].ky = ky; taps[t].kx = kx;
                    taps[t].w = wm[(c * kh + ky) * kw + kx];
                    t++;
                }
        int64_t *out = corr + mi * pixels;
        for (size_t p = 0; p + 1 < ktotal; p += 2) {
            const qv_tap t0 = taps[p], t1 = taps[p + 1];
            if (!can_saturate(t0.w, t1.w, amax)) continue;
            const ptrdiff_t off0 = (ptrdiff_t)(t0.kx * g->dilation_w) - g->pad_left;
            const ptrdiff_t off1 = (ptrdiff_t)(t1.kx * g->dilation_w) - g->pad_left;
            // Output columns whose input column ox·sw + off is inside the image, for both taps.
            ptrdiff_t lo0 = off0 >= 0 ? 0 : (-off0 + (ptrdiff_t)sw - 1) / (ptrdiff_t)sw;
            ptrdiff_t lo1 = off1 >= 0 ? 0 : (-off1 + (ptrdiff_t)sw - 1) / (ptrdiff_t)sw;
            ptrdiff_t hi0 = (ptrdiff_t)g->width - off0 > 0 ? ((ptrdiff_t)g->width - off0 + (ptrdiff_t)sw - 1) / (ptrdiff_t)sw : 0;
            ptrdiff_t hi1 = (ptrdiff_t)g->width - off1 > 0 ? ((ptrdiff_t)g->width - off1 + (ptrdiff_t)sw - 1) / (ptrdiff_t)sw : 0;
            size_t lo = (size_t)(lo0 > lo1 ? lo0 : lo1);
            size_t hi = (size_t)(hi0 < hi1 ? hi0 : hi1);
            if (hi > g->out_w) hi = g->out_w;
            if (lo > hi) lo = hi;
            for (size_t oy = 0; oy < g->out_h; oy++) {
                ptrdiff_t iy0 = (ptrdiff_t)(oy * g->stride_h + t0.ky * g->dilation_h) - g->pad_top;
                ptrdiff_t iy1 = (ptrdiff_t)(oy * g->stride_h + t1.ky * g->dilation_h) - g->pad_top;
                int in0y = iy0 >= 0 && iy0 < (ptrdiff_t)g->height, in1y = iy1 >= 0 && iy1 < (ptrdiff_t)g->height;
                int64_t *row = out + oy * g->out_w;
                // [a, b): the pixels the vectorized run covered (none when a tap's row is padding).
                size_t a = 0, b = 0;
                if (in0y && in1y && lo < hi) {
                    const int32_t *r0 = x + (t0.c * g->height + (size_t)iy0) * g->width + off0;
                    const int32_t *r1 = x + (t1.c * g->height + (size_t)iy1) * g->width + off1;
                    events += run(r0, r1, sw, t0.w, t1.w, lo, hi, row);
                    a = lo; b = hi;
                }
                // The rest of the row, one pixel at a time, padding read as xzp: [0, a) and [b, out_w).
                for (int part = 0; part < 2; part++) {
                    const size_t from = part == 0 ? 0 : b, to = part == 0 ? a : g->out_w;
                    for (size_t ox = from; ox < to; ox++) {
                        ptrdiff_t ix0 = (ptrdiff_t)(ox * sw) + off0, ix1 = (ptrdiff_t)(ox * sw) + off1;
                        int32_t a0 = in0y && ix0 >= 0 && ix0 < (ptrdiff_t)g->width ? x[(t0.c * g->height + iy0) * g->width + ix0] : xzp;
                        int32_t a1 = in1y && ix1 >= 0 && ix1 < (ptrdiff_t)g->width ? x[(t1.c * g->height + iy1) * g->width + ix1] : xzp;
                        int32_t d = pair_departure(a0, t0.w, a1, t1.w);
                        if (d) {
                            row[ox] += d;
                            events++;
                        }
                    }
                }
            }
        }
    }
    free(taps);
    return events;
}

int qv_host_integer_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
    qv_cpu_init();
    // MLAS's dispatch: VNNI (AVX-512 VNNI or AVX-VNNI) and AMX kernels take vpdpbusd, exact.
    if (qv_cpu_has("avx512vnni") || qv_cpu_has("avxvnni")) return 3;
    // AVX-512 BW without VNNI ("Avx512Core" kernels): vpmaddubsw.
    if (qv_cpu_has("avx512bw") && qv_cpu_has("avx512vl") && qv_cpu_has("avx512dq")) return 2;
    if (qv_cpu_has("avx2")) return 1;
    return 0;
#else
    return 0;
#endif
}
