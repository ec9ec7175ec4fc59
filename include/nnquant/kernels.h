/*
 * nnquant kernels: inner loops shared by operators. Kernels never allocate;
 * scratch is passed in. Each kernel has a plain scalar reference
 * (suffix _ref) and the dispatching version tested against it.
 */
#ifndef NNQUANT_KERNELS_H
#define NNQUANT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, f32.
 * op(A) is A[M,K] (lda >= K) or, if trans_a, A[K,M] transposed (lda >= M);
 * likewise for B. Uses OpenBLAS sgemm when built with it, else a blocked
 * portable loop. num_threads >= 1. */
void nq_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
              float *C, int64_t ldc, int num_threads);
void nq_sgemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc);

/* Parameters of an N-d convolution / pooling window (spatial dims only). */
#define NQ_MAX_SPATIAL 3
typedef struct nq_conv_geom {
    int nsp;                          /* number of spatial dims (1..3) */
    int64_t in[NQ_MAX_SPATIAL];       /* input spatial size */
    int64_t out[NQ_MAX_SPATIAL];      /* output spatial size */
    int64_t kernel[NQ_MAX_SPATIAL];
    int64_t stride[NQ_MAX_SPATIAL];
    int64_t dilation[NQ_MAX_SPATIAL];
    int64_t pad_begin[NQ_MAX_SPATIAL];
    int64_t pad_end[NQ_MAX_SPATIAL];
} nq_conv_geom;

/* im2col for one image and one group: src [C, in...] -> dst [C*prod(kernel), prod(out)],
 * zero padding. */
void nq_im2col_f32(const nq_conv_geom *g, int64_t channels, const float *src, float *dst);
/* Its adjoint: adds col [C*prod(kernel), prod(out)] into img [C, in...]
 * (ConvTranspose's forward, Conv's input gradient). */
void nq_col2im_add_f32(const nq_conv_geom *g, int64_t channels, const float *col, float *img);

/* ==================================================================== */
/* Integer kernels (src/kernels/requant.c, gemm_s8.c, im2col_s8.c).     */
/* Semantics: docs/numerics.md, implemented bit-exactly here.           */
/* ==================================================================== */
/*
 * Rounding, everywhere in this section:
 *  - float -> int quantization rounds half to even (as C's nearbyintf in
 *    the default rounding mode), then clamps;
 *  - requantization rounds half up (toward +infinity), computed exactly
 *    in integers, then clamps.
 * Clamping to [qmin, qmax] is y = min(max(y, qmin), qmax); the vector
 * functions first intersect [qmin, qmax] with their output type's range,
 * so they always write a value of that type. Ranges of low-bit types
 * (int4 in an int8_t, uint4 in a uint8_t) are just narrower [qmin, qmax].
 * Arrays passed to one call must not overlap unless stated. n, batch,
 * channels, spatial <= 0 write nothing. No function here allocates, fails
 * or touches global state.
 */

/* A rescaling factor as a fixed-point multiplier and a shift:
 *   shift >= 1: y = (acc * mult + 2^(shift-1)) >> shift  (arithmetic shift,
 *               computed exactly: never wraps, for any int64 acc)
 *   shift <= 0: y = acc * mult * 2^-shift                  (exact)
 * then y = clamp(y, qmin, qmax).
 * nq_requant_from_scale() gives mult in [2^30, 2^31) and shift in [1, 62];
 * nq_requant_from_shift() gives mult = 1 (single-shift approximation).
 * Valid fields: mult in [0, 2^31 - 1], shift in [NQ_REQUANT_SHIFT_MIN,
 * NQ_REQUANT_SHIFT_MAX]; the apply functions treat a negative mult as 0
 * and clamp shift into that range (no undefined behaviour for any input). */
typedef struct nq_requant {
    int32_t mult;
    int32_t shift;
} nq_requant;

#define NQ_REQUANT_SHIFT_MIN (-31)
#define NQ_REQUANT_SHIFT_MAX 62

/* What nq_requant_from_scale_checked() could represent. */
typedef enum nq_requant_range {
    NQ_REQUANT_EXACT = 0,     /* m in [2^-32, 2^30) (up to the rounding of mult): mult in
                                 [2^30, 2^31), shift in [1, 62], relative error <= 2^-31 */
    NQ_REQUANT_UNDERFLOW = 1, /* 0 < m < 2^-32: shift = 62, mult = round(m * 2^62) <= 2^30;
                                 every int32 accumulator gives 0 */
    NQ_REQUANT_OVERFLOW = 2,  /* m >= 2^30 (or +inf): saturated to the largest factor,
                                 {2^31 - 1, 1} = 2^30 - 2^-1 */
    NQ_REQUANT_INVALID = 3    /* m <= 0 or NaN: {0, 62}, every output is clamp(0) */
} nq_requant_range;

/* m = mult * 2^-shift as in docs/numerics.md: frexp(m) = f * 2^e,
 * mult = round(f * 2^31) with ties away from zero (2^31 becomes 2^30 and
 * e + 1), shift = 31 - e. Outside [2^-32, 2^30) see nq_requant_range. */
nq_requant nq_requant_from_scale(double m);
nq_requant_range nq_requant_from_scale_checked(double m, nq_requant *out);
/* A pure shift: factor 2^-shift (shift clamped into [NQ_REQUANT_SHIFT_MIN,
 * NQ_REQUANT_SHIFT_MAX]); shift >= 1 rounds half up, shift <= 0 shifts left. */
nq_requant nq_requant_from_shift(int shift);
/* The factor r stands for, mult * 2^-shift, as a double (for reports). */
double nq_requant_to_double(nq_requant r);

/* The reference requantization of one accumulator (any int64 value). */
int32_t nq_requant_apply(int64_t acc, nq_requant r, int32_t qmin, int32_t qmax);

/* out[i] = nq_requant_apply(acc[i], r, qmin, qmax) for i in [0, n). */
void nq_requant_s32_to_s8(const int32_t *acc, int64_t n, nq_requant r, int32_t qmin,
                          int32_t qmax, int8_t *out);
void nq_requant_s32_to_u8(const int32_t *acc, int64_t n, nq_requant r, int32_t qmin,
                          int32_t qmax, uint8_t *out);
void nq_requant_s32_to_s16(const int32_t *acc, int64_t n, nq_requant r, int32_t qmin,
                           int32_t qmax, int16_t *out);
void nq_requant_s32_to_s32(const int32_t *acc, int64_t n, nq_requant r, int32_t qmin,
                           int32_t qmax, int32_t *out);
void nq_requant_s64_to_s8(const int64_t *acc, int64_t n, nq_requant r, int32_t qmin,
                          int32_t qmax, int8_t *out);
void nq_requant_s64_to_u8(const int64_t *acc, int64_t n, nq_requant r, int32_t qmin,
                          int32_t qmax, uint8_t *out);
void nq_requant_s64_to_s16(const int64_t *acc, int64_t n, nq_requant r, int32_t qmin,
                           int32_t qmax, int16_t *out);
void nq_requant_s64_to_s32(const int64_t *acc, int64_t n, nq_requant r, int32_t qmin,
                           int32_t qmax, int32_t *out);

/* Per-channel: acc and out are [batch, channels, spatial] (contiguous);
 * element (b, c, s) uses r[c]. */
void nq_requant_s32_to_s8_per_channel(const int32_t *acc, int64_t batch, int64_t channels,
                                      int64_t spatial, const nq_requant *r, int32_t qmin,
                                      int32_t qmax, int8_t *out);
void nq_requant_s32_to_u8_per_channel(const int32_t *acc, int64_t batch, int64_t channels,
                                      int64_t spatial, const nq_requant *r, int32_t qmin,
                                      int32_t qmax, uint8_t *out);
void nq_requant_s32_to_s16_per_channel(const int32_t *acc, int64_t batch, int64_t channels,
                                       int64_t spatial, const nq_requant *r, int32_t qmin,
                                       int32_t qmax, int16_t *out);
void nq_requant_s32_to_s32_per_channel(const int32_t *acc, int64_t batch, int64_t channels,
                                       int64_t spatial, const nq_requant *r, int32_t qmin,
                                       int32_t qmax, int32_t *out);
void nq_requant_s64_to_s8_per_channel(const int64_t *acc, int64_t batch, int64_t channels,
                                      int64_t spatial, const nq_requant *r, int32_t qmin,
                                      int32_t qmax, int8_t *out);
void nq_requant_s64_to_u8_per_channel(const int64_t *acc, int64_t batch, int64_t channels,
                                      int64_t spatial, const nq_requant *r, int32_t qmin,
                                      int32_t qmax, uint8_t *out);
void nq_requant_s64_to_s16_per_channel(const int64_t *acc, int64_t batch, int64_t channels,
                                       int64_t spatial, const nq_requant *r, int32_t qmin,
                                       int32_t qmax, int16_t *out);
void nq_requant_s64_to_s32_per_channel(const int64_t *acc, int64_t batch, int64_t channels,
                                       int64_t spatial, const nq_requant *r, int32_t qmin,
                                       int32_t qmax, int32_t *out);

/* Quantize: out[i] = clamp(round_half_even(x[i] * scale), qmin, qmax), the
 * product taken in float32. NaN gives clamp(0); +-inf give qmax / qmin. */
void nq_quantize_f32_s8(const float *x, int64_t n, float scale, int32_t qmin, int32_t qmax,
                        int8_t *out);
void nq_quantize_f32_u8(const float *x, int64_t n, float scale, int32_t qmin, int32_t qmax,
                        uint8_t *out);
void nq_quantize_f32_s16(const float *x, int64_t n, float scale, int32_t qmin, int32_t qmax,
                         int16_t *out);
void nq_quantize_f32_s32(const float *x, int64_t n, float scale, int32_t qmin, int32_t qmax,
                         int32_t *out);
/* Per-channel: x and out are [batch, channels, spatial], scale[channels]
 * (weights [Cout, Cin, k...] are batch = 1, channels = Cout). */
void nq_quantize_f32_s8_per_channel(const float *x, int64_t batch, int64_t channels,
                                    int64_t spatial, const float *scale, int32_t qmin,
                                    int32_t qmax, int8_t *out);
void nq_quantize_f32_u8_per_channel(const float *x, int64_t batch, int64_t channels,
                                    int64_t spatial, const float *scale, int32_t qmin,
                                    int32_t qmax, uint8_t *out);
void nq_quantize_f32_s16_per_channel(const float *x, int64_t batch, int64_t channels,
                                     int64_t spatial, const float *scale, int32_t qmin,
                                     int32_t qmax, int16_t *out);
void nq_quantize_f32_s32_per_channel(const float *x, int64_t batch, int64_t channels,
                                     int64_t spatial, const float *scale, int32_t qmin,
                                     int32_t qmax, int32_t *out);

/* Fake quantization in float: out[i] = round_half_even(clamp(x[i] * scale,
 * lo, hi)), the product taken in float32, for integral lo <= hi within
 * +-2^22 (the caller checks: it is then the same as clamping after
 * rounding). NaN stays NaN; a rounded 0 is +0. */
void nq_fake_quantize_f32(const float *x, int64_t n, float scale, float lo, float hi, float *out);

/* Dequantize: out[i] = (float)q[i] * inv_scale (float32 product). */
void nq_dequantize_s8_f32(const int8_t *q, int64_t n, float inv_scale, float *out);
void nq_dequantize_u8_f32(const uint8_t *q, int64_t n, float inv_scale, float *out);
void nq_dequantize_s16_f32(const int16_t *q, int64_t n, float inv_scale, float *out);
void nq_dequantize_s32_f32(const int32_t *q, int64_t n, float inv_scale, float *out);
void nq_dequantize_s8_f32_per_channel(const int8_t *q, int64_t batch, int64_t channels,
                                      int64_t spatial, const float *inv_scale, float *out);
void nq_dequantize_s32_f32_per_channel(const int32_t *q, int64_t batch, int64_t channels,
                                       int64_t spatial, const float *inv_scale, float *out);

/* Integer GEMM: C[M,N] = A[M,K] * op(B) + bias, all row-major.
 * A is [M,K] (lda >= K); op(B) is B[K,N] (ldb >= N) or, if trans_b, B
 * given as [N,K] (ldb >= K; no packing transpose needed, e.g. im2row
 * columns or FC weights). bias[M] is added to row i (one value per
 * output channel when A holds conv weights [Cout, Cin*k...]); NULL for
 * none. C (ldc >= N) is overwritten, never read.
 * s32 results are the exact sum modulo 2^32: exact whenever it fits in
 * int32, which quantization checks beforehand (docs/numerics.md); s64
 * results are exact sums modulo 2^64 (exact for K < 2^33). Single-threaded
 * (callers split M or N across threads); up to about 160 KiB of stack for
 * packed panels; picks the widest vector ISA the CPU has at run time (the
 * same results bit for bit: integer arithmetic). The _ref versions are
 * the plain triple loops everything is tested against. */
void nq_gemm_s8s8s32(int trans_b, int64_t M, int64_t N, int64_t K, const int8_t *A,
                     int64_t lda, const int8_t *B, int64_t ldb, const int32_t *bias,
                     int32_t *C, int64_t ldc);
void nq_gemm_s8s8s32_ref(int trans_b, int64_t M, int64_t N, int64_t K, const int8_t *A,
                         int64_t lda, const int8_t *B, int64_t ldb, const int32_t *bias,
                         int32_t *C, int64_t ldc);
/* A int8 (weights) times B uint8 (activations made unsigned by sign
 * optimization). */
void nq_gemm_s8u8s32(int trans_b, int64_t M, int64_t N, int64_t K, const int8_t *A,
                     int64_t lda, const uint8_t *B, int64_t ldb, const int32_t *bias,
                     int32_t *C, int64_t ldc);
void nq_gemm_s8u8s32_ref(int trans_b, int64_t M, int64_t N, int64_t K, const int8_t *A,
                         int64_t lda, const uint8_t *B, int64_t ldb, const int32_t *bias,
                         int32_t *C, int64_t ldc);
/* The int8 GEMMs with A packed once beforehand (a convolution's weights,
 * shared by every image and thread of a call), B as [K,N]:
 * nq_gemm_s8_packed_a_bytes(M, K) is the size of packed A, 0 where this
 * CPU has no kernel for it (then use the functions above) or M or K <= 0;
 * nq_gemm_s8_pack_a fills it; the _packed GEMMs, to be called only where
 * that size is not 0, take it in place of A and give the same results. */
size_t nq_gemm_s8_packed_a_bytes(int64_t M, int64_t K);
void nq_gemm_s8_pack_a(int64_t M, int64_t K, const int8_t *A, int64_t lda, void *packed);
void nq_gemm_s8s8s32_packed(int64_t M, int64_t N, int64_t K, const void *packed_a,
                            const int8_t *B, int64_t ldb, const int32_t *bias, int32_t *C,
                            int64_t ldc);
void nq_gemm_s8u8s32_packed(int64_t M, int64_t N, int64_t K, const void *packed_a,
                            const uint8_t *B, int64_t ldb, const int32_t *bias, int32_t *C,
                            int64_t ldc);
void nq_gemm_s16s16s32(int trans_b, int64_t M, int64_t N, int64_t K, const int16_t *A,
                       int64_t lda, const int16_t *B, int64_t ldb, const int32_t *bias,
                       int32_t *C, int64_t ldc);
void nq_gemm_s16s16s32_ref(int trans_b, int64_t M, int64_t N, int64_t K, const int16_t *A,
                           int64_t lda, const int16_t *B, int64_t ldb, const int32_t *bias,
                           int32_t *C, int64_t ldc);
/* int64 accumulation, for int16 activations whose int32 sums can overflow. */
void nq_gemm_s16s16s64(int trans_b, int64_t M, int64_t N, int64_t K, const int16_t *A,
                       int64_t lda, const int16_t *B, int64_t ldb, const int64_t *bias,
                       int64_t *C, int64_t ldc);
void nq_gemm_s16s16s64_ref(int trans_b, int64_t M, int64_t N, int64_t K, const int16_t *A,
                           int64_t lda, const int16_t *B, int64_t ldb, const int64_t *bias,
                           int64_t *C, int64_t ldc);

/* im2col of any element type: src [channels, in...] -> dst
 * [channels*prod(kernel), prod(out)], elements of elem_size bytes (1, 2,
 * 4 or 8 take fast paths; any size works), padding with all-zero bytes
 * (0 for integers: zero points are 0; +0.0 for floats). */
void nq_im2col_bytes(const nq_conv_geom *g, int64_t channels, size_t elem_size, const void *src,
                     void *dst);
void nq_im2col_s8(const nq_conv_geom *g, int64_t channels, const int8_t *src, int8_t *dst);
void nq_im2col_s16(const nq_conv_geom *g, int64_t channels, const int16_t *src, int16_t *dst);

#ifdef __cplusplus
}
#endif
#endif
