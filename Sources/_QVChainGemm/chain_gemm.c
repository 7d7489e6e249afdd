// Fixed-order float GEMM: every output is an FMA chain over k from zero (see qv_chain_gemm.h).
// Register blocks: 8 rows × 32 columns with AVX-512, 4 rows × 16 columns with AVX2; the
// reduction order per element is the same in every path.

#include "qv_chain_gemm.h"

#include <immintrin.h>
#include <math.h>

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

#define QV_AVX512 __attribute__((target("avx512f"), always_inline)) static inline

QV_AVX512 void block512(size_t rows, size_t k, const float *a, size_t lda, const float *b,
                        size_t ldb, float *c, size_t ldc, int accumulate, __mmask16 m0,
                        __mmask16 m1) {
    __m512 acc[8][2];
    for (size_t r = 0; r < 8; r++) { acc[r][0] = _mm512_setzero_ps(); acc[r][1] = _mm512_setzero_ps(); }
    for (size_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb;
        __m512 b0 = _mm512_maskz_loadu_ps(m0, bp);
        __m512 b1 = _mm512_maskz_loadu_ps(m1, bp + 16);
        for (size_t r = 0; r < rows; r++) {
            __m512 av = _mm512_set1_ps(a[r * lda + p]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
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
    case R: block512(R, k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, accumulate, m0, m1); break;

__attribute__((target("avx512f")))
static void chain_avx512(size_t m, size_t n, size_t k, const float *a, size_t lda,
                         const float *b, size_t ldb, float *c, size_t ldc, int accumulate) {
    for (size_t j = 0; j < n; j += 32) {
        size_t w = n - j < 32 ? n - j : 32;
        __mmask16 m0 = w >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << w) - 1);
        __mmask16 m1 = w >= 32 ? (__mmask16)0xFFFF : w > 16 ? (__mmask16)((1u << (w - 16)) - 1) : 0;
        for (size_t i = 0; i < m; i += 8) {
            switch (m - i < 8 ? m - i : 8) {
                QV_ROWS512(1) QV_ROWS512(2) QV_ROWS512(3) QV_ROWS512(4)
                QV_ROWS512(5) QV_ROWS512(6) QV_ROWS512(7) QV_ROWS512(8)
            }
        }
    }
}

// MARK: - AVX2 + FMA3

#define QV_AVX2 __attribute__((target("avx2,fma"), always_inline)) static inline

QV_AVX2 void block256(size_t rows, size_t k, const float *a, size_t lda, const float *b,
                      size_t ldb, float *c, size_t ldc, int accumulate) {
    __m256 acc[4][2];
    for (size_t r = 0; r < 4; r++) { acc[r][0] = _mm256_setzero_ps(); acc[r][1] = _mm256_setzero_ps(); }
    for (size_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps(b + p * ldb), b1 = _mm256_loadu_ps(b + p * ldb + 8);
        for (size_t r = 0; r < rows; r++) {
            __m256 av = _mm256_broadcast_ss(a + r * lda + p);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (size_t r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        __m256 o0 = acc[r][0], o1 = acc[r][1];
        if (accumulate) { o0 = _mm256_add_ps(o0, _mm256_loadu_ps(cr)); o1 = _mm256_add_ps(o1, _mm256_loadu_ps(cr + 8)); }
        _mm256_storeu_ps(cr, o0);
        _mm256_storeu_ps(cr + 8, o1);
    }
}

#define QV_ROWS256(R) \
    case R: block256(R, k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, accumulate); break;

__attribute__((target("avx2,fma")))
static void chain_avx2(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b,
                       size_t ldb, float *c, size_t ldc, int accumulate) {
    size_t full = n / 16 * 16;
    for (size_t j = 0; j < full; j += 16) {
        for (size_t i = 0; i < m; i += 4) {
            switch (m - i < 4 ? m - i : 4) { QV_ROWS256(1) QV_ROWS256(2) QV_ROWS256(3) QV_ROWS256(4) }
        }
    }
    if (full < n) chain_portable(m, n, k, a, lda, b, ldb, c, ldc, accumulate, full);
}

// MARK: - Dispatch

enum { PATH_UNKNOWN, PATH_PORTABLE, PATH_AVX2, PATH_AVX512 };
static int chosen_path = PATH_UNKNOWN;

static int path(void) {
    if (chosen_path == PATH_UNKNOWN) {
        __builtin_cpu_init();
        chosen_path = __builtin_cpu_supports("avx512f") ? PATH_AVX512
                    : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? PATH_AVX2
                    : PATH_PORTABLE;
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
    int want = PATH_UNKNOWN;
    if (name[0] == 'p') want = PATH_PORTABLE;
    else if (name[0] == 'a' && name[3] == '2') want = PATH_AVX2;
    else if (name[0] == 'a' && name[3] == '5') want = PATH_AVX512;
    if (want == PATH_UNKNOWN) return 0;
    __builtin_cpu_init();
    if (want == PATH_AVX512 && !__builtin_cpu_supports("avx512f")) return 0;
    if (want == PATH_AVX2 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return 0;
    chosen_path = want;
    return 1;
}

const char *qv_sgemm_chain_path(void) {
    switch (path()) {
    case PATH_AVX512: return "avx512f";
    case PATH_AVX2: return "avx2+fma";
    default: return "portable";
    }
}
