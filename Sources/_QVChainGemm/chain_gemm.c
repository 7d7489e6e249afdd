// Fixed-order float GEMM: every output is an FMA chain over k from zero (see qv_chain_gemm.h).
// Register blocks: 8 rows × 32 columns with AVX-512, 6 rows × 16 columns with AVX2; the
// reduction order per element is the same in every path.

#include "qv_chain_gemm.h"

// Every product and sum here is rounded as written: a compiler may not fuse a*b + c into one FMA
// (bit-exactness must not hang on a command-line flag: Package.swift passes none; without this
// pragma clang's default -ffp-contract=on fuses and BatchTests/GoldenTests fail).
#pragma STDC FP_CONTRACT OFF

#include "qv_isa.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pw_stages.h"
#include "flat_outputs.h"
#include "lanes256.h"
#include "lanes512.h"

static void chain_portable(size_t m, size_t n, size_t k, const float *a, size_t lda,
                           const float *b, size_t ldb, float *c, size_t ldc, int accumulate,
                           size_t j0) {
    for (size_t i = 0; i < m; i++) {
        for (size_t j = j0; j < n; j++) {
            float acc = 0.0f;
            for (size_t p = 0; p < k; p++) acc = fmaf(a[i * lda + p], b[p * ldb + j], acc);
            c[i * ldc + j] = accumulate ? acc + c[i * ldc + j] : acc;
        }
    }
}

// MARK: - AVX-512

#define QV_AVX512 QV_TARGET("avx512f") __attribute__((always_inline)) static inline

// Loads and stores of cnt lanes at p (W = 512: 16 lanes and mask registers; W = 256, in
// lanes256.h: 8 lanes, plain loads and stores for whole vectors, masked loads and piecewise stores
// for the rest); lane_mask and strided_lanes are lanes512.h's.
#define QV_V512_LOADF(cnt, p) _mm512_maskz_loadu_ps(lane_mask(cnt), p)
#define QV_V512_LOADI(cnt, p) _mm512_maskz_loadu_epi32(lane_mask(cnt), p)
#define QV_V512_STOREF(cnt, p, v) _mm512_mask_storeu_ps(p, lane_mask(cnt), v)
#define QV_V512_STOREI(cnt, p, v) _mm512_mask_storeu_epi32(p, lane_mask(cnt), v)

// dst[j] = src[j·s] for j < n (32-bit values): 16 lanes per store for s = 1 and 2, one by one
// otherwise.
QV_AVX512 void strided_copy_avx512(const float *src, size_t s, size_t n, float *dst) {
    if (s > 2) {
        for (size_t j = 0; j < n; j++) dst[j] = src[j * s];
        return;
    }
    for (size_t j = 0; j < n; j += 16) {
        const size_t cnt = n - j < 16 ? n - j : 16;
        _mm512_mask_storeu_epi32(dst + j, lane_mask(cnt), strided_lanes(src + j * s, s, cnt));
    }
}

// AVX2 forms of the strided copies (and of strided_shift, below), from lanes256.h's lanes.
// dst[j] = src[j·s] for j < n (32-bit values): 8 lanes per store (the last one masked) for s = 1
// and 2, one by one otherwise.
QV_TARGET("avx2")
static inline void strided_copy_avx2(const float *src, size_t s, size_t n, float *dst) {
    if (s == 1) { memcpy(dst, src, n * sizeof(float)); return; }
    if (s > 2) {
        for (size_t j = 0; j < n; j++) dst[j] = src[j * s];
        return;
    }
    for (size_t j = 0; j < n; j += 8) QV_V256_STOREI(n - j, (int32_t *)dst + j, strided_lanes256((const int32_t *)src + 2 * j, 2, n - j));
}

// One 8×32 block (rows ≤ 8, masked columns): reduction step p reads B at b0 + o (columns 0–15) and
// b1 + o (columns 16–31), o = off[p] when an offset table is given (a convolution read straight
// from its padded input), else p·ldb (a matrix). Both callers pass a constant off, so inlining
// leaves no test in the loop.
QV_AVX512 void block512(size_t rows, size_t k, const float *a, size_t lda, const float *b0, const float *b1,
                        const ptrdiff_t *off, size_t ldb, float *c, size_t ldc, int accumulate,
                        __mmask16 m0, __mmask16 m1) {
    __m512 acc[8][2];
    for (size_t r = 0; r < 8; r++) { acc[r][0] = _mm512_setzero_ps(); acc[r][1] = _mm512_setzero_ps(); }
    for (size_t p = 0; p < k; p++) {
        const ptrdiff_t o = off ? off[p] : (ptrdiff_t)(p * ldb);
        __m512 v0 = _mm512_maskz_loadu_ps(m0, b0 + o);
        __m512 v1 = _mm512_maskz_loadu_ps(m1, b1 + o);
        for (size_t r = 0; r < rows; r++) {
            __m512 av = _mm512_set1_ps(a[r * lda + p]);
            acc[r][0] = _mm512_fmadd_ps(av, v0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, v1, acc[r][1]);
        }
    }
    for (size_t r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        __m512 o0 = acc[r][0], o1 = acc[r][1];
        if (accumulate) {
            o0 = _mm512_add_ps(o0, _mm512_maskz_loadu_ps(m0, cr));
            o1 = _mm512_add_ps(o1, _mm512_maskz_loadu_ps(m1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, m0, o0);
        _mm512_mask_storeu_ps(cr + 16, m1, o1);
    }
}

#define QV_ROWS512(R) \
    case R: block512(R, k, a + i * lda, lda, b + j, b + j + 16, NULL, ldb, c + i * ldc + j, ldc, accumulate, m0, m1); break;

QV_TARGET("avx512f")
static void chain_avx512(size_t m, size_t n, size_t k, const float *a, size_t lda,
                         const float *b, size_t ldb, float *c, size_t ldc, int accumulate) {
    for (size_t j = 0; j < n; j += 32) {
        size_t w = n - j < 32 ? n - j : 32;
        __mmask16 m0 = lane_mask(w), m1 = lane_mask(w > 16 ? w - 16 : 0);
        for (size_t i = 0; i < m; i += 8) {
            switch (m - i < 8 ? m - i : 8) {
                QV_ROWS512(1) QV_ROWS512(2) QV_ROWS512(3) QV_ROWS512(4)
                QV_ROWS512(5) QV_ROWS512(6) QV_ROWS512(7) QV_ROWS512(8)
            }
        }
    }
}

// MARK: - AVX2 + FMA3

#define QV_AVX2 QV_TARGET("avx2,fma") __attribute__((always_inline)) static inline

// One 6×16 block (rows ≤ 6): step p reads B at b0 + o (columns 0–7) and b1 + o (columns 8–15),
// o = off[p] or p·ldb, as block512; `halves` (1 or 2) of the 16 columns are stored.
QV_AVX2 void block256(size_t rows, size_t k, const float *a, size_t lda, const float *b0, const float *b1,
                      const ptrdiff_t *off, size_t ldb, float *c, size_t ldc, int accumulate, size_t halves) {
    __m256 acc[6][2];
    for (size_t r = 0; r < 6; r++) { acc[r][0] = _mm256_setzero_ps(); acc[r][1] = _mm256_setzero_ps(); }
    for (size_t p = 0; p < k; p++) {
        const ptrdiff_t o = off ? off[p] : (ptrdiff_t)(p * ldb);
        __m256 v0 = _mm256_loadu_ps(b0 + o), v1 = _mm256_loadu_ps(b1 + o);
        for (size_t r = 0; r < rows; r++) {
            __m256 av = _mm256_broadcast_ss(a + r * lda + p);
            acc[r][0] = _mm256_fmadd_ps(av, v0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, v1, acc[r][1]);
        }
    }
    for (size_t r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        __m256 o0 = acc[r][0], o1 = acc[r][1];
        if (accumulate) o0 = _mm256_add_ps(o0, _mm256_loadu_ps(cr));
        _mm256_storeu_ps(cr, o0);
        if (halves < 2) continue;
        if (accumulate) o1 = _mm256_add_ps(o1, _mm256_loadu_ps(cr + 8));
        _mm256_storeu_ps(cr + 8, o1);
    }
}

#define QV_ROWS256(R) \
    case R: block256(R, k, a + i * lda, lda, b + j, b + j + 8, NULL, ldb, c + i * ldc + j, ldc, accumulate, 2); break;

QV_TARGET("avx2,fma")
static void chain_avx2(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                       size_t ldb, float *c, size_t ldc, int accumulate) {
    size_t full = n / 16 * 16;
    for (size_t j = 0; j < full; j += 16) {
        for (size_t i = 0; i < m; i += 6) {
            switch (m - i < 6 ? m - i : 6) {
                QV_ROWS256(1) QV_ROWS256(2) QV_ROWS256(3) QV_ROWS256(4) QV_ROWS256(5) QV_ROWS256(6)
            }
        }
    }
    if (full < n) chain_portable(m, n, k, a, lda, b, ldb, c, ldc, accumulate, full);
}

// MARK: - Dispatch

enum { PATH_UNKNOWN, PATH_PORTABLE, PATH_AVX2, PATH_AVX512 };
static const char *const path_names[] = {"", "portable", "avx2+fma", "avx512f"};
static int chosen_path = PATH_UNKNOWN;

static int cpu_runs(int p) {
    qv_cpu_init();
    switch (p) {
    case PATH_AVX512: return qv_cpu_has("avx512f");
    case PATH_AVX2: return qv_cpu_has("avx2") && qv_cpu_has("fma");
    default: return p == PATH_PORTABLE;
    }
}

static int path(void) {
    if (chosen_path == PATH_UNKNOWN) {
        chosen_path = cpu_runs(PATH_AVX512) ? PATH_AVX512 : cpu_runs(PATH_AVX2) ? PATH_AVX2 : PATH_PORTABLE;
    }
    return chosen_path;
}

void qv_sgemm_chain(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                    size_t ldb, float *c, size_t ldc, int accumulate) {
    if (m == 0 || n == 0) return;
    switch (path()) {
    case PATH_AVX512: chain_avx512(m, n, k, a, lda, b, ldb, c, ldc, accumulate); break;
    case PATH_AVX2: chain_avx2(m, n, k, a, lda, b, ldb, c, ldc, accumulate); break;
    default: chain_portable(m, n, k, a, lda, b, ldb, c, ldc, accumulate, 0); break;
    }
}

int qv_sgemm_chain_set_path(const char *name) {
    for (int p = PATH_PORTABLE; p <= PATH_AVX512; p++) {
        if (strcmp(name, path_names[p]) == 0 && cpu_runs(p)) {
            chosen_path = p;
            return 1;
        }
    }
    return 0;
}

const char *qv_sgemm_chain_path(void) { return path_names[path()]; }

int qv_chain_path_has_fma(void) { return path() != PATH_PORTABLE; }

// MARK: - Convolution without an im2col matrix

enum { PANEL = 128 };

// The output pixels of one panel as runs within output rows (computed once per panel). Column n
// of a panel is pixel n mod (out_h·out_w) of image n / (out_h·out_w): a panel may span images.
typedef struct { size_t count; size_t img[PANEL], oy[PANEL], ox[PANEL], len[PANEL], pos[PANEL]; } panel_runs;

static void make_runs(const qv_conv_geometry *g, size_t n0, size_t width, panel_runs *runs) {
    const size_t pixels = g->out_h * g->out_w;
    size_t n = n0, end = n0 + width, pos = 0;
    runs->count = 0;
    while (n < end) {
        size_t img = n / pixels, rem = n % pixels;
        size_t oy = rem / g->out_w, ox = rem % g->out_w;
        size_t len = g->out_w - ox < end - n ? g->out_w - ox : end - n;
        runs->img[runs->count] = img;
        runs->oy[runs->count] = oy; runs->ox[runs->count] = ox;
        runs->len[runs->count] = len; runs->pos[runs->count] = pos;
        runs->count++;
        pos += len; n += len;
    }
}

// A reduction step's place in the im2col order: input channel, kernel row, kernel column.
typedef struct { size_t ci, ki, kj; } kpos;

static inline kpos kpos_at(const qv_conv_geometry *g, size_t k) {
    const size_t khw = g->kernel_h * g->kernel_w;
    return (kpos){k / khw, (k % khw) / g->kernel_w, k % g->kernel_w};
}

static inline void kpos_next(const qv_conv_geometry *g, kpos *p) {
    if (++p->kj == g->kernel_w) {
        p->kj = 0;
        if (++p->ki == g->kernel_h) { p->ki = 0; p->ci++; }
    }
}

// Rows k0..k0+kb of the im2col matrix for the panel's output pixels (`runs`), as a kb × PANEL
// panel, reading x with bounds checks (any stride or padding, negative pads included).
static void conv_panel(const qv_conv_geometry *g, const float *x, size_t x_image, size_t k0, size_t kb,
                       const panel_runs *runs, size_t width, float *panel) {
    kpos at = kpos_at(g, k0);
    for (size_t r = 0; r < kb; r++, kpos_next(g, &at)) {
        float *panel_row = panel + r * PANEL;
        for (size_t s = 0; s < runs->count; s++) {
            const float *plane = x + runs->img[s] * x_image + at.ci * g->height * g->width;
            float *dst = panel_row + runs->pos[s];
            const size_t seg = runs->len[s];
            ptrdiff_t iy = (ptrdiff_t)(runs->oy[s] * g->stride_h + at.ki * g->dilation_h) - g->pad_top;
            if (iy < 0 || iy >= (ptrdiff_t)g->height) {
                memset(dst, 0, seg * sizeof(float));
                continue;
            }
            const float *row = plane + (size_t)iy * g->width;
            ptrdiff_t ix = (ptrdiff_t)(runs->ox[s] * g->stride_w + at.kj * g->dilation_w) - g->pad_left;
            if (g->stride_w == 1) {
                ptrdiff_t lo = ix < 0 ? -ix : 0;
                ptrdiff_t hi = (ptrdiff_t)g->width - ix;
                if (hi > (ptrdiff_t)seg) hi = (ptrdiff_t)seg;
                if (hi < lo) hi = lo;
                if (lo > (ptrdiff_t)seg) lo = hi = (ptrdiff_t)seg;
                for (ptrdiff_t t = 0; t < lo; t++) dst[t] = 0.0f;
                if (hi > lo) memcpy(dst + lo, row + ix + lo, (size_t)(hi - lo) * sizeof(float));
                for (ptrdiff_t t = hi; t < (ptrdiff_t)seg; t++) dst[t] = 0.0f;
            } else {
                // Positions t with 0 <= ix + t·sw < width form one interval [lo, hi): zeros, a
                // strided copy without per-element checks, zeros (the same panel as a checked loop).
                const ptrdiff_t sw = (ptrdiff_t)g->stride_w, w = (ptrdiff_t)g->width, n = (ptrdiff_t)seg;
                ptrdiff_t lo = ix >= 0 ? 0 : (-ix + sw - 1) / sw;
                ptrdiff_t hi = w - ix > 0 ? (w - ix + sw - 1) / sw : 0;
                if (hi > n) hi = n;
                if (lo > hi) lo = hi;
                for (ptrdiff_t t = 0; t < lo; t++) dst[t] = 0.0f;
                const float *src = row + ix;
                for (ptrdiff_t t = lo; t < hi; t++) dst[t] = src[t * sw];
                for (ptrdiff_t t = hi; t < n; t++) dst[t] = 0.0f;
            }
        }
        for (size_t t = width; t < PANEL; t++) panel_row[t] = 0.0f;
    }
}

// The same panel read from inputs already padded with zeros (pads 0, every position inside; image
// i's copy at x + i·x_image): each run is a straight copy, a vector per load/store, or with
// stride 2 across the even lanes of two loaded vectors; other strides copy one by one.
#define QV_PANEL_PADDED(NAME, ATTR, COPY)                                                                          \
ATTR static void NAME(const qv_conv_geometry *p, const float *x, size_t x_image, size_t k0, size_t kb,          \
                      const panel_runs *runs, size_t width, float *panel) {                                      \
    kpos at = kpos_at(p, k0);                                                                                     \
    const size_t sw = p->stride_w;                                                                                \
    for (size_t r = 0; r < kb; r++, kpos_next(p, &at)) {                                                          \
        float *dst = panel + r * PANEL;                                                                           \
        const float *base = x + at.ci * p->height * p->width + at.ki * p->dilation_h * p->width + at.kj * p->dilation_w; \
        for (size_t s = 0; s < runs->count; s++) {                                                                \
            const float *src = base + runs->img[s] * x_image + runs->oy[s] * p->stride_h * p->width + runs->ox[s] * sw; \
            COPY(src, sw, runs->len[s], dst + runs->pos[s]);                                                      \
        }                                                                                                         \
        for (size_t t = width; t < PANEL; t++) dst[t] = 0.0f;                                                     \
    }                                                                                                             \
}
QV_PANEL_PADDED(conv_panel_padded_avx512, QV_TARGET("avx512f"), strided_copy_avx512)
QV_PANEL_PADDED(conv_panel_padded_avx2, QV_TARGET("avx2"), strided_copy_avx2)
#undef QV_PANEL_PADDED

// x copied into a zero border wide enough for every window: the geometry of the copy (pads 0).
// `images` inputs, image i at x + i·x_image, are copied one after the other.
static float *padded_copy(const qv_conv_geometry *g, const float *x, size_t images, size_t x_image, qv_conv_geometry *p) {
    size_t need_h = (g->out_h - 1) * g->stride_h + (g->kernel_h - 1) * g->dilation_h + 1;
    size_t need_w = (g->out_w - 1) * g->stride_w + (g->kernel_w - 1) * g->dilation_w + 1;
    size_t hp = g->height + (size_t)g->pad_top, wp = g->width + (size_t)g->pad_left;
    if (need_h > hp) hp = need_h;
    if (need_w > wp) wp = need_w;
    *p = *g;
    p->height = hp; p->width = wp; p->pad_top = 0; p->pad_left = 0;
    const size_t planes = images * g->channels;
    // 32 floats of slack: a stride-2 run's last masked load reads no further, but stays inside.
    float *buf = malloc((planes * hp * wp + 32) * sizeof(float));
    if (!buf) abort();
    // Pads are not negative here (the caller checks), so every input row fits inside the copy;
    // only the border around the rows is zeroed.
    const size_t pt = (size_t)g->pad_top, pl = (size_t)g->pad_left, right = wp - pl - g->width;
    for (size_t i = 0; i < images; i++) {
        for (size_t c = 0; c < g->channels; c++) {
            float *plane = buf + (i * g->channels + c) * hp * wp;
            const float *src = x + i * x_image + c * g->height * g->width;
            memset(plane, 0, pt * wp * sizeof(float));
            for (size_t y = 0; y < g->height; y++) {
                float *row = plane + (y + pt) * wp;
                memset(row, 0, pl * sizeof(float));
                memcpy(row + pl, src + y * g->width, g->width * sizeof(float));
                memset(row + pl + g->width, 0, right * sizeof(float));
            }
            memset(plane + (pt + g->height) * wp, 0, (hp - pt - g->height) * wp * sizeof(float));
        }
    }
    memset(buf + planes * hp * wp, 0, 32 * sizeof(float));
    return buf;
}

// y[r][n0..<n0+width] += bias[r] for every row: the conv bias, added after the whole sum (as MLAS
// does), while the tile is still in cache.
static void add_bias_tile(float *y, size_t m, size_t n, size_t n0, size_t width, const float *bias) {
    if (!bias) return;
    for (size_t r = 0; r < m; r++) {
        float *row = y + r * n + n0;
        const float b = bias[r];
        for (size_t t = 0; t < width; t++) row[t] = row[t] + b;
    }
}

// Each reduction step's offset in a padded copy (geometry p): channel, kernel row, kernel column.
static ptrdiff_t *step_offsets(const qv_conv_geometry *p) {
    const size_t k = p->channels * p->kernel_h * p->kernel_w;
    ptrdiff_t *off = malloc((k ? k : 1) * sizeof(ptrdiff_t));
    if (!off) abort();
    kpos at = kpos_at(p, 0);
    for (size_t kk = 0; kk < k; kk++, kpos_next(p, &at))
        off[kk] = (ptrdiff_t)((at.ci * p->height + at.ki * p->dilation_h) * p->width + at.kj * p->dilation_w);
    return off;
}

// Stride 1 across and output rows a whole number of half blocks wide (16 pixels with AVX-512, 8
// with AVX2): every half of a block of outputs is one contiguous run of one input row, so no
// panel is needed. Blocks of 2·HALF pixels (the last may have one half) × ROWS filters.
#define QV_CONV_DIRECT(NAME, ATTR, HALF, ROWS, BLOCK)                                                   \
ATTR static void NAME(const qv_conv_geometry *p, const float *padded, const float *w, size_t m, float *y, size_t bk, \
                      const qv_conv_geometry *g, const float *bias) {                                    \
    const size_t k = p->channels * p->kernel_h * p->kernel_w, n = g->out_h * g->out_w;                    \
    ptrdiff_t *off = step_offsets(p);                                                                    \
    for (size_t n0 = 0; n0 < n; n0 += 2 * HALF) {                                                        \
        const size_t width = n - n0 < 2 * HALF ? n - n0 : 2 * HALF;                                      \
        const size_t na = n0, nb = n0 + HALF < n ? n0 + HALF : n0;                                       \
        const float *b0 = padded + (na / g->out_w) * g->stride_h * p->width + na % g->out_w;             \
        const float *b1 = padded + (nb / g->out_w) * g->stride_h * p->width + nb % g->out_w;             \
        for (size_t k0 = 0; k0 < k; k0 += bk) {                                                          \
            const size_t kb = k - k0 < bk ? k - k0 : bk;                                                 \
            for (size_t i = 0; i < m; i += ROWS) {                                                       \
                const size_t rows = m - i < ROWS ? m - i : ROWS;                                         \
                const float *a = w + i * k + k0;                                                         \
                float *c = y + i * n + n0;                                                               \
                BLOCK                                                                                    \
            }                                                                                            \
        }                                                                                                \
        add_bias_tile(y, m, n, n0, width, bias);                                                         \
    }                                                                                                    \
    free(off);                                                                                           \
}
#define QV_DIRECT512(R) case R: block512(R, kb, a, k, b0, b1, off + k0, 0, c, n, k0 > 0, m0, m1); break;
#define QV_DIRECT_BLOCK512                                                                               \
    const __mmask16 m0 = lane_mask(width), m1 = lane_mask(width > 16 ? width - 16 : 0);                  \
    switch (rows) {                                                                                      \
        QV_DIRECT512(1) QV_DIRECT512(2) QV_DIRECT512(3) QV_DIRECT512(4)                                  \
        QV_DIRECT512(5) QV_DIRECT512(6) QV_DIRECT512(7) QV_DIRECT512(8)                                  \
    }
#define QV_DIRECT256(R) case R: block256(R, kb, a, k, b0, b1, off + k0, 0, c, n, k0 > 0, width > 8 ? 2 : 1); break;
#define QV_DIRECT_BLOCK256                                                                               \
    switch (rows) {                                                                                      \
        QV_DIRECT256(1) QV_DIRECT256(2) QV_DIRECT256(3) QV_DIRECT256(4) QV_DIRECT256(5) QV_DIRECT256(6)  \
    }
QV_CONV_DIRECT(conv_direct_avx512, QV_TARGET("avx512f"), 16, 8, QV_DIRECT_BLOCK512)
QV_CONV_DIRECT(conv_direct_avx2, QV_TARGET("avx2,fma"), 8, 6, QV_DIRECT_BLOCK256)
#undef QV_CONV_DIRECT
#undef QV_DIRECT512
#undef QV_DIRECT_BLOCK512
#undef QV_DIRECT256
#undef QV_DIRECT_BLOCK256

// Outputs with few pixels per image (late layers: 2x2 to 8x8), all images of a batch: vectors run
// across output channels instead of pixels, and each input value is broadcast straight from the
// zero-padded copy (no im2col panel). A block of 8 pixels (any images) x 32 channels; every
// output is the same FMA chain over each reduction block as qv_sgemm_chain's, the blocks added
// in order and the bias after, so the bits are those of the panel path.
// What both broadcast kernels share: W transposed (k x mpad, channels contiguous, zero past m)
// and each reduction step's offset in the padded copy; the first input of each pixel of a block
// (pixels past the end repeat the first, their results unused); a block's results stored to y.
static void broadcast_prepare(const qv_conv_geometry *p, const float *w, size_t m, size_t mpad, float **wt_out, ptrdiff_t **off_out) {
    const size_t k = p->channels * p->kernel_h * p->kernel_w;
    float *wt = aligned_alloc(64, (k * mpad * sizeof(float) + 63) / 64 * 64);
    if (!wt) abort();
    for (size_t kk = 0; kk < k; kk++) {
        for (size_t r = 0; r < mpad; r++) wt[kk * mpad + r] = r < m ? w[r * k + kk] : 0.0f;
    }
    *wt_out = wt;
    *off_out = step_offsets(p);
}

static size_t broadcast_pixels(const qv_conv_geometry *p, const qv_conv_geometry *g, const float *padded, size_t padded_image,
                               size_t pix0, size_t total, size_t count, const float **base, size_t *img, size_t *rem) {
    const size_t n = g->out_h * g->out_w;
    const size_t np = total - pix0 < count ? total - pix0 : count;
    for (size_t q = 0; q < count; q++) {
        const size_t pix = pix0 + (q < np ? q : 0);
        img[q] = pix / n; rem[q] = pix % n;
        base[q] = padded + img[q] * padded_image + (rem[q] / g->out_w) * g->stride_h * p->width + (rem[q] % g->out_w) * g->stride_w;
    }
    return np;
}

static void broadcast_store(const float *tot, size_t ch, size_t np, const size_t *img, const size_t *rem, size_t m0, size_t m, size_t n,
                            float *y, size_t y_image, const float *bias) {
    const size_t mc = m - m0 < ch ? m - m0 : ch;
    for (size_t q = 0; q < np; q++) {
        float *out = y + img[q] * y_image + m0 * n + rem[q];
        for (size_t r = 0; r < mc; r++) out[r * n] = bias ? tot[q * ch + r] + bias[m0 + r] : tot[q * ch + r];
    }
}

enum { BC_PIX = 8, BC_CH = 32 };

QV_TARGET("avx512f")
static void conv_broadcast_avx512(const qv_conv_geometry *p, const float *padded, size_t padded_image, size_t images,
                                  const qv_conv_geometry *g, const float *w, size_t m, float *y, size_t y_image,
                                  size_t bk, const float *bias) {
    const size_t k = p->channels * p->kernel_h * p->kernel_w, n = g->out_h * g->out_w, total = images * n;
    const size_t mpad = (m + BC_CH - 1) / BC_CH * BC_CH;
    float *wt;
    ptrdiff_t *off;
    broadcast_prepare(p, w, m, mpad, &wt, &off);
    float tot[BC_PIX][BC_CH] __attribute__((aligned(64)));
    for (size_t pix0 = 0; pix0 < total; pix0 += BC_PIX) {
        const float *base[BC_PIX];
        size_t img[BC_PIX], rem[BC_PIX];
        const size_t np = broadcast_pixels(p, g, padded, padded_image, pix0, total, BC_PIX, base, img, rem);
        for (size_t m0 = 0; m0 < m; m0 += BC_CH) {
            for (size_t k0 = 0; k0 < k; k0 += bk) {
                const size_t kend = k0 + bk < k ? k0 + bk : k;
                __m512 acc[BC_PIX][2];
                for (size_t q = 0; q < BC_PIX; q++) { acc[q][0] = _mm512_setzero_ps(); acc[q][1] = _mm512_setzero_ps(); }
                for (size_t kk = k0; kk < kend; kk++) {
                    const __m512 w0 = _mm512_load_ps(wt + kk * mpad + m0), w1 = _mm512_load_ps(wt + kk * mpad + m0 + 16);
                    const ptrdiff_t o = off[kk];
                    for (size_t q = 0; q < BC_PIX; q++) {
                        const __m512 xv = _mm512_set1_ps(base[q][o]);
                        acc[q][0] = _mm512_fmadd_ps(w0, xv, acc[q][0]);
                        acc[q][1] = _mm512_fmadd_ps(w1, xv, acc[q][1]);
                    }
                }
                for (size_t q = 0; q < BC_PIX; q++) {
                    if (k0 > 0) {
                        acc[q][0] = _mm512_add_ps(acc[q][0], _mm512_load_ps(tot[q]));
                        acc[q][1] = _mm512_add_ps(acc[q][1], _mm512_load_ps(tot[q] + 16));
                    }
                    _mm512_store_ps(tot[q], acc[q][0]);
                    _mm512_store_ps(tot[q] + 16, acc[q][1]);
                }
            }
            broadcast_store(&tot[0][0], BC_CH, np, img, rem, m0, m, n, y, y_image, bias);
        }
    }
    free(wt);
    free(off);
}

// The same with AVX2 + FMA: 6 pixels x 16 output channels per block (12 accumulators of 8 lanes).
enum { BC2_PIX = 6, BC2_CH = 16 };

QV_TARGET("avx2,fma")
static void conv_broadcast_avx2(const qv_conv_geometry *p, const float *padded, size_t padded_image, size_t images,
                                const qv_conv_geometry *g, const float *w, size_t m, float *y, size_t y_image,
                                size_t bk, const float *bias) {
    const size_t k = p->channels * p->kernel_h * p->kernel_w, n = g->out_h * g->out_w, total = images * n;
    const size_t mpad = (m + BC2_CH - 1) / BC2_CH * BC2_CH;
    float *wt;
    ptrdiff_t *off;
    broadcast_prepare(p, w, m, mpad, &wt, &off);
    float tot[BC2_PIX][BC2_CH] __attribute__((aligned(32)));
    for (size_t pix0 = 0; pix0 < total; pix0 += BC2_PIX) {
        const float *base[BC2_PIX];
        size_t img[BC2_PIX], rem[BC2_PIX];
        const size_t np = broadcast_pixels(p, g, padded, padded_image, pix0, total, BC2_PIX, base, img, rem);
        for (size_t m0 = 0; m0 < m; m0 += BC2_CH) {
            for (size_t k0 = 0; k0 < k; k0 += bk) {
                const size_t kend = k0 + bk < k ? k0 + bk : k;
                __m256 acc[BC2_PIX][2];
                for (size_t q = 0; q < BC2_PIX; q++) { acc[q][0] = _mm256_setzero_ps(); acc[q][1] = _mm256_setzero_ps(); }
                for (size_t kk = k0; kk < kend; kk++) {
                    const __m256 w0 = _mm256_load_ps(wt + kk * mpad + m0), w1 = _mm256_load_ps(wt + kk * mpad + m0 + 8);
                    const ptrdiff_t o = off[kk];
                    for (size_t q = 0; q < BC2_PIX; q++) {
                        const __m256 xv = _mm256_broadcast_ss(base[q] + o);
                        acc[q][0] = _mm256_fmadd_ps(w0, xv, acc[q][0]);
                        acc[q][1] = _mm256_fmadd_ps(w1, xv, acc[q][1]);
                    }
                }
                for (size_t q = 0; q < BC2_PIX; q++) {
                    if (k0 > 0) {
                        acc[q][0] = _mm256_add_ps(acc[q][0], _mm256_load_ps(tot[q]));
                        acc[q][1] = _mm256_add_ps(acc[q][1], _mm256_load_ps(tot[q] + 8));
                    }
                    _mm256_store_ps(tot[q], acc[q][0]);
                    _mm256_store_ps(tot[q] + 8, acc[q][1]);
                }
            }
            broadcast_store(&tot[0][0], BC2_CH, np, img, rem, m0, m, n, y, y_image, bias);
        }
    }
    free(wt);
    free(off);
}

void qv_conv2d_chain(const qv_conv_geometry *g, const float *x, const float *w, size_t m,
                     float *y, size_t block_k, const float *bias) {
    qv_conv2d_chain_images(g, 1, x, 0, w, m, y, 0, block_k, bias);
}

void qv_conv2d_chain_images(const qv_conv_geometry *g, size_t images, const float *x, size_t x_image,
                            const float *w, size_t m, float *y, size_t y_image, size_t block_k, const float *bias) {
    const size_t k = g->channels * g->kernel_h * g->kernel_w;
    const size_t n = g->out_h * g->out_w;
    if (m == 0 || n == 0 || images == 0) return;
    if (k == 0) {
        for (size_t i = 0; i < images; i++) {
            memset(y + i * y_image, 0, m * n * sizeof(float));
            add_bias_tile(y + i * y_image, m, n, 0, n, bias);
        }
        return;
    }
    // Images with a full panel of pixels or more run one at a time (straight into y); smaller
    // ones share panels, through a scratch tile scattered into y.
    const int shared = images > 1 && n < PANEL;
    const size_t batch = shared ? images : 1;
    size_t bk = block_k == 0 || block_k > k ? k : block_k;
    // AVX-512 and AVX2: read a zero-padded copy of x, directly when stride is 1 across and output
    // rows are whole vectors (16 or 8 pixels) wide, else through copied panels; otherwise panels
    // gathered with bounds checks.
    const int wide = path() == PATH_AVX512, fast = (wide || path() == PATH_AVX2) && g->pad_top >= 0 && g->pad_left >= 0;
    qv_conv_geometry pg;
    float *panel = NULL, *tile = NULL;
    for (size_t i0 = 0; i0 < images; i0 += batch) {
        const float *xi = x + i0 * x_image;
        float *yi = y + i0 * y_image;
        float *padded = fast ? padded_copy(g, xi, batch, x_image, &pg) : NULL;
        const size_t padded_image = fast ? pg.channels * pg.height * pg.width : 0;
        if (fast && !shared && g->stride_w == 1 && g->out_w % (wide ? 16 : 8) == 0) {
            if (wide) conv_direct_avx512(&pg, padded, w, m, yi, bk, g, bias);
            else conv_direct_avx2(&pg, padded, w, m, yi, bk, g, bias);
            free(padded);
            continue;
        }
        if (fast && n < PANEL && m >= 8) {
            if (wide) conv_broadcast_avx512(&pg, padded, padded_image, batch, g, w, m, yi, y_image, bk, bias);
            else conv_broadcast_avx2(&pg, padded, padded_image, batch, g, w, m, yi, y_image, bk, bias);
            free(padded);
            continue;
        }
        if (!panel) {
            panel = aligned_alloc(64, ((bk * PANEL * sizeof(float)) + 63) / 64 * 64);
            tile = shared ? malloc(m * PANEL * sizeof(float)) : NULL;
            if (!panel || (shared && !tile)) abort();
        }
        panel_runs runs;
        const size_t columns = batch * n;
        for (size_t n0 = 0; n0 < columns; n0 += PANEL) {
            size_t width = columns - n0 < PANEL ? columns - n0 : PANEL;
            make_runs(g, n0, width, &runs);
            // Without sharing the tile is y itself (rows n apart, columns from n0).
            float *c = shared ? tile : yi + n0;
            const size_t ldc = shared ? PANEL : n;
            for (size_t k0 = 0; k0 < k; k0 += bk) {
                size_t kb = k - k0 < bk ? k - k0 : bk;
                if (fast && wide) conv_panel_padded_avx512(&pg, padded, padded_image, k0, kb, &runs, width, panel);
                else if (fast) conv_panel_padded_avx2(&pg, padded, padded_image, k0, kb, &runs, width, panel);
                else conv_panel(g, xi, x_image, k0, kb, &runs, width, panel);
                qv_sgemm_chain(m, width, kb, w + k0, k, panel, PANEL, c, ldc, k0 > 0);
            }
            if (!shared) {
                add_bias_tile(yi, m, n, n0, width, bias);
                continue;
            }
            add_bias_tile(tile, m, PANEL, 0, width, bias);
            for (size_t s = 0; s < runs.count; s++) {
                float *dst = yi + runs.img[s] * y_image + runs.oy[s] * g->out_w + runs.ox[s];
                for (size_t r = 0; r < m; r++)
                    memcpy(dst + r * n, tile + r * PANEL + runs.pos[s], runs.len[s] * sizeof(float));
            }
        }
        free(padded);
    }
    free(panel);
    free(tile);
}

// MARK: - Quantization loops

QV_TARGET("avx512f") __attribute__((always_inline))
static inline __m512i aidge_step(__m512 v, __m512 sf, __m512 l, __m512 h, __m512i z, __m512i span) {
    __m512 t = _mm512_mul_ps(v, sf);
    t = _mm512_min_ps(_mm512_max_ps(t, l), h);
    t = _mm512_add_ps(t, _mm512_set1_ps(0.5f));
    __m512i r = _mm512_add_epi32(_mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC), z);
    __mmask16 neg = _mm512_cmplt_epi32_mask(r, _mm512_setzero_si512());
    return _mm512_mask_add_epi32(r, neg, r, span);
}

// x holds int32 values (converted to float) or float values (their bits reinterpreted).
QV_TARGET("avx512f")
static void aidge_avx512(const void *x, int x_is_float, size_t n, float sf, float lo, float hi, int32_t zp, int32_t span, int32_t *out) {
    const __m512 s = _mm512_set1_ps(sf), l = _mm512_set1_ps(lo), h = _mm512_set1_ps(hi);
    const __m512i z = _mm512_set1_epi32(zp), sp = _mm512_set1_epi32(span);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = lane_mask(n - i);
        const __m512i raw = _mm512_maskz_loadu_epi32(m, (const int32_t *)x + i);
        const __m512 v = x_is_float ? _mm512_castsi512_ps(raw) : _mm512_cvtepi32_ps(raw);
        _mm512_mask_storeu_epi32(out + i, m, aidge_step(v, s, l, h, z, sp));
    }
}

int qv_aidge_quantize_i32(const int32_t *x, size_t n, float sf, float lo, float hi, int32_t zp, int32_t span, int32_t *out) {
    if (path() != PATH_AVX512) return 0;
    aidge_avx512(x, 0, n, sf, lo, hi, zp, span, out);
    return 1;
}

int qv_aidge_quantize_f32(const float *x, size_t n, float sf, float lo, float hi, int32_t zp, int32_t span, int32_t *out) {
    if (path() != PATH_AVX512) return 0;
    aidge_avx512(x, 1, n, sf, lo, hi, zp, span, out);
    return 1;
}

// MARK: - Pointwise chains

// Planes of `inner` elements, plane p taking parameter set p mod channels: 4 vectors per step,
// each stage over the four (independent divisions overlap, and the stage dispatch is paid once
// per 4 vectors).
#define QV_PW_CHAIN(NAME, ATTR, W, LANES, VF, VI, SETZ_F, SETZ_I)                                                  \
ATTR static void NAME(const void *x, size_t planes, size_t inner, size_t channels, const qv_pw_stage *st,          \
                      size_t ns, void *out) {                                                                       \
    const int int_in = st[0].kind == QV_PW_DEQUANTIZE, int_out = qv_pw_writes_integers(st, ns);                    \
    qv_pw##W prm;                                                                                                   \
    qv_pw##W##_pairs(st, ns, channels, &prm);                                                                       \
    for (size_t p = 0; p < planes; p++) {                                                                           \
        qv_pw##W##_set(st, ns, p % channels, &prm);                                                                 \
        const size_t base = p * inner;                                                                              \
        for (size_t i = 0; i < inner; i += 4 * LANES) {                                                             \
            size_t cnt[4];                                                                                          \
            VF v[4];                                                                                                \
            VI q[4];                                                                                                \
            for (int u = 0; u < 4; u++) {                                                                           \
                const size_t at = i + LANES * (size_t)u;                                                            \
                cnt[u] = at < inner ? inner - at : 0;                                                               \
                v[u] = int_in ? SETZ_F() : QV_V##W##_LOADF(cnt[u], (const float *)x + base + at);                  \
                q[u] = int_in ? QV_V##W##_LOADI(cnt[u], (const int32_t *)x + base + at) : SETZ_I();                 \
            }                                                                                                       \
            qv_pw##W##_apply(st, ns, &prm, 4, v, q);                                                                \
            for (int u = 0; u < 4; u++) {                                                                           \
                const size_t at = i + LANES * (size_t)u;                                                            \
                if (int_out) QV_V##W##_STOREI(cnt[u], (int32_t *)out + base + at, q[u]);                            \
                else QV_V##W##_STOREF(cnt[u], (float *)out + base + at, v[u]);                                      \
            }                                                                                                       \
        }                                                                                                           \
    }                                                                                                               \
}
QV_PW_CHAIN(pointwise_chain_avx512, QV_TARGET("avx512f"), 512, 16, __m512, __m512i, _mm512_setzero_ps, _mm512_setzero_si512)
QV_PW_CHAIN(pointwise_chain_avx2, QV_TARGET("avx2"), 256, 8, __m256, __m256i, _mm256_setzero_ps, _mm256_setzero_si256)
#undef QV_PW_CHAIN

// The same operations one element at a time (rintf rounds half to even in the default mode):
// elements [i0, i1) of plane p, parameter set c.
static inline void pointwise_elements(const void *x, size_t i0, size_t i1, size_t c, const qv_pw_stage *st, size_t ns,
                                      int int_in, int int_out, void *out) {
    for (size_t i = i0; i < i1; i++) {
        float v = int_in ? 0.0f : ((const float *)x)[i];
        int32_t q = int_in ? ((const int32_t *)x)[i] : 0;
        for (size_t k = 0; k < ns; k++) {
            const size_t j = st[k].count == 1 ? 0 : c;
            switch (st[k].kind) {
            case QV_PW_DEQUANTIZE: v = (float)(int32_t)((uint32_t)q - (uint32_t)st[k].zero[j]) * st[k].scale[j]; break;
            case QV_PW_AFFINE: { const float prod = v * st[k].scale[j]; v = prod + st[k].shift[j]; break; }
            case QV_PW_RELU: v = 0.0f >= v ? 0.0f : v; break;
            default: {
                float t = st[k].kind == QV_PW_REQUANTIZE ? v * st[k].scale[j] : v / st[k].scale[j];
                t = t >= st[k].lo ? t : st[k].lo;
                t = t <= st[k].hi ? t : st[k].hi;
                q = (int32_t)((uint32_t)(int32_t)rintf(t) + (uint32_t)st[k].zero[j]);
            }
            }
        }
        if (int_out) ((int32_t *)out)[i] = q;
        else ((float *)out)[i] = v;
    }
}

static void pointwise_chain_portable(const void *x, size_t planes, size_t inner, size_t channels, const qv_pw_stage *st,
                                     size_t ns, void *out) {
    const int int_in = st[0].kind == QV_PW_DEQUANTIZE;
    const int int_out = st[ns - 1].kind == QV_PW_QUANTIZE || st[ns - 1].kind == QV_PW_REQUANTIZE;
    for (size_t p = 0; p < planes; p++)
        pointwise_elements(x, p * inner, (p + 1) * inner, p % channels, st, ns, int_in, int_out, out);
}

// Rows shorter than a few vectors (per-channel parameters over 1×1 to 7×7 planes): one period of
// channels·inner elements gets per-element parameter rows, so every vector but a period's last is
// full.
#define QV_PW_PERIODIC(NAME, ATTR, W, LANES, VF, VI, SETZ_F, SETZ_I, SET1_PS)                                      \
ATTR static void NAME(const void *x, size_t planes, size_t inner, size_t channels, const qv_pw_stage *st,          \
                      size_t ns, void *out) {                                                                       \
    const int int_in = st[0].kind == QV_PW_DEQUANTIZE, int_out = qv_pw_writes_integers(st, ns);                    \
    const size_t period = channels * inner, images = planes / channels;                                             \
    float *pa = malloc(ns * period * sizeof(float)), *pb = malloc(ns * period * sizeof(float));                     \
    int32_t *pz = malloc(ns * period * sizeof(int32_t));                                                            \
    if (!pa || !pb || !pz) abort();                                                                                 \
    for (size_t k = 0; k < ns; k++)                                                                                 \
        for (size_t c = 0; c < channels; c++) {                                                                     \
            const size_t j = st[k].count == 1 ? 0 : c;                                                              \
            for (size_t t = 0; t < inner; t++) {                                                                    \
                pa[k * period + c * inner + t] = st[k].scale ? st[k].scale[j] : 0.0f;                               \
                pb[k * period + c * inner + t] = st[k].shift ? st[k].shift[j] : 0.0f;                               \
                pz[k * period + c * inner + t] = st[k].zero ? st[k].zero[j] : 0;                                    \
            }                                                                                                       \
        }                                                                                                           \
    qv_pw##W prm;                                                                                                   \
    for (size_t k = 0; k < ns; k++) {                                                                               \
        prm.l[k] = SET1_PS(st[k].lo);                                                                               \
        prm.h[k] = SET1_PS(st[k].hi);                                                                               \
    }                                                                                                               \
    qv_pw##W##_pairs(st, ns, channels, &prm);                                                                       \
    for (size_t r = 0; r < images; r++) {                                                                           \
        const size_t base = r * period;                                                                             \
        for (size_t i = 0; i < period; i += LANES) {                                                                \
            const size_t cnt = period - i;                                                                          \
            VF v = int_in ? SETZ_F() : QV_V##W##_LOADF(cnt, (const float *)x + base + i);                          \
            VI q = int_in ? QV_V##W##_LOADI(cnt, (const int32_t *)x + base + i) : SETZ_I();                         \
            for (size_t k = 0; k < ns; k++) {                                                                       \
                prm.a[k] = QV_V##W##_LOADF(cnt, pa + k * period + i);                                               \
                prm.b[k] = QV_V##W##_LOADF(cnt, pb + k * period + i);                                               \
                prm.z[k] = QV_V##W##_LOADI(cnt, pz + k * period + i);                                               \
            }                                                                                                       \
            /* Lanes past the period divide 0 by 0: NaN, never stored. */                                           \
            qv_pw##W##_apply(st, ns, &prm, 1, &v, &q);                                                              \
            if (int_out) QV_V##W##_STOREI(cnt, (int32_t *)out + base + i, q);                                       \
            else QV_V##W##_STOREF(cnt, (float *)out + base + i, v);                                                 \
        }                                                                                                           \
    }                                                                                                               \
    free(pa);                                                                                                       \
    free(pb);                                                                                                       \
    free(pz);                                                                                                       \
}
QV_PW_PERIODIC(pointwise_chain_periodic_avx512, QV_TARGET("avx512f"), 512, 16, __m512, __m512i,
               _mm512_setzero_ps, _mm512_setzero_si512, _mm512_set1_ps)
QV_PW_PERIODIC(pointwise_chain_periodic_avx2, QV_TARGET("avx2"), 256, 8, __m256, __m256i,
               _mm256_setzero_ps, _mm256_setzero_si256, _mm256_set1_ps)
#undef QV_PW_PERIODIC

void qv_pointwise_chain(const void *x, size_t planes, size_t inner, size_t channels, const qv_pw_stage *stages,
                        size_t stage_count, void *out) {
    if (stage_count == 0 || stage_count > QV_PW_MAX_STAGES || channels == 0) abort();
    const int periodic = channels > 1 && inner < 64 && planes % channels == 0;
    if (path() == PATH_AVX512 && periodic)
        pointwise_chain_periodic_avx512(x, planes, inner, channels, stages, stage_count, out);
    else if (path() == PATH_AVX512) pointwise_chain_avx512(x, planes, inner, channels, stages, stage_count, out);
    else if (path() == PATH_AVX2 && periodic)
        pointwise_chain_periodic_avx2(x, planes, inner, channels, stages, stage_count, out);
    else if (path() == PATH_AVX2) pointwise_chain_avx2(x, planes, inner, channels, stages, stage_count, out);
    else pointwise_chain_portable(x, planes, inner, channels, stages, stage_count, out);
}

// MARK: - 2x2 max pooling

#define QV_MAXPOOL2X2(NAME, T)                                                                      \
void NAME(const T *x, size_t planes, size_t h, size_t w, size_t oh, size_t ow, T *y, int64_t *idx) { \
    for (size_t p = 0; p < planes; p++) {                                                          \
        const T *plane = x + p * h * w;                                                            \
        for (size_t oy = 0; oy < oh; oy++) {                                                       \
            const T *r0 = plane + 2 * oy * w, *r1 = r0 + w;                                        \
            T *out = y + (p * oh + oy) * ow;                                                       \
            int64_t *oi = idx ? idx + (p * oh + oy) * ow : NULL;                                   \
            const int64_t base0 = (int64_t)(p * h * w + 2 * oy * w), base1 = base0 + (int64_t)w;    \
            for (size_t ox = 0; ox < ow; ox++) {                                                   \
                T best = r0[2 * ox];                                                               \
                int64_t bi = base0 + (int64_t)(2 * ox);                                            \
                T b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];                          \
                int tb = b > best; best = tb ? b : best; bi = tb ? base0 + (int64_t)(2 * ox + 1) : bi; \
                int tc = c > best; best = tc ? c : best; bi = tc ? base1 + (int64_t)(2 * ox) : bi;     \
                int td = d > best; best = td ? d : best; bi = td ? base1 + (int64_t)(2 * ox + 1) : bi; \
                out[ox] = best;                                                                    \
                if (oi) oi[ox] = bi;                                                               \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}

QV_MAXPOOL2X2(qv_maxpool2x2_i32, int32_t)
QV_MAXPOOL2X2(qv_maxpool2x2_f32, float)

// MARK: - Integer operands as floats and back

QV_TARGET("avx512f")
static void exact_f32_to_i32_avx512(const float *v, size_t n, int32_t *out) {
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = lane_mask(n - i);
        _mm512_mask_storeu_epi32(out + i, m, _mm512_cvttps_epi32(_mm512_maskz_loadu_ps(m, v + i)));
    }
}

QV_TARGET("avx2")
static void exact_f32_to_i32_avx2(const float *v, size_t n, int32_t *out) {
    for (size_t i = 0; i < n; i += 8) QV_V256_STOREI(n - i, out + i, _mm256_cvttps_epi32(QV_V256_LOADF(n - i, v + i)));
}

int qv_exact_f32_to_i32(const float *v, size_t n, int32_t *out) {
    if (path() == PATH_AVX512) exact_f32_to_i32_avx512(v, n, out);
    else if (path() == PATH_AVX2) exact_f32_to_i32_avx2(v, n, out);
    else return 0;
    return 1;
}

// MARK: - Depthwise convolution (MLAS's one-row kernel order)

#define QV_DW_MAX_STRIDE 8


// c[ox] (+)= Σ_t row_t[ox·sw]·w[t] over `len` taps (1 to 4): products rounded, summed in tap
// order, then added to c (the first group of a plane adds to +0, as the one-row kernel does).
// Written once and compiled per instruction set (the loops vectorize; contraction is off).
#define QV_DW_LOOP(EXPR)                                                                         \
    if (sw == 1) {                                                                               \
        if (first) for (size_t i = 0; i < ow; i++) c[i] = (EXPR) + 0.0f;                         \
        else for (size_t i = 0; i < ow; i++) c[i] = (EXPR) + c[i];                               \
    } else {                                                                                     \
        for (size_t ox = 0; ox < ow; ox++) { const size_t i = ox * sw; c[ox] = (EXPR) + (first ? 0.0f : c[ox]); } \
    }
#define QV_DW_TAPS(NAME, ATTR)                                                                   \
ATTR static void NAME(const float *const *rows, const float *w, size_t len, size_t sw, size_t ow, \
                      int first, float *restrict c) {                                            \
    const float w0 = w[0], w1 = len > 1 ? w[1] : 0, w2 = len > 2 ? w[2] : 0, w3 = len > 3 ? w[3] : 0; \
    const float *restrict r0 = rows[0], *restrict r1 = rows[len > 1], *restrict r2 = rows[len > 2 ? 2 : 0], \
                *restrict r3 = rows[len > 3 ? 3 : 0];                                            \
    switch (len) {                                                                               \
    case 4: QV_DW_LOOP(((r0[i] * w0 + r1[i] * w1) + r2[i] * w2) + r3[i] * w3) break;            \
    case 3: QV_DW_LOOP((r0[i] * w0 + r1[i] * w1) + r2[i] * w2) break;                           \
    case 2: QV_DW_LOOP(r0[i] * w0 + r1[i] * w1) break;                                          \
    default: QV_DW_LOOP(r0[i] * w0) break;                                                      \
    }                                                                                            \
}
QV_DW_TAPS(depthwise_taps_avx512, QV_TARGET("avx512f"))
QV_DW_TAPS(depthwise_taps_avx2, QV_TARGET("avx2"))
QV_DW_TAPS(depthwise_taps_portable, )
#undef QV_DW_TAPS
#undef QV_DW_LOOP

static void depthwise_taps(const float *const *rows, const float *w, size_t len, size_t sw, size_t ow,
                           int first, float *c) {
    switch (path()) {
    case PATH_AVX512: depthwise_taps_avx512(rows, w, len, sw, ow, first, c); break;
    case PATH_AVX2: depthwise_taps_avx2(rows, w, len, sw, ow, first, c); break;
    default: depthwise_taps_portable(rows, w, len, sw, ow, first, c); break;
    }
}

// All k taps into c[0..<n]: each reduction block of bk taps in groups of 4, 2, 1 (MLAS's one-row
// kernel per block), the first group of all adding to +0.
static void depthwise_all_taps(const float *const *rows, const float *wk, size_t k, size_t bk, size_t sw, size_t n, float *c) {
    for (size_t k0 = 0; k0 < k; k0 += bk) {
        const size_t kend = k0 + bk < k ? k0 + bk : k;
        size_t t = k0;
        while (t + 4 <= kend) { depthwise_taps(rows + t, wk + t, 4, sw, n, t == 0, c); t += 4; }
        if ((kend - t) & 2) { depthwise_taps(rows + t, wk + t, 2, sw, n, t == 0, c); t += 2; }
        if ((kend - t) & 1) { depthwise_taps(rows + t, wk + t, 1, sw, n, t == 0, c); t += 1; }
    }
}

// Where one plane's rows go in the zero-bordered copy: source rows [iy0, iy1) land at padded
// row iy + pt; within a row, padded columns q ≡ px (mod s) from q0[px] on, n[px] of them, go to
// phase (row mod s, px) at column q0[px] / s, which is to[px] cells into the phase row. Computed
// once per geometry, not per row.
typedef struct {
    size_t s, hq, wq, iy0, iy1, width;
    ptrdiff_t pt, pl;
    size_t q0[QV_DW_MAX_STRIDE], n[QV_DW_MAX_STRIDE], to[QV_DW_MAX_STRIDE];
} dw_fill;

static inline void strided_copy_portable(const float *src, size_t s, size_t n, float *dst) {
    if (s == 1) { memcpy(dst, src, n * sizeof(float)); return; }
    for (size_t j = 0; j < n; j++) dst[j] = src[j * s];
}

// dst[j] = float(src[j·s] − zp) for j < n (the subtraction wraps), returning the largest
// |src[j·s] − zp| seen (as unsigned: |INT32_MIN| is 2^31) folded into mx.
static inline uint32_t strided_shift_portable(const int32_t *src, size_t s, size_t n, int32_t zp, float *dst, uint32_t mx) {
    for (size_t j = 0; j < n; j++) {
        const int32_t d = (int32_t)((uint32_t)src[j * s] - (uint32_t)zp);
        dst[j] = (float)d;
        const uint32_t a = d < 0 ? 0u - (uint32_t)d : (uint32_t)d;
        mx = a > mx ? a : mx;
    }
    return mx;
}

// The same with vectors: |x − zp| goes into a vector of maxima, `top`, reduced once per plane or
// call (a reduction per row would cost more than the row's copy on short rows). Lanes past n
// load 0: their |0 − zp| is not taken. Strides above 2 go one by one.
#define QV_STRIDED_SHIFT(NAME, ATTR, W, LANES, VI, SET1, SUB, MAX_U, I2F, LANES_OF, ABS_KEPT)           \
ATTR static inline VI NAME(const int32_t *src, size_t s, size_t n, int32_t zp, float *dst, VI top) {     \
    if (s > 2) return MAX_U(top, SET1((int32_t)strided_shift_portable(src, s, n, zp, dst, 0)));           \
    const VI z = SET1(zp);                                                                                \
    for (size_t j = 0; j < n; j += LANES) {                                                               \
        const size_t cnt = n - j;                                                                         \
        const VI d = SUB(LANES_OF(src + j * s, s, cnt), z);                                               \
        QV_V##W##_STOREF(cnt, dst + j, I2F(d));                                                           \
        top = MAX_U(top, ABS_KEPT(d, cnt));                                                               \
    }                                                                                                     \
    return top;                                                                                           \
}
#define QV_ABS_KEPT512(d, cnt) _mm512_maskz_abs_epi32(lane_mask(cnt), d)
#define QV_ABS_KEPT256(d, cnt) _mm256_and_si256(_mm256_abs_epi32(d), lane_mask256(cnt))
QV_STRIDED_SHIFT(strided_shift_avx512, QV_TARGET("avx512f"), 512, 16, __m512i, _mm512_set1_epi32,
                 _mm512_sub_epi32, _mm512_max_epu32, _mm512_cvtepi32_ps, strided_lanes, QV_ABS_KEPT512)
QV_STRIDED_SHIFT(strided_shift_avx2, QV_TARGET("avx2"), 256, 8, __m256i, _mm256_set1_epi32,
                 _mm256_sub_epi32, _mm256_max_epu32, _mm256_cvtepi32_ps, strided_lanes256, QV_ABS_KEPT256)
#undef QV_STRIDED_SHIFT
#undef QV_ABS_KEPT512
#undef QV_ABS_KEPT256

// max(mx, the largest lane of top), lanes as unsigned.
QV_TARGET("avx512f")
static inline uint32_t reduce_max_epu32_avx512(__m512i top, uint32_t mx) {
    const uint32_t v = (uint32_t)_mm512_reduce_max_epu32(top);
    return v > mx ? v : mx;
}

QV_TARGET("avx2")
static inline uint32_t reduce_max_epu32_avx2(__m256i top, uint32_t mx) {
    __m128i m = _mm_max_epu32(_mm256_castsi256_si128(top), _mm256_extracti128_si256(top, 1));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
    const uint32_t v = (uint32_t)_mm_cvtsi128_si32(m);
    return v > mx ? v : mx;
}

// The shifted copy of a whole tensor is one row of stride 1.
QV_TARGET("avx512f")
static int64_t shifted_avx512(const int32_t *x, size_t n, int32_t z, float *out) {
    return reduce_max_epu32_avx512(strided_shift_avx512(x, 1, n, z, out, _mm512_setzero_si512()), 0);
}

QV_TARGET("avx2")
static int64_t shifted_avx2(const int32_t *x, size_t n, int32_t z, float *out) {
    return reduce_max_epu32_avx2(strided_shift_avx2(x, 1, n, z, out, _mm256_setzero_si256()), 0);
}

int64_t qv_shifted_i32_to_f32(const int32_t *x, size_t n, int32_t z, float *out) {
    if (path() == PATH_AVX512) return shifted_avx512(x, n, z, out);
    if (path() == PATH_AVX2) return shifted_avx2(x, n, z, out);
    return -1;
}

// One plane into the copy (its border cells are never written: they stay zero). COPY(src, s, n,
// zp, dst, acc) copies a row's n values of stride s and returns acc, for int32 sources shifted by
// zp with |x − zp| folded into acc (of type ACC, from INIT); REDUCE(acc, mx) folds it into mx.
#define QV_DW_FILL(NAME, ATTR, T, ACC, INIT, COPY, REDUCE)                                       \
ATTR static uint32_t NAME(const dw_fill *f, const T *src, int32_t zp, float *copy, uint32_t mx) { \
    const size_t s = f->s, phase = f->hq * f->wq;                                                \
    size_t r = (size_t)((ptrdiff_t)f->iy0 + f->pt), ry = r / s, rp = r % s;                      \
    ACC acc = INIT;                                                                              \
    for (size_t iy = f->iy0; iy < f->iy1; iy++) {                                                \
        const T *srow = src + iy * f->width - f->pl;  /* padded column q at srow[q] */           \
        float *prow = copy + (rp * s * f->hq + ry) * f->wq;                                      \
        for (size_t px = 0; px < s; px++)                                                        \
            if (f->n[px]) acc = COPY(srow + f->q0[px], s, f->n[px], zp, prow + px * phase + f->to[px], acc); \
        if (++rp == s) { rp = 0; ry++; }                                                         \
    }                                                                                            \
    return REDUCE(acc, mx);                                                                      \
}
#define QV_COPY_AVX512(src_, s_, n_, zp_, dst_, acc_) (strided_copy_avx512(src_, s_, n_, dst_), acc_)
#define QV_COPY_AVX2(src_, s_, n_, zp_, dst_, acc_) (strided_copy_avx2(src_, s_, n_, dst_), acc_)
#define QV_COPY_PORTABLE(src_, s_, n_, zp_, dst_, acc_) (strided_copy_portable(src_, s_, n_, dst_), acc_)
#define QV_KEEP(acc_, mx_) ((void)(acc_), (mx_))
#define QV_MAX_U32(acc_, mx_) ((acc_) > (mx_) ? (acc_) : (mx_))
QV_DW_FILL(depthwise_fill_avx512, QV_TARGET("avx512f"), float, int, 0, QV_COPY_AVX512, QV_KEEP)
QV_DW_FILL(depthwise_fill_avx2, QV_TARGET("avx2"), float, int, 0, QV_COPY_AVX2, QV_KEEP)
QV_DW_FILL(depthwise_fill_portable, , float, int, 0, QV_COPY_PORTABLE, QV_KEEP)
QV_DW_FILL(depthwise_fill_shifted_avx512, QV_TARGET("avx512f"), int32_t, __m512i, _mm512_setzero_si512(),
           strided_shift_avx512, reduce_max_epu32_avx512)
QV_DW_FILL(depthwise_fill_shifted_avx2, QV_TARGET("avx2"), int32_t, __m256i, _mm256_setzero_si256(),
           strided_shift_avx2, reduce_max_epu32_avx2)
QV_DW_FILL(depthwise_fill_shifted_portable, , int32_t, uint32_t, 0u, strided_shift_portable, QV_MAX_U32)
#undef QV_COPY_AVX512
#undef QV_COPY_AVX2
#undef QV_COPY_PORTABLE
#undef QV_KEEP
#undef QV_MAX_U32
#undef QV_DW_FILL

// Where a plane's cells go in the copy of hp × wp padded cells (pads may be negative: then rows
// start inside), stored as its s×s phases: padded (r, q) to phase (r mod s, q mod s) at row
// r / s, column q / s.
static dw_fill dw_fill_plan(const qv_conv_geometry *g, size_t s, size_t hp, size_t wp) {
    const ptrdiff_t pt = g->pad_top, pl = g->pad_left;
    dw_fill fill = {.s = s, .hq = (hp + s - 1) / s, .wq = (wp + s - 1) / s, .width = g->width, .pt = pt, .pl = pl};
    // Columns q of the padded plane with 0 <= q - pl < width: [qlo, qhi).
    const ptrdiff_t qlo = pl > 0 ? pl : 0, qhi0 = pl + (ptrdiff_t)g->width;
    const ptrdiff_t qhi = qhi0 < (ptrdiff_t)wp ? (qhi0 > qlo ? qhi0 : qlo) : (ptrdiff_t)wp;
    const ptrdiff_t iy0 = -pt > 0 ? -pt : 0,
                    iy1 = (ptrdiff_t)hp - pt < (ptrdiff_t)g->height ? (ptrdiff_t)hp - pt : (ptrdiff_t)g->height;
    fill.iy0 = (size_t)iy0;
    fill.iy1 = qhi > qlo && iy1 > iy0 ? (size_t)iy1 : (size_t)iy0;
    for (size_t px = 0; px < s; px++) {
        fill.q0[px] = (size_t)qlo + (px + s - (size_t)qlo % s) % s;
        fill.n[px] = fill.q0[px] < (size_t)qhi ? ((size_t)qhi - fill.q0[px] + s - 1) / s : 0;
        fill.to[px] = fill.q0[px] / s;
    }
    return fill;
}

// x is float, or (xi non-NULL) int32 shifted by zp while copied; returns the largest |xi − zp|.
static uint32_t depthwise_conv(const qv_conv_geometry *g, size_t planes, size_t channels, const float *x,
                               const int32_t *xi, int32_t zp, const float *w, float *y, size_t block_k, const float *bias) {
    const size_t k = g->kernel_h * g->kernel_w, oh = g->out_h, ow = g->out_w;
    uint32_t mx = 0;
    if (planes == 0 || oh * ow == 0) return 0;
    const size_t bk = block_k == 0 || block_k > k ? k : block_k;
    // One plane at a time, copied into a zero border (pads may be negative: then rows start
    // inside). The copy is the padded plane hp×wp, or with equal strides s > 1 its s×s phases
    // (rows ≡ py, columns ≡ px mod s), each hq×wq, so every tap reads one phase at unit stride
    // (contiguous loads, not a gather per lane). Only addresses change: the same products,
    // summed in the same order. Every plane writes the same cells, so the border is zeroed once.
    const size_t hp = (oh - 1) * g->stride_h + (g->kernel_h - 1) * g->dilation_h + 1;
    const size_t wp = (ow - 1) * g->stride_w + (g->kernel_w - 1) * g->dilation_w + 1;
    // Equal strides: every output row in one flat pass over the copy (see below).
    const int flat = g->stride_h == g->stride_w && g->stride_w <= QV_DW_MAX_STRIDE;
    const size_t s = flat ? g->stride_w : 1;
    const size_t hq = (hp + s - 1) / s, wq = (wp + s - 1) / s;
    const size_t copy_len = s * s * hq * wq + 1;
    float *copy = calloc(copy_len, sizeof(float));
    const float **rows = malloc((k + 4) * sizeof(float *));
    const size_t flat_len = (oh - 1) * wq + ow;
    float *tmp = flat ? malloc((flat_len + 1) * sizeof(float)) : NULL;
    if (!copy || !rows || (flat && !tmp)) abort();
    const dw_fill fill = dw_fill_plan(g, s, hp, wp);
    const int avx512 = path() == PATH_AVX512, avx2 = path() == PATH_AVX2;
    for (size_t p = 0; p < planes; p++) {
        const size_t at = p * g->height * g->width;
        if (xi) mx = avx512 ? depthwise_fill_shifted_avx512(&fill, xi + at, zp, copy, mx)
                     : avx2 ? depthwise_fill_shifted_avx2(&fill, xi + at, zp, copy, mx)
                            : depthwise_fill_shifted_portable(&fill, xi + at, zp, copy, mx);
        else if (avx512) depthwise_fill_avx512(&fill, x + at, 0, copy, 0);
        else if (avx2) depthwise_fill_avx2(&fill, x + at, 0, copy, 0);
        else depthwise_fill_portable(&fill, x + at, 0, copy, 0);
        const float *wk = w + (p % channels) * k;
        float *yp = y + p * oh * ow;
        if (flat) {
            // Output (oy, ox) at flat position f = oy·wq + ox; tap (dy, dx) reads phase
            // (dy mod s, dx mod s) at f + (dy / s)·wq + dx / s: one pass over every row at once
            // (the columns past ow are computed and dropped), the same sums in the same order.
            for (size_t t = 0; t < k; t++) {
                const size_t dy = (t / g->kernel_w) * g->dilation_h, dx = (t % g->kernel_w) * g->dilation_w;
                rows[t] = copy + ((dy % s) * s + dx % s) * hq * wq + (dy / s) * wq + dx / s;
            }
            depthwise_all_taps(rows, wk, k, bk, 1, flat_len, tmp);
            const float b = bias ? bias[p % channels] : 0.0f;
            for (size_t oy = 0; oy < oh; oy++) {
                float *c = yp + oy * ow;
                const float *from = tmp + oy * wq;
                if (bias) { for (size_t ox = 0; ox < ow; ox++) c[ox] = from[ox] + b; }
                else memcpy(c, from, ow * sizeof(float));
            }
            continue;
        }
        for (size_t oy = 0; oy < oh; oy++) {
            for (size_t t = 0; t < k; t++)
                rows[t] = copy + (oy * g->stride_h + (t / g->kernel_w) * g->dilation_h) * wp + (t % g->kernel_w) * g->dilation_w;
            float *c = yp + oy * ow;
            depthwise_all_taps(rows, wk, k, bk, g->stride_w, ow, c);
            if (bias) {
                const float b = bias[p % channels];
                for (size_t ox = 0; ox < ow; ox++) c[ox] = c[ox] + b;
            }
        }
    }
    free(copy);
    free(rows);
    free(tmp);
    return mx;
}

// The integer form when every partial sum is an integer below 2^24 (the caller's bound), so the
// order of the sum cannot change it: per plane, the phase copy is filled (the largest |x − zp|
// kept until the end), then every LANES flat positions take all taps at once from the bias, four
// vectors at a time (four independent FMA chains; one would wait on each FMA), into a tile of
// the plane's sums; the stages run over the tile 4 vectors at a time (int32 results kept in the
// tile's bits), and each output row is taken from it. AVX-512 squeezes each vector's kept lanes
// (the border columns dropped) straight into their output cells; AVX2, which cannot, copies
// the rows.
enum { DW_EXACT_MAX_TAPS = 49 };

#define QV_DW_EXACT(NAME, ATTR, W, LANES, VF, VI, SET1_PS, SETZ_F, SETZ_I, FMADD, LOADU, CAST_I2F, FILL, PREP, STORE, DONE) \
ATTR static uint32_t NAME(const qv_conv_geometry *g, size_t planes, size_t channels, const int32_t *xi, int32_t zp,     \
                          const float *w, const float *bias, const qv_pw_stage *st, size_t ns, void *y) {              \
    const int int_out = ns && qv_pw_writes_integers(st, ns);                                                           \
    qv_pw##W prm;                                                                                                      \
    qv_pw##W##_pairs(st, ns, channels, &prm);                                                                          \
    const size_t k = g->kernel_h * g->kernel_w, oh = g->out_h, ow = g->out_w, s = g->stride_w;                         \
    const size_t hp = (oh - 1) * g->stride_h + (g->kernel_h - 1) * g->dilation_h + 1;                                  \
    const size_t wp = (ow - 1) * g->stride_w + (g->kernel_w - 1) * g->dilation_w + 1;                                  \
    const size_t hq = (hp + s - 1) / s, wq = (wp + s - 1) / s;                                                         \
    const size_t flat_len = (oh - 1) * wq + ow, vectors = (flat_len + LANES - 1) / LANES;                              \
    /* 4·LANES floats of slack: the last group of 4 vectors' loads run past the flat length, never */                 \
    /* past the copy. */                                                                                               \
    float *copy = calloc(s * s * hq * wq + 4 * LANES, sizeof(float));                                                  \
    const size_t tile_vectors = (vectors + 3) / 4 * 4;                                                                 \
    VF *tile = aligned_alloc(64, tile_vectors * sizeof(VF));                                                           \
    if (!copy || !tile) abort();                                                                                       \
    for (size_t v = vectors; v < tile_vectors; v++) tile[v] = SETZ_F();                                                \
    PREP                                                                                                               \
    const float *rows[DW_EXACT_MAX_TAPS];                                                                              \
    for (size_t t = 0; t < k; t++) {                                                                                   \
        const size_t dy = (t / g->kernel_w) * g->dilation_h, dx = (t % g->kernel_w) * g->dilation_w;                   \
        rows[t] = copy + ((dy % s) * s + dx % s) * hq * wq + (dy / s) * wq + dx / s;                                   \
    }                                                                                                                  \
    const dw_fill fill = dw_fill_plan(g, s, hp, wp);                                                                   \
    uint32_t mx = 0;                                                                                                   \
    for (size_t p = 0; p < planes; p++) {                                                                              \
        mx = FILL(&fill, xi + p * g->height * g->width, zp, copy, mx);                                                 \
        const float *wk = w + (p % channels) * k;                                                                      \
        VF wv[DW_EXACT_MAX_TAPS];                                                                                      \
        for (size_t t = 0; t < k; t++) wv[t] = SET1_PS(wk[t]);                                                         \
        const VF b = SET1_PS(bias ? bias[p % channels] : 0.0f);                                                        \
        if (ns) qv_pw##W##_set(st, ns, p % channels, &prm);                                                            \
        const size_t yp = p * oh * ow;                                                                                 \
        for (size_t v = 0; v < vectors; v += 4) {                                                                      \
            VF acc[4] = {b, b, b, b};                                                                                  \
            for (size_t t = 0; t < k; t++) {                                                                           \
                const float *r = rows[t] + LANES * v;                                                                  \
                for (size_t u = 0; u < 4; u++) acc[u] = FMADD(LOADU(r + LANES * u), wv[t], acc[u]);                   \
            }                                                                                                          \
            for (size_t u = 0; u < 4; u++) tile[v + u] = acc[u];                                                       \
        }                                                                                                              \
        for (size_t v = 0; v < vectors && ns; v += 4) {                                                                \
            VI q[4] = {SETZ_I(), SETZ_I(), SETZ_I(), SETZ_I()};                                                        \
            qv_pw##W##_apply(st, ns, &prm, 4, tile + v, q);                                                            \
            if (int_out)                                                                                               \
                for (size_t u = 0; u < 4; u++) tile[v + u] = CAST_I2F(q[u]);                                           \
        }                                                                                                              \
        STORE                                                                                                          \
    }                                                                                                                  \
    DONE                                                                                                               \
    free(tile);                                                                                                        \
    free(copy);                                                                                                        \
    return mx;                                                                                                         \
}

// AVX-512: which lanes of each vector are outputs, and where the first goes.
#define QV_DW_PREP512                                                                                                  \
    __mmask16 *keep = malloc(vectors * sizeof(__mmask16));                                                             \
    size_t *out_at = malloc(vectors * sizeof(size_t));                                                                 \
    if (!keep || !out_at) abort();                                                                                     \
    qv_flat_outputs(flat_len, wq, ow, 16, keep, out_at);
#define QV_DW_STORE512                                                                                                 \
    for (size_t v = 0; v < vectors; v++) {                                                                             \
        const __mmask16 m = keep[v], kept = lane_mask((unsigned)__builtin_popcount(m));                                \
        _mm512_mask_storeu_ps((float *)y + yp + out_at[v], kept, _mm512_maskz_compress_ps(m, tile[v]));                \
    }
#define QV_DW_DONE512 free(keep); free(out_at);
// AVX2: output row oy is the tile's ow values from flat position oy·wq (vector copies, the last
// one masked: rows are short, a memcpy call per row cost more than the copy).
#define QV_DW_STORE256                                                                                                 \
    for (size_t oy = 0; oy < oh; oy++) {                                                                               \
        const float *from = (const float *)tile + oy * wq;                                                             \
        float *to = (float *)y + yp + oy * ow;                                                                         \
        for (size_t j = 0; j < ow; j += 8) QV_V256_STOREF(ow - j, to + j, QV_V256_LOADF(ow - j, from + j));            \
    }
QV_DW_EXACT(depthwise_shifted_exact_avx512, QV_TARGET("avx512f"), 512, 16, __m512, __m512i, _mm512_set1_ps,
            _mm512_setzero_ps, _mm512_setzero_si512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_castsi512_ps,
            depthwise_fill_shifted_avx512, QV_DW_PREP512, QV_DW_STORE512, QV_DW_DONE512)
QV_DW_EXACT(depthwise_shifted_exact_avx2, QV_TARGET("avx2,fma"), 256, 8, __m256, __m256i, _mm256_set1_ps,
            _mm256_setzero_ps, _mm256_setzero_si256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_castsi256_ps,
            depthwise_fill_shifted_avx2, , QV_DW_STORE256, )
#undef QV_DW_EXACT
#undef QV_DW_PREP512
#undef QV_DW_STORE512
#undef QV_DW_DONE512
#undef QV_DW_STORE256

void qv_depthwise_conv(const qv_conv_geometry *g, size_t planes, size_t channels, const float *x, const float *w,
                       float *y, size_t block_k, const float *bias) {
    depthwise_conv(g, planes, channels, x, NULL, 0, w, y, block_k, bias);
}

uint32_t qv_depthwise_conv_shifted(const qv_conv_geometry *g, size_t planes, size_t channels, const int32_t *x,
                                   int32_t zp, const float *w, size_t block_k, const float *bias,
                                   const qv_pw_stage *stages, size_t stage_count, void *y) {
    if (stage_count > QV_PW_MAX_STAGES) abort();
    const int exact = g->stride_h == g->stride_w && g->stride_w <= QV_DW_MAX_STRIDE &&
                      g->kernel_h * g->kernel_w <= DW_EXACT_MAX_TAPS && planes > 0 && g->out_h * g->out_w > 0;
    if (exact && path() == PATH_AVX512)
        return depthwise_shifted_exact_avx512(g, planes, channels, x, zp, w, bias, stages, stage_count, y);
    if (exact && path() == PATH_AVX2)
        return depthwise_shifted_exact_avx2(g, planes, channels, x, zp, w, bias, stages, stage_count, y);
    if (stage_count == 0) return depthwise_conv(g, planes, channels, NULL, x, zp, w, y, block_k, bias);
    // Elsewhere the float sums, then the stages as their own pass.
    const size_t n = g->out_h * g->out_w;
    float *sums = malloc((planes * n + 1) * sizeof(float));
    if (!sums) abort();
    const uint32_t mx = depthwise_conv(g, planes, channels, NULL, x, zp, w, sums, block_k, bias);
    if (planes * n) qv_pointwise_chain(sums, planes, n, channels, stages, stage_count, y);
    free(sums);
    return mx;
}

// MARK: - Requantization and QLinearAdd (AVX-512 or AVX2; the callers' loops otherwise)

// v = fma(a, ra, fma(b, rb, fixed)) (MLAS's AVX2 kernel as built: QLinearAddArithmetic), rounded
// to nearest even, clamped: cvt gives INT32_MIN for NaN and |v| ≥ 2^31, which the clamp takes to
// lo (as x86 does). AVX2's cvtps2dq rounds half to even in the default mode, as the AVX-512 form
// does explicitly.
#define QV_QLINEAR_ADD(NAME, ATTR, W, LANES, VF, VI, SET1_PS, SET1_EPI32, I2F, FMA, F2I, MIN_I, MAX_I)        \
ATTR static void NAME(const int32_t *a, const int32_t *b, size_t n, float fixed, float ra, float rb, int32_t lo,  \
                      int32_t hi, int32_t *out) {                                                                \
    const VF f = SET1_PS(fixed), sa = SET1_PS(ra), sb = SET1_PS(rb);                                             \
    const VI l = SET1_EPI32(lo), h = SET1_EPI32(hi);                                                             \
    for (size_t i = 0; i < n; i += LANES) {                                                                      \
        const VF x = I2F(QV_V##W##_LOADI(n - i, a + i)), y = I2F(QV_V##W##_LOADI(n - i, b + i));                 \
        const VF v = FMA(x, sa, FMA(y, sb, f));                                                                  \
        QV_V##W##_STOREI(n - i, out + i, MAX_I(MIN_I(F2I(v), h), l));                                            \
    }                                                                                                            \
}
QV_QLINEAR_ADD(qlinear_add_avx512, QV_TARGET("avx512f"), 512, 16, __m512, __m512i, _mm512_set1_ps,
               _mm512_set1_epi32, _mm512_cvtepi32_ps, _mm512_fmadd_ps, QV_PW512_F2I, _mm512_min_epi32, _mm512_max_epi32)
QV_QLINEAR_ADD(qlinear_add_avx2, QV_TARGET("avx2,fma"), 256, 8, __m256, __m256i, _mm256_set1_ps,
               _mm256_set1_epi32, _mm256_cvtepi32_ps, _mm256_fmadd_ps, _mm256_cvtps_epi32, _mm256_min_epi32,
               _mm256_max_epi32)
#undef QV_QLINEAR_ADD

int qv_qlinear_add_i32(const int32_t *a, const int32_t *b, size_t n, float fixed, float ra, float rb, int32_t lo, int32_t hi, int32_t *out) {
    if (path() == PATH_AVX512) qlinear_add_avx512(a, b, n, fixed, ra, rb, lo, hi, out);
    else if (path() == PATH_AVX2) qlinear_add_avx2(a, b, n, fixed, ra, rb, lo, hi, out);
    else return 0;
    return 1;
}

// MARK: - Max pooling, any window

// Window in row-major order, positions outside the input skipped; the first inside element is
// the start and a later one wins only when strictly greater (NaN never wins). A window with no
// element inside gives `lowest` and index 0. `idx` (flat index into x) may be NULL.
// Interior windows of one output row, 16 outputs per step (stride 1 or 2; with stride 2 the
// even lanes of 32 loaded values): best = the window's first element, then each later one in
// row-major order replaces it when greater (so NaN never replaces, and a first NaN stays),
// lane for lane the scalar rule. `win` is lane 0's window; outputs [0, n), all written (returns n).
#define QV_MAXPOOL_ROW(NAME, T, VEC, FROM_BITS, TO_BITS, GT)                                    \
QV_TARGET("avx512f")                                                               \
static size_t NAME(const T *win, size_t w, size_t kh, size_t kw, size_t dh, size_t dw, size_t sw, size_t n, T *out) { \
    for (size_t t = 0; t < n; t += 16) {                                                         \
        const size_t cnt = n - t < 16 ? n - t : 16;                                              \
        const T *base = win + t * sw;                                                            \
        VEC best = FROM_BITS(_mm512_setzero_si512());                                            \
        for (size_t i = 0; i < kh; i++)                                                          \
            for (size_t j = 0; j < kw; j++) {                                                    \
                const VEC e = FROM_BITS(strided_lanes(base + i * dh * w + j * dw, sw, cnt));     \
                best = i == 0 && j == 0 ? e : GT(best, e);                                       \
            }                                                                                    \
        _mm512_mask_storeu_epi32(out + t, lane_mask(cnt), TO_BITS(best));                        \
    }                                                                                            \
    return n;                                                                                    \
}
#define QV_GT_PS(best, e) _mm512_mask_mov_ps(best, _mm512_cmp_ps_mask(e, best, _CMP_GT_OQ), e)
#define QV_GT_EPI32(best, e) _mm512_mask_mov_epi32(best, _mm512_cmpgt_epi32_mask(e, best), e)
#define QV_SAME_BITS(v) (v)
QV_MAXPOOL_ROW(maxpool_row_f32_avx512, float, __m512, _mm512_castsi512_ps, _mm512_castps_si512, QV_GT_PS)
QV_MAXPOOL_ROW(maxpool_row_i32_avx512, int32_t, __m512i, QV_SAME_BITS, QV_SAME_BITS, QV_GT_EPI32)
#undef QV_MAXPOOL_ROW

// The same rule with AVX2, 8 outputs per step, whole vectors only (returns how many outputs it
// wrote; the caller does the rest). With stride 2 a vector's loads reach one element past its
// last window, which is inside the next output's window: so the last output is never in one.
#define QV_MAXPOOL_ROW256(NAME, T, VEC, FROM_BITS, TO_BITS, GT)                                 \
QV_TARGET("avx2")                                                                  \
static size_t NAME(const T *win, size_t w, size_t kh, size_t kw, size_t dh, size_t dw, size_t sw, size_t n, T *out) { \
    size_t t = 0;                                                                                \
    for (; t + 8 + (sw == 2) <= n; t += 8) {                                                     \
        const T *base = win + t * sw;                                                            \
        VEC best = FROM_BITS(_mm256_setzero_si256());                                            \
        for (size_t i = 0; i < kh; i++)                                                          \
            for (size_t j = 0; j < kw; j++) {                                                    \
                const int32_t *at = (const int32_t *)(base + i * dh * w + j * dw);               \
                const VEC e = FROM_BITS(strided_lanes256(at, sw, 9)); /* 9 > 8 lanes: whole loads */ \
                best = i == 0 && j == 0 ? e : GT(best, e);                                       \
            }                                                                                    \
        _mm256_storeu_si256((__m256i *)(out + t), TO_BITS(best));                                \
    }                                                                                            \
    return t;                                                                                    \
}
#define QV_GT256_PS(best, e) _mm256_blendv_ps(best, e, _mm256_cmp_ps(e, best, _CMP_GT_OQ))
#define QV_GT256_EPI32(best, e) _mm256_blendv_epi8(best, e, _mm256_cmpgt_epi32(e, best))
QV_MAXPOOL_ROW256(maxpool_row_f32_avx2, float, __m256, _mm256_castsi256_ps, _mm256_castps_si256, QV_GT256_PS)
QV_MAXPOOL_ROW256(maxpool_row_i32_avx2, int32_t, __m256i, QV_SAME_BITS, QV_SAME_BITS, QV_GT256_EPI32)
#undef QV_MAXPOOL_ROW256

#define QV_MAXPOOL(NAME, T, ROW, ROW256)                                                                           \
void NAME(const T *x, size_t planes, size_t h, size_t w, size_t oh, size_t ow, size_t kh, size_t kw, size_t sh,     \
          size_t sw, size_t dh, size_t dw, ptrdiff_t pt, ptrdiff_t pl, T lowest, T *y, int64_t *idx) {             \
    for (size_t p = 0; p < planes; p++) {                                                                         \
        const size_t base = p * h * w;                                                                            \
        for (size_t oy = 0; oy < oh; oy++) {                                                                      \
            const ptrdiff_t y0 = (ptrdiff_t)(oy * sh) - pt;                                                       \
            const int rows_inside = y0 >= 0 && y0 + (ptrdiff_t)((kh - 1) * dh) < (ptrdiff_t)h;                   \
            /* Columns whose windows are inside: [oa, ob), vectorized without indices. */                         \
            size_t oa = 0, ob = 0;                                                                                \
            if (rows_inside && !idx && (sw == 1 || sw == 2) && (path() == PATH_AVX512 || path() == PATH_AVX2)) { \
                oa = pl > 0 ? ((size_t)pl + sw - 1) / sw : 0;                                                     \
                const ptrdiff_t last = (ptrdiff_t)w - 1 - (ptrdiff_t)((kw - 1) * dw) + pl;                        \
                ob = last < 0 ? 0 : (size_t)last / sw + 1;                                                        \
                ob = ob < ow ? ob : ow;                                                                           \
                if (oa < ob) {                                                                                    \
                    const T *row0 = x + base + (size_t)y0 * w + (size_t)((ptrdiff_t)(oa * sw) - pl);              \
                    T *out0 = y + (p * oh + oy) * ow + oa;                                                        \
                    ob = oa + (path() == PATH_AVX512 ? ROW(row0, w, kh, kw, dh, dw, sw, ob - oa, out0)              \
                                                     : ROW256(row0, w, kh, kw, dh, dw, sw, ob - oa, out0));        \
                }                                                                                                 \
                if (oa >= ob) oa = ob = 0;                                                                        \
            }                                                                                                     \
            for (size_t ox = 0; ox < ow; ox++) {                                                                  \
                if (ox == oa && ob > oa) { ox = ob - 1; continue; }                                               \
                const ptrdiff_t x0 = (ptrdiff_t)(ox * sw) - pl;                                                   \
                if (rows_inside && x0 >= 0 && x0 + (ptrdiff_t)((kw - 1) * dw) < (ptrdiff_t)w) {                   \
                    /* The window is inside: no checks, the same order and rule. */                               \
                    const T *win = x + base + (size_t)y0 * w + (size_t)x0;                                        \
                    T best = win[0];                                                                              \
                    size_t bo = 0;                                                                                \
                    for (size_t i = 0; i < kh; i++) {                                                             \
                        const T *r = win + i * dh * w;                                                            \
                        for (size_t j = 0; j < kw; j++) {                                                         \
                            const T e = r[j * dw];                                                                \
                            if (e > best) { best = e; bo = i * dh * w + j * dw; }                                 \
                        }                                                                                         \
                    }                                                                                             \
                    const size_t o = (p * oh + oy) * ow + ox;                                                     \
                    y[o] = best;                                                                                  \
                    if (idx) idx[o] = (int64_t)(base + (size_t)y0 * w + (size_t)x0 + bo);                        \
                    continue;                                                                                     \
                }                                                                                                 \
                T best = lowest;                                                                                  \
                ptrdiff_t bi = -1;                                                                                \
                for (size_t i = 0; i < kh; i++) {                                                                 \
                    const ptrdiff_t iy = y0 + (ptrdiff_t)(i * dh);                                                \
                    if (iy < 0 || iy >= (ptrdiff_t)h) continue;                                                   \
                    const size_t row = base + (size_t)iy * w;                                                     \
                    for (size_t j = 0; j < kw; j++) {                                                             \
                        const ptrdiff_t ix = x0 + (ptrdiff_t)(j * dw);                                            \
                        if (ix < 0 || ix >= (ptrdiff_t)w) continue;                                               \
                        const T e = x[row + (size_t)ix];                                                          \
                        if (bi < 0 || e > best) { best = e; bi = (ptrdiff_t)(row + (size_t)ix); }                 \
                    }                                                                                             \
                }                                                                                                 \
                const size_t o = (p * oh + oy) * ow + ox;                                                         \
                y[o] = best;                                                                                      \
                if (idx) idx[o] = bi < 0 ? 0 : (int64_t)bi;                                                       \
            }                                                                                                     \
        }                                                                                                         \
    }                                                                                                             \
}

QV_MAXPOOL(qv_maxpool_f32, float, maxpool_row_f32_avx512, maxpool_row_f32_avx2)
QV_MAXPOOL(qv_maxpool_i32, int32_t, maxpool_row_i32_avx512, maxpool_row_i32_avx2)
