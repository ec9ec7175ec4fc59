/* Private to src/kernels and tests: the portable GEMM that nq_sgemm uses
 * when nnquant is built without OpenBLAS (exposed so that it is tested
 * against nq_sgemm_ref in every build). */
#ifndef NQ_KERNELS_GEMM_INTERNAL_H
#define NQ_KERNELS_GEMM_INTERNAL_H

#include <stdint.h>

/* Same contract as nq_sgemm (single thread); cache-blocked with packing
 * into fixed-size stack buffers (about 80 KiB of stack). */
void nq_sgemm_portable(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                       float *C, int64_t ldc);

#endif
