// Exact integer convolution sums, two forms. AVX-512 VNNI: vpdpbusd multiplies 4 unsigned input
// bytes by 4 signed weight bytes and adds the 4 products to an int32 lane, with no intermediate
// rounding or saturation. AVX2: vpmaddwd multiplies 2 signed 16-bit values by 2 and adds both
// products to an int32 lane, also exactly (x − x_zero and w − w_zero each fit 16 bits). So every
// output is Σ (x − x_zero)(w − w_zero) exactly (mod 2^32, as int32 accumulation is). The input is
// copied once per call into words of 4 (VNNI) or 2 (AVX2) channels, the weights once per model
// into words of the same channels; no im2col matrix is built.
#include "qv_chain_gemm.h"
#include "pw_stages.h"
#include "flat_outputs.h"
#include "lanes256.h"
#include "lanes512.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include "qv_isa.h"
#endif

enum { KIND_VNNI = 1, KIND_AVX2 = 2 };

int qv_conv_u8s8_available(void) {
#if defined(__x86_64__)
    qv_cpu_init();
    const char *path = qv_sgemm_chain_path();
    if (qv_cpu_has("avx512vnni") && qv_cpu_has("avx512bw") && strcmp(path, "avx512f") == 0)
        return KIND_VNNI;
    if (qv_cpu_has("avx2") && (strcmp(path, "avx2+fma") == 0 || strcmp(path, "avx512f") == 0))
        return KIND_AVX2;
#endif
    return 0;
}

// Channels per word of a kind's copies.
static size_t per_word(int kind) { return kind == KIND_VNNI ? 4 : 2; }
static size_t taps(const qv_conv_geometry *g, int kind) {
    return (g->channels + per_word(kind) - 1) / per_word(kind) * g->kernel_h * g->kernel_w;
}
// Output channels as the packed weights and the accumulator starts hold them: a multiple of 16
// (64-byte rows), and at least m + 2, so the AVX2 row kernel's blocks of 3 channels (which read
// three rows' weights and starts, storing only the real ones) stay inside the buffers.
static size_t padded_rows(size_t m) { return (m + 2 + 15) / 16 * 16; }

size_t qv_conv_u8s8_weight_words(const qv_conv_geometry *g, size_t m, int kind) { return taps(g, kind) * padded_rows(m); }

void qv_conv_u8s8_pack_weights(const qv_conv_geometry *g, size_t m, const int32_t *w, int32_t *packed,
                               int32_t *row_sums, int kind) {
    const size_t khw = g->kernel_h * g->kernel_w, mpad = padded_rows(m), cpw = per_word(kind), bits = 32 / cpw;
    const uint32_t low = kind == KIND_VNNI ? 0xffu : 0xffffu;
    memset(packed, 0, taps(g, kind) * mpad * sizeof(int32_t));
    for (size_t r = 0; r < m; r++) {
        int32_t sum = 0;
        for (size_t c = 0; c < g->channels; c++) {
            for (size_t t = 0; t < khw; t++) {
                const int32_t v = w[(r * g->channels + c) * khw + t];
                sum += v;
                uint32_t *word = (uint32_t *)&packed[((c / cpw) * khw + t) * mpad + r];
                *word |= ((uint32_t)v & low) << (bits * (c % cpw));
            }
        }
        row_sums[r] = sum;
    }
}

#if defined(__x86_64__)

// The copy of x the kernels read: per image, per group of 4 (VNNI) or 2 (AVX2) channels, the
// padded plane of words (hp × wp, the zero-point border wide enough for every window). VNNI: byte
// j of a word holds channel 4·group + j as x + x_offset; channels past the last and the border
// hold x_zero. AVX2: 16-bit half j holds channel 2·group + j as x + x_offset − x_zero; channels
// past the last and the border hold 0. With
// equal strides s > 1 the plane is stored as its s×s phases (rows ≡ py, columns ≡ px mod s),
// each hq × wq, so that consecutive outputs read consecutive words of one phase.
enum { PACK_MAX_STRIDE = 8 };

typedef struct {
    size_t s, hq, wq, groups, image_words;
    size_t taps;  // groups × kernel_h × kernel_w: a row of weight words per (channel group, tap)
} packed_input;

static packed_input input_layout(const qv_conv_geometry *g, int kind) {
    size_t need_h = (g->out_h - 1) * g->stride_h + (g->kernel_h - 1) * g->dilation_h + 1;
    size_t need_w = (g->out_w - 1) * g->stride_w + (g->kernel_w - 1) * g->dilation_w + 1;
    size_t hp = g->height + (size_t)g->pad_top, wp = g->width + (size_t)g->pad_left;
    hp = hp > need_h ? hp : need_h;
    wp = wp > need_w ? wp : need_w;
    const size_t s = g->stride_h == g->stride_w && g->stride_w <= PACK_MAX_STRIDE ? g->stride_w : 1;
    const size_t cpw = per_word(kind);
    packed_input p = {.s = s, .hq = (hp + s - 1) / s, .wq = (wp + s - 1) / s, .groups = (g->channels + cpw - 1) / cpw};
    p.image_words = p.groups * s * s * p.hq * p.wq;
    p.taps = taps(g, kind);
    return p;
}

// Where padded cell (r, q) of group grp lives in an image's words.
static size_t word_at(const packed_input *p, size_t grp, size_t r, size_t q) {
    return ((grp * p->s + r % p->s) * p->s + q % p->s) * p->hq * p->wq + (r / p->s) * p->wq + q / p->s;
}

// The copy's words for `images` images, every byte `fill` (the border's value), plus `slack`
// words: the row kernels' loads past the last position (up to a vector) stay inside.
static uint32_t *packed_buffer(const packed_input *p, size_t images, size_t slack, uint8_t fill) {
    const size_t total = images * p->image_words + slack;
    uint32_t *buf = aligned_alloc(64, (total * 4 + 63) / 64 * 64);
    if (!buf) abort();
    memset(buf, fill, total * 4);
    return buf;
}

// Columns q ≡ px (mod s) of a padded row holding input: from q0[px], n[px] of them, the first at
// word col[px] of its phase row.
static void column_plan(const qv_conv_geometry *g, const packed_input *p, size_t *q0, size_t *n, size_t *col) {
    const size_t pl = (size_t)g->pad_left, s = p->s;
    for (size_t px = 0; px < s; px++) {
        q0[px] = pl + (px + s - pl % s) % s;
        n[px] = q0[px] < pl + g->width ? (pl + g->width - q0[px] + s - 1) / s : 0;
        col[px] = word_at(p, 0, 0, q0[px]);
    }
}

QV_TARGET("avx512f,avx512bw")
static uint32_t *pack_input(const qv_conv_geometry *g, const packed_input *p, size_t images, const int32_t *x,
                            size_t x_image, int32_t x_offset, uint8_t x_zero) {
    uint32_t *buf = packed_buffer(p, images, 16, x_zero);
    const size_t plane = g->height * g->width, pt = (size_t)g->pad_top, pl = (size_t)g->pad_left, s = p->s;
    size_t q0[PACK_MAX_STRIDE], n[PACK_MAX_STRIDE], col[PACK_MAX_STRIDE];
    column_plan(g, p, q0, n, col);
    // Input row y's padded row in its phase, computed once (no division per row).
    size_t *row_at = malloc(g->height * sizeof(size_t));
    if (!row_at) abort();
    for (size_t y = 0; y < g->height; y++) row_at[y] = word_at(p, 0, y + pt, 0);
    const size_t group_words = s * s * p->hq * p->wq;
    const __m512i offset = _mm512_set1_epi32(x_offset), low = _mm512_set1_epi32(0xff);
    const __m512i zero = _mm512_set1_epi32(x_zero);
    for (size_t i = 0; i < images; i++) {
        for (size_t grp = 0; grp < p->groups; grp++) {
            const int32_t *src[4];
            size_t present = 0;
            for (size_t j = 0; j < 4; j++) {
                const size_t c = grp * 4 + j;
                src[j] = c < g->channels ? x + i * x_image + c * plane : NULL;
                present += c < g->channels;
            }
            uint32_t *dst = buf + i * p->image_words + grp * group_words;
            for (size_t y = 0; y < g->height; y++) {
                for (size_t px = 0; px < s; px++) {
                    uint32_t *row = dst + row_at[y] + col[px];
                    const size_t from = y * g->width + q0[px] - pl;
                    for (size_t c0 = 0; c0 < n[px]; c0 += 16) {
                        const size_t left = n[px] - c0;
                        const __mmask16 mask = lane_mask(left);
                        __m512i word = _mm512_setzero_si512();
                        for (size_t j = 0; j < 4; j++) {
                            const __m512i v =
                                j < present ? _mm512_add_epi32(strided_lanes(src[j] + from + c0 * s, s, left), offset) : zero;
                            word = _mm512_or_si512(word, _mm512_slli_epi32(_mm512_and_si512(v, low), (unsigned)(8 * j)));
                        }
                        _mm512_mask_storeu_epi32(row + c0, mask, word);
                    }
                }
            }
        }
    }
    free(row_at);
    return buf;
}

// The AVX2 copy: words of two 16-bit channels, x + x_offset − x_zero (so the border is 0).
QV_TARGET("avx2")
static uint32_t *pack_input16(const qv_conv_geometry *g, const packed_input *p, size_t images, const int32_t *x,
                              size_t x_image, int32_t x_offset, uint8_t x_zero) {
    uint32_t *buf = packed_buffer(p, images, 8, 0);
    const size_t plane = g->height * g->width, pt = (size_t)g->pad_top, pl = (size_t)g->pad_left, s = p->s;
    size_t q0[PACK_MAX_STRIDE], n[PACK_MAX_STRIDE], col[PACK_MAX_STRIDE];
    column_plan(g, p, q0, n, col);
    const size_t group_words = s * s * p->hq * p->wq;
    const __m256i shift = _mm256_set1_epi32(x_offset - (int32_t)x_zero), low = _mm256_set1_epi32(0xffff);
    for (size_t i = 0; i < images; i++) {
        for (size_t grp = 0; grp < p->groups; grp++) {
            const size_t c0 = 2 * grp;
            const int32_t *src0 = x + i * x_image + c0 * plane;
            const int32_t *src1 = c0 + 1 < g->channels ? src0 + plane : NULL;
            uint32_t *dst = buf + i * p->image_words + grp * group_words;
            for (size_t y = 0; y < g->height; y++) {
                uint32_t *prow = dst + word_at(p, 0, y + pt, 0);
                for (size_t px = 0; px < s; px++) {
                    const size_t from = y * g->width + q0[px] - pl;
                    for (size_t j = 0; j < n[px]; j += 8) {
                        const size_t left = n[px] - j;
                        const __m256i lo = _mm256_add_epi32(strided_lanes256(src0 + from + j * s, s, left), shift);
                        const __m256i hi = src1 ? _mm256_add_epi32(strided_lanes256(src1 + from + j * s, s, left), shift)
                                                : _mm256_setzero_si256();
                        const __m256i word = _mm256_or_si256(_mm256_and_si256(lo, low), _mm256_slli_epi32(hi, 16));
                        QV_V256_STOREI(left, (int32_t *)prow + col[px] + j, word);
                    }
                }
            }
        }
    }
    return buf;
}

// Each tap's offset from an output's first word: tap (i, j) of group grp reads padded cell
// (oy·s + i·dh, ox·s + j·dw), in phase ((i·dh) mod s, (j·dw) mod s) at (oy + i·dh / s, ox + j·dw / s).
static ptrdiff_t *tap_offsets(const qv_conv_geometry *g, const packed_input *p) {
    ptrdiff_t *off = malloc(p->taps * sizeof(ptrdiff_t));
    if (!off) abort();
    for (size_t grp = 0, t = 0; grp < p->groups; grp++)
        for (size_t i = 0; i < g->kernel_h; i++)
            for (size_t j = 0; j < g->kernel_w; j++, t++)
                off[t] = (ptrdiff_t)word_at(p, grp, i * g->dilation_h, j * g->dilation_w);
    return off;
}

// The first word of output (oy, ox) in an image's copy: padded cell (oy·sh, ox·sw), which is
// phase (0, 0) at (oy·sh / s, ox·sw / s) (s divides both strides, or is 1).
static size_t output_word(const qv_conv_geometry *g, const packed_input *p, size_t oy, size_t ox) {
    return (oy * g->stride_h / p->s) * p->wq + ox * g->stride_w / p->s;
}

// Vectors across output channels, each input word broadcast (outputs with few pixels, and any
// stride, padding or dilation): a block of NP pixels (of any images) × 16·MV channels.
#define QV_U8S8_BROADCAST(NAME, MV, NP)                                                                      \
    QV_TARGET("avx512f,avx512bw,avx512vnni") static void NAME(                                 \
        const uint32_t *const *base, const ptrdiff_t *off, size_t nt, const int32_t *wt, size_t mpad,         \
        const int32_t *init, int32_t *tile) {                                                                \
        __m512i acc[NP][MV];                                                                                 \
        for (size_t v = 0; v < MV; v++) {                                                                    \
            const __m512i a = _mm512_loadu_si512(init + 16 * v);                                             \
            for (size_t q = 0; q < NP; q++) acc[q][v] = a;                                                   \
        }                                                                                                    \
        for (size_t t = 0; t < nt; t++) {                                                                    \
            __m512i wv[MV];                                                                                  \
            for (size_t v = 0; v < MV; v++) wv[v] = _mm512_loadu_si512(wt + t * mpad + 16 * v);              \
            const ptrdiff_t o = off[t];                                                                      \
            for (size_t q = 0; q < NP; q++) {                                                                \
                const __m512i xv = _mm512_set1_epi32((int32_t)base[q][o]);                                   \
                for (size_t v = 0; v < MV; v++) acc[q][v] = _mm512_dpbusd_epi32(acc[q][v], xv, wv[v]);       \
            }                                                                                                \
        }                                                                                                    \
        for (size_t q = 0; q < NP; q++)                                                                      \
            for (size_t v = 0; v < MV; v++) _mm512_storeu_si512(tile + q * 16 * MV + 16 * v, acc[q][v]);     \
    }

QV_U8S8_BROADCAST(broadcast_1x16, 1, 16)
QV_U8S8_BROADCAST(broadcast_2x12, 2, 12)
QV_U8S8_BROADCAST(broadcast_4x6, 4, 6)
#undef QV_U8S8_BROADCAST

// The same with AVX2 (8 channels per vector, each input word's two channels by vpmaddwd).
#define QV_S16_BROADCAST(NAME, MV, NP)                                                                       \
    QV_TARGET("avx2") static void NAME(const uint32_t *const *base, const ptrdiff_t *off,      \
                                                     size_t nt, const int32_t *wt, size_t mpad,              \
                                                     const int32_t *init, int32_t *tile) {                   \
        __m256i acc[NP][MV];                                                                                 \
        for (size_t v = 0; v < MV; v++) {                                                                    \
            const __m256i a = _mm256_loadu_si256((const __m256i *)(init + 8 * v));                           \
            for (size_t q = 0; q < NP; q++) acc[q][v] = a;                                                   \
        }                                                                                                    \
        for (size_t t = 0; t < nt; t++) {                                                                    \
            __m256i wv[MV];                                                                                  \
            for (size_t v = 0; v < MV; v++) wv[v] = _mm256_loadu_si256((const __m256i *)(wt + t * mpad + 8 * v)); \
            const ptrdiff_t o = off[t];                                                                      \
            for (size_t q = 0; q < NP; q++) {                                                                \
                const __m256i xv = _mm256_set1_epi32((int32_t)base[q][o]);                                   \
                for (size_t v = 0; v < MV; v++) acc[q][v] = _mm256_add_epi32(acc[q][v], _mm256_madd_epi16(xv, wv[v])); \
            }                                                                                                \
        }                                                                                                    \
        for (size_t q = 0; q < NP; q++)                                                                      \
            for (size_t v = 0; v < MV; v++) _mm256_storeu_si256((__m256i *)(tile + q * 8 * MV + 8 * v), acc[q][v]); \
    }

QV_S16_BROADCAST(broadcast16_2x6, 2, 6)
#undef QV_S16_BROADCAST

static void store_value(void *y, size_t at, int32_t v, int y_float) {
    if (y_float) ((float *)y)[at] = (float)v;
    else ((int32_t *)y)[at] = v;
}

static void conv_broadcast(const qv_conv_geometry *g, const packed_input *p, const uint32_t *px, size_t images,
                           const int32_t *wt, size_t m, const int32_t *init, void *y, size_t y_image, int y_float,
                           int kind) {
    const size_t nt = p->taps, mpad = padded_rows(m);
    const size_t n = g->out_h * g->out_w, total = images * n;
    ptrdiff_t *off = tap_offsets(g, p);
    // Blocks of mv vectors of channels; wider blocks need fewer pixels per block to stay in
    // registers. VNNI vectors hold 16 channels, AVX2 ones 8.
    // (AVX2: always 2 vectors, as mpad is a multiple of 16.)
    const size_t lanes = kind == KIND_VNNI ? 16 : 8;
    const size_t mv = kind == KIND_VNNI ? (mpad >= 64 ? 4 : mpad >= 32 ? 2 : 1) : 2;
    const size_t np = kind == KIND_VNNI ? (mv == 4 ? 6 : mv == 2 ? 12 : 16) : 6;
    int32_t tile[12 * 32] __attribute__((aligned(64)));  // the largest np × lanes·mv (16 × 16 fits)
    for (size_t pix0 = 0; pix0 < total; pix0 += np) {
        const uint32_t *base[16];
        size_t img[16], rem[16];
        const size_t count = total - pix0 < np ? total - pix0 : np;
        // All 16 slots (the remainder blocks read up to 16): past the end, repeat the first.
        for (size_t q = 0; q < 16; q++) {
            const size_t pix = pix0 + (q < count ? q : 0);
            img[q] = pix / n;
            rem[q] = pix % n;
            base[q] = px + img[q] * p->image_words + output_word(g, p, rem[q] / g->out_w, rem[q] % g->out_w);
        }
        for (size_t m0 = 0; m0 < m;) {
            // Blocks of lanes·mv channels; where fewer padded rows remain, one-vector blocks.
            const size_t bw = m0 + lanes * mv <= mpad ? mv : 1, cols = lanes * bw;
            if (kind == KIND_AVX2) broadcast16_2x6(base, off, nt, wt + m0, mpad, init + m0, tile);
            else if (bw == 4) broadcast_4x6(base, off, nt, wt + m0, mpad, init + m0, tile);
            else if (bw == 2) broadcast_2x12(base, off, nt, wt + m0, mpad, init + m0, tile);
            else broadcast_1x16(base, off, nt, wt + m0, mpad, init + m0, tile);
            const size_t mc = m - m0 < cols ? m - m0 : cols;
            for (size_t q = 0; q < count; q++)
                for (size_t r = 0; r < mc; r++)
                    store_value(y, img[q] * y_image + (m0 + r) * n + rem[q], tile[q * cols + r], y_float);
            m0 += cols;
        }
    }
    free(off);
}

// Strides equal to the copy's phase step (1, or s with phases; any kernel, padding, dilation):
// vectors across LANES flat positions f = oy·wq + ox, so each tap reads the words at f plus its
// offset, contiguous across output rows; each weight word is broadcast. Blocks of CH output
// channels × VECS vectors of positions; each sum goes through the stages (if any) in registers,
// and the lanes past ow (the border columns) are squeezed out before one masked store into y.
// VNNI (8 channels × 3 vectors of 16): vpdpbusd, squeezed by a compress. AVX2 (3 × 3 vectors of
// 8, so the 9 accumulators, 3 loaded words and the broadcast weight stay in its 16 registers):
// vpmaddwd then an add, squeezed by a permutation made once per call.
#define QV_CONV_ROWS(NAME, ATTR, W, LANES, CH, VECS, VF, VI, SET1_EPI32, LOADU, DOT, I2F, PREP, STORE, DONE)     \
ATTR static void NAME(const qv_conv_geometry *g, const packed_input *p, const uint32_t *px, size_t images,          \
                      const int32_t *wt, size_t m, const int32_t *init, const qv_pw_stage *st, size_t ns, void *y,  \
                      size_t y_image, int y_float) {                                                                \
    qv_pw##W prm[CH]; /* the stages' parameters for the output channels of a block */                               \
    qv_pw##W##_pairs(st, ns, m, &prm[0]);                                                                           \
    for (size_t r = 0; r < CH && ns; r++) qv_pw##W##_set(st, ns, 0, &prm[r]);                                       \
    const size_t n = g->out_h * g->out_w, mpad = padded_rows(m), nt = p->taps;                                     \
    const size_t wp = p->wq, ow = g->out_w, flat_len = (g->out_h - 1) * wp + ow;                                    \
    const size_t vectors = (flat_len + LANES - 1) / LANES;                                                          \
    ptrdiff_t *off = tap_offsets(g, p);                                                                             \
    uint16_t *keep = malloc(vectors * sizeof(uint16_t));                                                            \
    size_t *out_at = malloc(vectors * sizeof(size_t));                                                              \
    if (!keep || !out_at) abort();                                                                                  \
    qv_flat_outputs(flat_len, wp, ow, LANES, keep, out_at);                                                         \
    PREP                                                                                                            \
    for (size_t i = 0; i < images; i++) {                                                                           \
        const uint32_t *xi = px + i * p->image_words;                                                               \
        for (size_t m0 = 0; m0 < m; m0 += CH) {                                                                     \
            const size_t rows = m - m0 < CH ? m - m0 : CH;                                                          \
            for (size_t r = 0; r < rows && ns; r++) qv_pw##W##_set(st, ns, m0 + r, &prm[r]);                        \
            for (size_t v0 = 0; v0 < vectors; v0 += VECS) {                                                         \
                const size_t nv = vectors - v0 < VECS ? vectors - v0 : VECS;                                        \
                VI acc[CH][VECS];                                                                                   \
                for (size_t r = 0; r < CH; r++) {                                                                   \
                    const VI a = SET1_EPI32(init[m0 + r]);                                                          \
                    for (size_t j = 0; j < VECS; j++) acc[r][j] = a;                                                \
                }                                                                                                   \
                /* Positions past the last vector read words inside the copy (its slack covers the */              \
                /* last image); their sums are never stored. */                                                     \
                const uint32_t *base = xi + LANES * v0;                                                             \
                for (size_t t = 0; t < nt; t++) {                                                                   \
                    VI xv[VECS];                                                                                    \
                    for (size_t j = 0; j < VECS; j++) xv[j] = LOADU(base + off[t] + LANES * (j < nv ? j : 0));      \
                    const int32_t *wr = wt + t * mpad + m0;                                                         \
                    for (size_t r = 0; r < CH; r++) {                                                               \
                        const VI wv = SET1_EPI32(wr[r]);                                                            \
                        for (size_t j = 0; j < VECS; j++) acc[r][j] = DOT(acc[r][j], xv[j], wv);                    \
                    }                                                                                               \
                }                                                                                                   \
                /* The sums leave the registers once (so the loop above keeps them there), go through */           \
                /* float(sum), as MLAS converts it, and the stages, one dispatch per stage for the block */         \
                /* (rows past m take set 0's parameters and are not stored), then out row by row. */                \
                VF fvs[CH * VECS];                                                                                  \
                VI qvs[CH * VECS];                                                                                  \
                for (size_t r = 0; r < CH; r++)                                                                     \
                    for (size_t j = 0; j < VECS; j++) {                                                             \
                        qvs[r * VECS + j] = acc[r][j];                                                              \
                        fvs[r * VECS + j] = I2F(acc[r][j]);                                                         \
                    }                                                                                               \
                if (ns) qv_pw##W##_apply_rows(st, ns, prm, CH, VECS, fvs, qvs);                                     \
                for (size_t r = 0; r < rows; r++) {                                                                 \
                    const VF *fv = fvs + r * VECS;                                                                  \
                    const VI *qv = qvs + r * VECS;                                                                  \
                    const size_t row = i * y_image + (m0 + r) * n;                                                  \
                    for (size_t j = 0; j < nv; j++) {                                                               \
                        const uint16_t mk = keep[v0 + j];                                                           \
                        const size_t at = row + out_at[v0 + j];                                                     \
                        STORE                                                                                       \
                    }                                                                                               \
                }                                                                                                   \
            }                                                                                                       \
        }                                                                                                           \
    }                                                                                                               \
    DONE                                                                                                            \
    free(off);                                                                                                      \
    free(keep);                                                                                                     \
    free(out_at);                                                                                                   \
}

#define QV_ROWS_LOAD512(p) _mm512_loadu_si512(p)
#define QV_ROWS_STORE512                                                                                            \
    const __mmask16 out = (__mmask16)((1u << __builtin_popcount(mk)) - 1);                                          \
    if (mk == 0xffff) { /* a whole vector of outputs (pointwise convs: all of them) */                               \
        if (y_float) _mm512_storeu_ps((float *)y + at, fv[j]);                                                      \
        else _mm512_storeu_si512((int32_t *)y + at, qv[j]);                                                         \
    } else if (y_float)                                                                                             \
        _mm512_mask_storeu_ps((float *)y + at, out, _mm512_maskz_compress_ps(mk, fv[j]));                           \
    else                                                                                                            \
        _mm512_mask_storeu_epi32((int32_t *)y + at, out, _mm512_maskz_compress_epi32(mk, qv[j]));
QV_CONV_ROWS(conv_rows, QV_TARGET("avx512f,avx512bw,avx512vnni"), 512, 16, 8, 3, __m512, __m512i,
             _mm512_set1_epi32, QV_ROWS_LOAD512, _mm512_dpbusd_epi32, _mm512_cvtepi32_ps, , QV_ROWS_STORE512, )

// AVX2: squeeze[v] moves vector v's kept lanes to the front.
#define QV_ROWS_PREP256                                                                                             \
    __m256i *squeeze = aligned_alloc(32, vectors * sizeof(__m256i));                                                \
    if (!squeeze) abort();                                                                                          \
    for (size_t v = 0; v < vectors; v++) {                                                                          \
        int32_t idx[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                                  \
        for (int b = 0, k = 0; b < 8; b++)                                                                          \
            if (keep[v] >> b & 1) idx[k++] = b;                                                                     \
        squeeze[v] = _mm256_loadu_si256((const __m256i *)idx);                                                      \
    }
#define QV_ROWS_LOAD256(p) _mm256_loadu_si256((const __m256i *)(p))
#define QV_ROWS_DOT256(acc, x, w) _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))
#define QV_ROWS_STORE256                                                                                            \
    __m256i bits = y_float ? _mm256_castps_si256(fv[j]) : qv[j];                                                    \
    if (mk == 0xff) _mm256_storeu_si256((__m256i *)((int32_t *)y + at), bits);                                      \
    else store_first_lanes256((int32_t *)y + at, _mm256_permutevar8x32_epi32(bits, squeeze[v0 + j]),                \
                              (size_t)__builtin_popcount(mk));
QV_CONV_ROWS(conv_rows16, QV_TARGET("avx2"), 256, 8, 3, 3, __m256, __m256i, _mm256_set1_epi32,
             QV_ROWS_LOAD256, QV_ROWS_DOT256, _mm256_cvtepi32_ps, QV_ROWS_PREP256, QV_ROWS_STORE256, free(squeeze);)
#undef QV_CONV_ROWS
#undef QV_ROWS_LOAD512
#undef QV_ROWS_STORE512
#undef QV_ROWS_PREP256
#undef QV_ROWS_LOAD256
#undef QV_ROWS_DOT256
#undef QV_ROWS_STORE256

#endif

int qv_conv_u8s8(const qv_conv_geometry *g, size_t images, const int32_t *x, size_t x_image, int32_t x_offset,
                 uint8_t x_zero, const int32_t *packed, size_t m, const int32_t *row_sums, const int32_t *bias,
                 const qv_pw_stage *stages, size_t stage_count, void *y, size_t y_image, int y_float, int kind) {
#if defined(__x86_64__)
    const size_t n = g->out_h * g->out_w;
    if (kind == 0 || qv_conv_u8s8_available() != kind || g->pad_top < 0 || g->pad_left < 0 ||
        stage_count > QV_PW_MAX_STAGES || (stage_count && y_image != m * n))
        return 0;
    if (m == 0 || n == 0 || images == 0) return 1;
    if (stage_count) y_float = !qv_pw_writes_integers(stages, stage_count);
    // VNNI: Σ (x' − z)·w = Σ x'·w − z·Σ w: the accumulators start from bias − z·Σ w (wrapping, as
    // the int32 sums do). AVX2 reads x − z itself: from the bias. Zero for the padded rows.
    const size_t mpad = padded_rows(m);
    int32_t *init = aligned_alloc(64, mpad * sizeof(int32_t));
    if (!init) abort();
    for (size_t r = 0; r < mpad; r++) {
        const uint32_t b = r < m && bias ? (uint32_t)bias[r] : 0;
        init[r] = r >= m ? 0 : kind == KIND_VNNI ? (int32_t)(b - (uint32_t)x_zero * (uint32_t)row_sums[r]) : (int32_t)b;
    }
    const packed_input p = input_layout(g, kind);
    uint32_t *px = kind == KIND_VNNI ? pack_input(g, &p, images, x, x_image, x_offset, x_zero)
                                     : pack_input16(g, &p, images, x, x_image, x_offset, x_zero);
    // With unit steps in the copy, pixel vectors over its rows keep the n outputs of an image out of
    // L·⌈flat length / L⌉ lanes (L = 16 or 8): when that is at least 3/4 of them, they beat vectors
    // across channels (which scatter every output); smaller or strided outputs take those instead,
    // with pixels from every image of the batch.
    const size_t lanes_per = kind == KIND_VNNI ? 16 : 8;
    const size_t lanes = ((g->out_h - 1) * p.wq + g->out_w + lanes_per - 1) / lanes_per * lanes_per;
    if (g->stride_h == p.s && g->stride_w == p.s && 4 * n >= 3 * lanes) {
        if (kind == KIND_VNNI) conv_rows(g, &p, px, images, packed, m, init, stages, stage_count, y, y_image, y_float);
        else conv_rows16(g, &p, px, images, packed, m, init, stages, stage_count, y, y_image, y_float);
    } else if (stage_count) {
        // The channel-vector kernel scatters float sums; the stages then run as their own pass
        // over every image at once (plane i·m + r is channel r: images are contiguous).
        float *sums = malloc(images * m * n * sizeof(float));
        if (!sums) abort();
        conv_broadcast(g, &p, px, images, packed, m, init, sums, m * n, 1, kind);
        qv_pointwise_chain(sums, images * m, n, m, stages, stage_count, y);
        free(sums);
    } else {
        conv_broadcast(g, &p, px, images, packed, m, init, y, y_image, y_float, kind);
    }
    free(px);
    free(init);
    return 1;
#else
    (void)g; (void)images; (void)x; (void)x_image; (void)x_offset; (void)x_zero; (void)packed; (void)m;
    (void)row_sums; (void)bias; (void)stages; (void)stage_count; (void)y; (void)y_image; (void)y_float; (void)kind;
    return 0;
#endif
}
