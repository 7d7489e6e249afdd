#ifndef QV_CHAIN_GEMM_H
#define QV_CHAIN_GEMM_H

#include <stddef.h>
#include <stdint.h>

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
/// matrix is never built: panels of it are made in cache, one block at a time (or, with AVX-512,
/// stride 1 across and rows of 16k pixels, read straight from a zero-padded copy of x). `bias`
/// (m values, or NULL) is added to every output after its whole sum.
void qv_conv2d_chain(const qv_conv_geometry *g, const float *x, const float *w, size_t m,
                     float *y, size_t block_k, const float *bias);

/// qv_conv2d_chain on `images` inputs (image i at x + i·x_image, its output at y + i·y_image).
/// Images whose output has fewer pixels than a panel share panels, so small late-layer outputs
/// (2×2, 4×4) fill the vector lanes; every output's summation order is the one-image order, so
/// the result is bit-identical to one call per image.
void qv_conv2d_chain_images(const qv_conv_geometry *g, size_t images, const float *x, size_t x_image,
                            const float *w, size_t m, float *y, size_t y_image, size_t block_k,
                            const float *bias);

/// One stage of a pointwise chain (DequantizeLinear → BatchNormalization → Relu → QuantizeLinear
/// run as one pass over the tensor, every element through the same float32 operations, in the
/// same order, as the nodes one by one). `count` parameter sets: 1, or one per channel.
enum {
    QV_PW_DEQUANTIZE = 1,  // int32 q → float(q − zero) · scale (the subtraction wraps)
    QV_PW_AFFINE = 2,      // v → v · scale + shift (two roundings: the product, then the sum)
    QV_PW_RELU = 3,        // v → 0 >= v ? 0 : v (NaN stays NaN, −0 becomes +0)
    QV_PW_QUANTIZE = 4,    // v → rint(clamp(v / scale, lo, hi)) + zero (NaN to lo), int32; count 1
    QV_PW_REQUANTIZE = 5,  // v → rint(clamp(v · scale, lo, hi)) + zero (NaN to lo), int32 (MLAS)
};
typedef struct {
    int kind;
    size_t count;
    const float *scale;
    const float *shift;
    const int32_t *zero;
    float lo, hi;
} qv_pw_stage;

/// A depthwise convolution (one filter per channel): `planes` input planes (images × channels,
/// g->channels ignored), plane p filtered by w[(p mod channels) · kernel_h·kernel_w ...] and
/// biased by bias[p mod channels] (or not, when NULL). Each output is MLAS's one-row kernel:
/// per reduction block of block_k taps, groups of 4, 2, 1 rounded products summed in order and
/// added to the running value (the first to +0), then the bias.
void qv_depthwise_conv(const qv_conv_geometry *g, size_t planes, size_t channels, const float *x, const float *w,
                       float *y, size_t block_k, const float *bias);
/// The same on int32 x read as float(x − zp) (the subtraction wraps) while the planes are
/// copied, so the shifted input is never written out; returns the largest |x − zp| it read.
/// For exact integer sums only: with AVX-512 or AVX2 (equal strides) all taps are summed at once from
/// the bias, which equals the blocked order because every partial sum must be an integer below
/// 2^24 in magnitude (the caller checks that bound, and the returned maximum against it).
/// With `stage_count` stages (at most 8; plane p takes parameter set p mod channels) each sum
/// goes through them before it is stored, as qv_pointwise_chain would, and y is int32 when the
/// last stage quantizes; y is float otherwise.
uint32_t qv_depthwise_conv_shifted(const qv_conv_geometry *g, size_t planes, size_t channels, const int32_t *x,
                                   int32_t zp, const float *w, size_t block_k, const float *bias,
                                   const qv_pw_stage *stages, size_t stage_count, void *y);

/// Aidge's per-tensor quantizer loops with AVX-512 (16 lanes). Each returns 1 when it ran, 0 when
/// the CPU (or a forced path) lacks AVX-512 and the caller must use its own loop; the arithmetic
/// is the caller's, operation for operation, so both give the same integers. (ONNX
/// QuantizeLinear and DequantizeLinear run as pointwise stages: qv_pointwise_chain.)
///
/// Aidge's quantizer on int32 or float input: t = clamp(float(x) · sf, lo, hi) + 0.5 (NaN → lo),
/// r = floor(t) + zp, then r + span when r < 0 (the wrap into an unsigned type; span 0 if signed).
int qv_aidge_quantize_i32(const int32_t *x, size_t n, float sf, float lo, float hi, int32_t zp, int32_t span, int32_t *out);
int qv_aidge_quantize_f32(const float *x, size_t n, float sf, float lo, float hi, int32_t zp, int32_t span, int32_t *out);


/// Runs `stage_count` stages (at most 8) over `planes` rows of `inner` elements; row p takes
/// parameter set p mod channels of each per-channel stage. x is int32 when the first stage
/// dequantizes (else float); out is int32 when the last quantizes (else float).
void qv_pointwise_chain(const void *x, size_t planes, size_t inner, size_t channels, const qv_pw_stage *stages,
                        size_t stage_count, void *out);

/// QLinearAdd of same-shape int8/uint8 tensors as onnxruntime: v = fma(a, ra, fma(b, rb, fixed)),
/// rint, then clamp to [lo, hi] (the x86 conversion's INT32_MIN for NaN/overflow becomes lo).
int qv_qlinear_add_i32(const int32_t *a, const int32_t *b, size_t n, float fixed, float ra, float rb, int32_t lo, int32_t hi, int32_t *out);

/// out = (int32)v for float values that hold integers of magnitude below 2^24 (exact); 0 when
/// the CPU (or a forced path) has neither AVX-512 nor AVX2.
int qv_exact_f32_to_i32(const float *v, size_t n, int32_t *out);
/// out = float(x − z) (wrapping subtraction); returns max |x − z| as an unsigned magnitude, or
/// -1 when the CPU (or a forced path) has neither AVX-512 nor AVX2.
int64_t qv_shifted_i32_to_f32(const int32_t *x, size_t n, int32_t z, float *out);

/// 2×2 stride-2 max pooling of `planes` h×w planes into oh×ow (oh ≤ h/2, ow ≤ w/2): in window
/// order (row-major) a later element wins only when strictly greater (so NaN never wins and a
/// NaN first element stays). `idx`, when not NULL, gets the winner's flat index into x.
void qv_maxpool2x2_i32(const int32_t *x, size_t planes, size_t h, size_t w, size_t oh, size_t ow,
                       int32_t *y, int64_t *idx);
void qv_maxpool2x2_f32(const float *x, size_t planes, size_t h, size_t w, size_t oh, size_t ow,
                       float *y, int64_t *idx);

/// Max pooling with any window, stride, dilation and padding (NCHW planes): window in row-major
/// order, positions outside skipped, a later element wins only when strictly greater; an empty
/// window gives `lowest` and index 0. `idx` (flat index into x) may be NULL.
void qv_maxpool_f32(const float *x, size_t planes, size_t h, size_t w, size_t oh, size_t ow, size_t kh, size_t kw, size_t sh,
                    size_t sw, size_t dh, size_t dw, ptrdiff_t pt, ptrdiff_t pl, float lowest, float *y, int64_t *idx);
void qv_maxpool_i32(const int32_t *x, size_t planes, size_t h, size_t w, size_t oh, size_t ow, size_t kh, size_t kw, size_t sh,
                    size_t sw, size_t dh, size_t dw, ptrdiff_t pt, ptrdiff_t pl, int32_t lowest, int32_t *y, int64_t *idx);

/// Whether the chosen path has the FMA instruction (else fused multiply-adds are libm's fmaf).
int qv_chain_path_has_fma(void);

/// MLAS's float transcendentals as onnxruntime runs them on x86-64 (mlas_math.c): y[i] = f(x[i]).
void qv_mlas_logistic(const float *x, float *y, size_t n);
void qv_mlas_tanh(const float *x, float *y, size_t n);
void qv_mlas_erf(const float *x, float *y, size_t n);
/// onnxruntime's Gelu: the erf form, or (tanh_form != 0) the tanh form.
void qv_mlas_gelu(const float *x, float *y, size_t n, int tanh_form);
/// MlasComputeSoftmax on one row of n values: Softmax, or LogSoftmax (log_softmax != 0); the sum
/// in 8 lanes, or 16 (avx512 != 0) as the AVX-512F kernel sums.
void qv_mlas_softmax_row(const float *x, float *y, size_t n, int log_softmax, int avx512);

/// Makes qv_sgemm_chain take the named path ("portable", "avx2+fma", "avx512f") from now on, so
/// that tests can hold every path to the same bits. Returns 0 (and changes nothing) when the
/// name is unknown or this CPU lacks the instructions.
int qv_sgemm_chain_set_path(const char *name);

/// onnxruntime's u8×s8 products on x86 without VNNI (vpmaddubsw): each k-pair (2j, 2j+1) of raw
/// products is saturated to int16 before it is added. These add Σ_pairs sat16(p) − p to exact
/// accumulators `corr` and return how many pair sums saturated (-1 if out of memory).
/// 1 when weights w0, w1 can saturate a pair with some u8 input: 255·max(w0⁺+w1⁺, w0⁻+w1⁻) > 32767.
int qv_u8s8_pair_can_saturate(int32_t w0, int32_t w1);
/// GEMM: A raw u8, element (i, kk) at a[i·sam + kk·sak]; op(B) raw s8, element (kk, j) at
/// b[kk·sbk + j·sbn]; corr is m×n row-major.
int64_t qv_u8s8_saturation_gemm(size_t m, size_t n, size_t k, const int32_t *a, ptrdiff_t sam, ptrdiff_t sak,
                                const int32_t *b, ptrdiff_t sbk, ptrdiff_t sbn, int64_t *corr);
/// One group of one image: x raw u8 (channels × height × width; outside it reads xzp), w raw s8
/// [mg × channels·kernel_h·kernel_w] in ONNX order, paired in MLAS's (kernel row, kernel column,
/// channel) order; corr is mg × out_h·out_w.
int64_t qv_u8s8_saturation_conv(const qv_conv_geometry *g, const int32_t *x, int32_t xzp, const int32_t *w, size_t mg,
                                int64_t *corr);

/// The integer-product kernels onnxruntime's MLAS picks on this CPU: 3 VNNI (AVX-512 VNNI or
/// AVX-VNNI: exact), 2 AVX-512BW without VNNI, 1 AVX2 (both saturate u8×s8 pairs), 0 other.
int qv_host_integer_isa(void);

/// Exact 8-bit convolution sums (conv_u8s8.c). Which form runs here: 1 AVX-512 VNNI (the CPU
/// has it and the AVX-512 path is chosen), 2 AVX2 vpmaddwd (the AVX2 path is chosen, or AVX-512
/// without VNNI), 0 none (the portable path). Weights are packed for one form, `kind`.
int qv_conv_u8s8_available(void);
/// int32 words qv_conv_u8s8_pack_weights writes for m output channels of one group.
size_t qv_conv_u8s8_weight_words(const qv_conv_geometry *g, size_t m, int kind);
/// Packs one group's weights w' = w − w_zero (m × channels·kernel_h·kernel_w in ONNX order, each
/// in [−128, 127]) into words of 4 (kind 1: bytes) or 2 (kind 2: 16-bit halves) channels,
/// (channel group, kernel row, kernel column) by output channel, rows padded to 16 with zeros;
/// row_sums[r] = Σ w' of row r.
void qv_conv_u8s8_pack_weights(const qv_conv_geometry *g, size_t m, const int32_t *w, int32_t *packed,
                               int32_t *row_sums, int kind);
/// One group of `images` images (image i at x + i·x_image, its output at y + i·y_image):
/// y[m × out_h·out_w] = Σ_k (x_k − x_zero)(w'_mk) + bias[m] (bias may be NULL) exactly, in int32
/// (wrapping), or that int32 converted to float when y_float. x holds the values as int32; x +
/// x_offset must lie in [0, 255] (128 for int8, 0 for uint8), and x_zero is the zero point plus
/// x_offset; positions outside x read as x_zero. With `stage_count` stages (at most 8; the
/// group must be the whole conv, y_image = m·out_h·out_w, channel r takes parameter set r; else
/// 0 is returned), each float(sum) goes
/// through them instead, as qv_pointwise_chain would over the float sums, and y is int32 when
/// the last stage quantizes (float otherwise; y_float is then ignored). Returns 0 (writing
/// nothing) when the weights' `kind` is not the form available now, or a pad is negative.
int qv_conv_u8s8(const qv_conv_geometry *g, size_t images, const int32_t *x, size_t x_image, int32_t x_offset,
                 uint8_t x_zero, const int32_t *packed, size_t m, const int32_t *row_sums, const int32_t *bias,
                 const qv_pw_stage *stages, size_t stage_count, void *y, size_t y_image, int y_float, int kind);

#endif
