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

#ifdef __cplusplus
}
#endif
#endif
