// AVX2 lanes shared by the kernels (internal to _QVChainGemm): masks of the first lanes, loads
// and stores of cnt lanes, and strided lanes.
#ifndef QV_LANES256_H
#define QV_LANES256_H

#if defined(__x86_64__)
#include "qv_isa.h"
#include <stddef.h>
#include <stdint.h>

// The first min(count, 8) lanes of an AVX2 vector, as maskload masks.
QV_TARGET("avx2") __attribute__((always_inline)) static inline __m256i lane_mask256(size_t count) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count >= 8 ? 8 : (int)count), index);
}

// The first cnt < 8 lanes of v stored at p as 4, 2 and 1 lanes (plain stores): AVX2's masked
// stores (vmaskmovps, vpmaskmovd) are microcoded on AMD Zen, many times slower than this.
QV_TARGET("avx2") __attribute__((always_inline)) static inline void store_first_lanes256(void *p, __m256i v, size_t cnt) {
    char *d = (char *)p;
    __m128i part = _mm256_castsi256_si128(v);
    if (cnt & 4) {
        _mm_storeu_si128((__m128i *)d, part);
        part = _mm256_extracti128_si256(v, 1);
        d += 16;
    }
    if (cnt & 2) {
        _mm_storel_epi64((__m128i *)d, part);
        part = _mm_srli_si128(part, 8);
        d += 8;
    }
    if (cnt & 1) _mm_storeu_si32(d, part);
}

// Loads and stores of cnt lanes at p: plain for whole vectors; for the rest, masked loads and
// the stores above.
#define QV_V256_LOADF(cnt, p) ((cnt) >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lane_mask256(cnt)))
#define QV_V256_LOADI(cnt, p) \
    ((cnt) >= 8 ? _mm256_loadu_si256((const __m256i *)(p)) : _mm256_maskload_epi32((const int *)(p), lane_mask256(cnt)))
#define QV_V256_STOREF(cnt, p, v) \
    do { if ((cnt) >= 8) _mm256_storeu_ps(p, v); else store_first_lanes256(p, _mm256_castps_si256(v), cnt); } while (0)
#define QV_V256_STOREI(cnt, p, v)                                       \
    do {                                                                \
        if ((cnt) >= 8) _mm256_storeu_si256((__m256i *)(p), v);         \
        else store_first_lanes256(p, v, cnt);                           \
    } while (0)

// Lanes src[0], src[s], …, src[(cnt − 1)·s] (cnt ≥ 1; lanes past cnt zero), reading only values
// up to the last one used: whole loads while they stay inside, else masked ones. For stride 2,
// [e0 o0 … e3 o3] and [e4 … o7] shuffled to the evens, lanes reordered; larger strides gathered.
QV_TARGET("avx2") __attribute__((always_inline))
static inline __m256i strided_lanes256(const int32_t *src, size_t s, size_t cnt) {
    if (s > 2) {
        const __m256i index = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)s));
        return _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int *)src, index, lane_mask256(cnt), 4);
    }
    if (s == 1) return QV_V256_LOADI(cnt, src);
    __m256 lo, hi;
    if (cnt > 8) {
        lo = _mm256_loadu_ps((const float *)src);
        hi = _mm256_loadu_ps((const float *)src + 8);
    } else {
        const size_t left = 2 * cnt - 1;
        lo = _mm256_maskload_ps((const float *)src, lane_mask256(left));
        hi = _mm256_maskload_ps((const float *)src + 8, lane_mask256(left > 8 ? left - 8 : 0));
    }
    const __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));  // e0 e1 e4 e5 | e2 e3 e6 e7
    return _mm256_castpd_si256(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
}

#endif
#endif
