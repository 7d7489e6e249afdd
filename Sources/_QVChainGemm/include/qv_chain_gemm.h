#ifndef QV_CHAIN_GEMM_H
#define QV_CHAIN_GEMM_H

#include <stddef.h>

/// C[m×n] = A[m×k]·B[k×n] (accumulate == 0) or C + A·B (accumulate != 0), row-major, where each
/// element's sum is one fused-multiply-add chain over k in order, starting from zero, and is
/// then added to C with one rounding. The order is fixed, so the result does not depend on the
/// CPU: the AVX-512 and AVX2 paths and the portable fmaf path give the same bits.
void qv_sgemm_chain(size_t m, size_t n, size_t k,
                    const float *a, size_t lda, const float *b, size_t ldb,
                    float *c, size_t ldc, int accumulate);

/// Which path qv_sgemm_chain takes on this CPU: "avx512f", "avx2+fma" or "portable".
const char *qv_sgemm_chain_path(void);

/// One group of one image of a 2-D convolution (1-D convolutions have height 1).
typedef struct {
    size_t channels, height, width;
    size_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    ptrdiff_t pad_top, pad_left;
    size_t out_h, out_w;
} qv_conv_geometry;

/// y[m × out_h·out_w] = w[m × K] applied to x (channels × height × width), K = channels ·
/// kernel_h · kernel_w in (channel, kernel row, kernel column) order: for every output, one FMA
/// chain from zero per block of block_k reduction steps, the blocks added in order (so it equals
/// an im2col followed by qv_sgemm_chain per block). Positions outside x read as 0. The im2col
/// matrix is never built: 32-pixel panels of it are made in cache, one block at a time.
void qv_conv2d_chain(const qv_conv_geometry *g, const float *x, const float *w, size_t m,
                     float *y, size_t block_k);

/// Makes qv_sgemm_chain take the named path ("portable", "avx2+fma", "avx512f") from now on, so
/// that tests can hold every path to the same bits. Returns 0 (and changes nothing) when the
/// name is unknown or this CPU lacks the instructions.
int qv_sgemm_chain_set_path(const char *name);

#endif
