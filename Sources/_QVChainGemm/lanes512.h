// AVX-512 lanes shared by the kernels (internal to _QVChainGemm): masks of the first lanes and
// strided lanes. Every count here saturates at the vector's 16 lanes: a mask built as
// (1 << count) − 1 is undefined for count ≥ 32 (x86 takes the shift mod 32), which once made the
// VNNI input copy drop lanes of stride-2 rows 25–31 and 41–47 words long.
#ifndef QV_LANES512_H
#define QV_LANES512_H

#if defined(__x86_64__)
#include "qv_isa.h"
#include <stddef.h>
#include <stdint.h>

// The mask of the first min(count, 16) lanes of a 16-lane vector.
QV_TARGET("avx512f") __attribute__((always_inline)) static inline __mmask16 lane_mask(size_t count) {
    return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1);
}

// Lanes src[0], src[s], …, src[(c − 1)·s] of 32-bit values, c = min(cnt, 16), the rest zero,
// reading only the values up to the last one used: with s = 2 the even lanes of 32 loaded values,
// each load masked to what remains of the 2·c − 1; larger strides gathered.
QV_TARGET("avx512f") __attribute__((always_inline)) static inline __m512i strided_lanes(const void *src, size_t s,
                                                                                      size_t cnt) {
    const int32_t *p = src;
    const size_t c = cnt < 16 ? cnt : 16;
    if (s == 1) return _mm512_maskz_loadu_epi32(lane_mask(c), p);
    if (s == 2) {
        const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        const size_t left = 2 * c - 1;
        const __m512i lo = _mm512_maskz_loadu_epi32(lane_mask(left), p);
        const __m512i hi = _mm512_maskz_loadu_epi32(lane_mask(left > 16 ? left - 16 : 0), p + 16);
        return _mm512_maskz_permutex2var_epi32(lane_mask(c), lo, even, hi);
    }
    const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), lane_mask(c),
                                       _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)s)), p, 4);
}

#endif
#endif
