/* Helpers shared by the integer operator paths (int_ops.h): storage
 * classes, the accumulator attribute, widening, and the choice of integer
 * GEMM for an affine node. */
#include <string.h>

#include "nnquant/kernels.h"
#include "ops/int_ops.h"

static const nq_istore istore_table[NQ_DTYPE_COUNT] = {
    [NQ_DTYPE_INT2] = NQ_ISTORE_S8,   [NQ_DTYPE_INT3] = NQ_ISTORE_S8,
    [NQ_DTYPE_INT4] = NQ_ISTORE_S8,   [NQ_DTYPE_INT8] = NQ_ISTORE_S8,
    [NQ_DTYPE_UINT4] = NQ_ISTORE_U8,  [NQ_DTYPE_UINT8] = NQ_ISTORE_U8,
    [NQ_DTYPE_INT16] = NQ_ISTORE_S16, [NQ_DTYPE_INT32] = NQ_ISTORE_S32,
    [NQ_DTYPE_INT64] = NQ_ISTORE_S64,
};

nq_istore nq_istore_of(nq_dtype t)
{
    return (unsigned)t < NQ_DTYPE_COUNT ? istore_table[t] : NQ_ISTORE_NONE;
}

nq_status nq_iop_acc_precision(const nq_kctx *c, int *acc64)
{
    const char *s = nq_node_attr_string(c->node, NQ_ATTR_ACC_PRECISION, "int32");
    if (strcmp(s, "int32") == 0) *acc64 = 0;
    else if (strcmp(s, "int64") == 0) *acc64 = 1;
    else
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                            "%s is '%s'; integer inputs accumulate in int32 or int64",
                            NQ_ATTR_ACC_PRECISION, s);
    return NQ_OK;
}

void nq_iop_widen_s16(nq_istore s, const void *src, int64_t n, int16_t *dst)
{
    if (s == NQ_ISTORE_S8) {
        const int8_t *x = src;
        for (int64_t i = 0; i < n; i++) dst[i] = x[i];
    } else if (s == NQ_ISTORE_U8) {
        const uint8_t *x = src;
        for (int64_t i = 0; i < n; i++) dst[i] = x[i];
    } else {
        memcpy(dst, src, (size_t)n * sizeof *dst);
    }
}

nq_status nq_iaffine_make(const nq_kctx *c, int bias_in, nq_iaffine *a)
{
    memset(a, 0, sizeof *a);
    if (c->n_in < 2 || !c->in[0] || !c->in[1])
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs two inputs (data and weights)");
    const nq_tensor *x = c->in[0], *w = c->in[1];
    const nq_tensor *b = bias_in >= 0 && bias_in < c->n_in ? c->in[bias_in] : NULL;
    a->x = nq_istore_of(x->dtype);
    a->w = nq_istore_of(w->dtype);
    a->b = b ? nq_istore_of(b->dtype) : NQ_ISTORE_NONE;
    if (a->x != NQ_ISTORE_S8 && a->x != NQ_ISTORE_U8 && a->x != NQ_ISTORE_S16)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                            "integer input of dtype %s; expected int8, uint8, int16 (or int2, "
                            "int3, int4, uint4)",
                            nq_dtype_name(x->dtype));
    if (a->w != NQ_ISTORE_S8 && a->w != NQ_ISTORE_S16)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                            "weights of dtype %s with an integer input of dtype %s; expected "
                            "int8, int16 (or int2, int3, int4)",
                            nq_dtype_name(w->dtype), nq_dtype_name(x->dtype));
    nq_status st = nq_iop_acc_precision(c, &a->acc64);
    if (st) return st;
    if (b && !(a->b == NQ_ISTORE_S32 || (a->acc64 && a->b == NQ_ISTORE_S64)))
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                            "bias of dtype %s with integer inputs; expected int32%s",
                            nq_dtype_name(b->dtype), a->acc64 ? " or int64" : "");
    a->out = a->acc64 ? NQ_DTYPE_INT64 : NQ_DTYPE_INT32;
    a->widen_b = a->acc64 && a->b == NQ_ISTORE_S32;
    if (a->acc64) a->kind = NQ_IGEMM_S16S64;
    else if (a->x == NQ_ISTORE_S16 || a->w == NQ_ISTORE_S16) a->kind = NQ_IGEMM_S16S32;
    else a->kind = a->x == NQ_ISTORE_U8 ? NQ_IGEMM_S8U8 : NQ_IGEMM_S8S8;
    const int wide = a->kind == NQ_IGEMM_S16S32 || a->kind == NQ_IGEMM_S16S64;
    a->widen_x = wide && a->x != NQ_ISTORE_S16;
    a->widen_w = wide && a->w != NQ_ISTORE_S16;
    a->xk = wide ? 2 : 1;
    a->wk = wide ? 2 : 1;
    return NQ_OK;
}

void nq_iaffine_gemm(const nq_iaffine *a, int trans_b, int64_t M, int64_t N, int64_t K,
                     const void *A, int64_t lda, const void *B, int64_t ldb, const void *bias,
                     void *C, int64_t ldc)
{
    switch (a->kind) {
    case NQ_IGEMM_S8S8:
        nq_gemm_s8s8s32(trans_b, M, N, K, A, lda, B, ldb, bias, C, ldc);
        break;
    case NQ_IGEMM_S8U8:
        nq_gemm_s8u8s32(trans_b, M, N, K, A, lda, B, ldb, bias, C, ldc);
        break;
    case NQ_IGEMM_S16S32:
        nq_gemm_s16s16s32(trans_b, M, N, K, A, lda, B, ldb, bias, C, ldc);
        break;
    case NQ_IGEMM_S16S64:
        nq_gemm_s16s16s64(trans_b, M, N, K, A, lda, B, ldb, bias, C, ldc);
        break;
    }
}
