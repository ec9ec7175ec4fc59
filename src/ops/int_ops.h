/* Private to src/ops: the true-integer paths of the operators that a
 * quantized graph runs on integer tensors (docs/numerics.md, "Integer
 * operators"). The float operator files dispatch here, in infer(),
 * forward() and scratch(), when input 0 has an integer dtype
 * (nq_iop_int_input); every function below assumes that.
 *
 *  - Conv, Gemm, MatMul (conv_int.c, gemm_int.c): X int8/uint8/int16 (and
 *    the sub-byte types in their storage), W int8 (or int2..int4 stored in
 *    int8) or int16, optional bias int32 (or int64) -> Y int32, or int64
 *    when the node's NQ_ATTR_ACC_PRECISION (nnquant/ptq.h) is "int64".
 *    Exact sums (modulo 2^32 / 2^64 beyond, never undefined behaviour).
 *  - MaxPool, GlobalMaxPool (pool_int.c): any integer type, same dtype out.
 *  - Relu (pool_int.c): any integer type, same dtype out.
 *  - ReduceSum (reduce_int.c): 8/16/32-bit integers -> int32, int64 -> int64.
 */
#ifndef NQ_OPS_INT_OPS_H
#define NQ_OPS_INT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "nnquant/ops.h"
#include "nnquant/ptq.h"

/* How an integer tensor is stored in memory. */
typedef enum nq_istore {
    NQ_ISTORE_NONE = 0, /* not an integer type (float, bool, undefined) */
    NQ_ISTORE_S8,       /* int2, int3, int4, int8 in int8_t */
    NQ_ISTORE_U8,       /* uint4, uint8 in uint8_t */
    NQ_ISTORE_S16,
    NQ_ISTORE_S32,
    NQ_ISTORE_S64
} nq_istore;

nq_istore nq_istore_of(nq_dtype t);

/* 1 when input 0 exists and has an integer dtype: the op's integer path. */
static inline int nq_iop_int_input(const nq_kctx *c)
{
    return c->n_in > 0 && c->in[0] != NULL && nq_istore_of(c->in[0]->dtype) != NQ_ISTORE_NONE;
}

/* Accumulator of an affine node from NQ_ATTR_ACC_PRECISION (absent:
 * int32): sets
 * *acc64 (0: int32, 1: int64); fails naming the value otherwise. */
nq_status nq_iop_acc_precision(const nq_kctx *c, int *acc64);

/* dst[i] = src[i] as int16 for n elements of storage s (S8, U8 or S16). */
void nq_iop_widen_s16(nq_istore s, const void *src, int64_t n, int16_t *dst);

/* ---- affine operators (Conv, Gemm, MatMul) ---- */

/* The integer GEMM of kernels.h an affine node runs: A holds the weights
 * (int8 or int16), B the activations (int8, uint8 or int16). */
typedef enum nq_igemm_kind {
    NQ_IGEMM_S8S8,   /* nq_gemm_s8s8s32 */
    NQ_IGEMM_S8U8,   /* nq_gemm_s8u8s32 */
    NQ_IGEMM_S16S32, /* nq_gemm_s16s16s32: an int16 operand, the other widened */
    NQ_IGEMM_S16S64  /* nq_gemm_s16s16s64: int64 accumulation, both widened */
} nq_igemm_kind;

/* Operand types of an affine node and how they reach the kernel. */
typedef struct nq_iaffine {
    nq_istore x, w, b;    /* storage of X, W and the bias (NONE: no bias) */
    nq_igemm_kind kind;
    int acc64;            /* int64 accumulator and output */
    int widen_x, widen_w; /* an 8-bit operand widened to int16 for the kernel */
    int widen_b;          /* an int32 bias widened to int64 */
    size_t xk, wk;        /* element bytes of X and W as the kernel reads them */
    nq_dtype out;         /* NQ_DTYPE_INT32 or NQ_DTYPE_INT64 */
} nq_iaffine;

/* Checks the dtypes of X (input 0), W (input 1) and the bias (input
 * `bias_in`, absent when -1 or missing) and picks the kernel: W must be
 * int8 (int2..int4 stored in int8) or int16, X int8/uint8/int16 family,
 * the bias int32 (int32 or int64 with an int64 accumulator). */
nq_status nq_iaffine_make(const nq_kctx *c, int bias_in, nq_iaffine *a);

/* C[M,N] = A[M,K] * op(B) + bias through the kernel of a->kind (operand
 * types as the kernel reads them; bias and C int32, or int64 when
 * a->acc64). Single-threaded. */
void nq_iaffine_gemm(const nq_iaffine *a, int trans_b, int64_t M, int64_t N, int64_t K,
                     const void *A, int64_t lda, const void *B, int64_t ldb, const void *bias,
                     void *C, int64_t ldc);

/* Conv (conv_int.c). */
nq_status nq_conv_int_infer(nq_kctx *c);
nq_status nq_conv_int_forward(nq_kctx *c);
size_t nq_conv_int_scratch(const nq_kctx *c);

/* Gemm and MatMul (gemm_int.c). */
nq_status nq_gemm_int_infer(nq_kctx *c);
nq_status nq_gemm_int_forward(nq_kctx *c);
size_t nq_gemm_int_scratch(const nq_kctx *c);
nq_status nq_matmul_int_infer(nq_kctx *c);
nq_status nq_matmul_int_forward(nq_kctx *c);
size_t nq_matmul_int_scratch(const nq_kctx *c);

/* MaxPool (without the Indices output), GlobalMaxPool, Relu (pool_int.c). */
nq_status nq_maxpool_int_infer(nq_kctx *c);
nq_status nq_maxpool_int_forward(nq_kctx *c);
nq_status nq_gmaxpool_int_infer(nq_kctx *c);
nq_status nq_gmaxpool_int_forward(nq_kctx *c);
nq_status nq_relu_int_infer(nq_kctx *c);
nq_status nq_relu_int_forward(nq_kctx *c);

/* ReduceSum (reduce_int.c). */
nq_status nq_reducesum_int_infer(nq_kctx *c);
nq_status nq_reducesum_int_forward(nq_kctx *c);

#endif
