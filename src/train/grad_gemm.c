/* Backward of Gemm and MatMul (float32), by nq_sgemm.
 * For Y = alpha * op(A) op(B) (+ beta * C), G = dY:
 *   d op(A) = alpha * G op(B)^T,  d op(B) = alpha * op(A)^T G,
 *   dC = beta * G summed over C's broadcast dims.
 * MatMul: 1-D operands promoted as in the forward ([K] -> [1,K] for A,
 * [K,1] for B); batch dims broadcast, a broadcast operand accumulating the
 * gradients of every batch it served. */
#include "nnquant/kernels.h"
#include "train/grad_internal.h"

/* Adds the gradients of Y[M,N] = alpha * op(A) op(B) into dA / dB (either
 * may be NULL), stored like A / B (row lengths lda, ldb). */
static void mm_backward(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const float *B, int64_t ldb,
                        const float *G, float *dA, float *dB, int threads)
{
    if (dA != NULL) {
        if (!ta) nq_sgemm(0, !tb, M, K, N, alpha, G, N, B, ldb, 1.0f, dA, K, threads);
        else nq_sgemm(tb, 1, K, M, N, alpha, B, ldb, G, N, 1.0f, dA, M, threads);
    }
    if (dB != NULL) {
        if (!tb) nq_sgemm(!ta, 0, K, N, M, alpha, A, lda, G, N, 1.0f, dB, N, threads);
        else nq_sgemm(1, ta, N, K, M, alpha, G, N, A, lda, 1.0f, dB, K, threads);
    }
}

static nq_status check_f32(const nq_gctx *c, int n)
{
    for (int i = 0; i < n && i < c->n_in; i++)
        if (c->in[i] && c->in[i]->dtype != NQ_DTYPE_FLOAT32)
            return nq_grad_fail(c, NQ_ERR_UNSUPPORTED, "input %d dtype %s (float32 only)", i,
                                nq_dtype_name(c->in[i]->dtype));
    return NQ_OK;
}

static nq_status gemm_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0);
    nq_status s = check_f32(c, 3);
    if (s != NQ_OK || g == NULL) return s;
    const nq_tensor *a = c->in[0], *b = c->in[1], *y = c->out[0];
    const int ta = nq_node_attr_int(c->node, "transA", 0) != 0;
    const int tb = nq_node_attr_int(c->node, "transB", 0) != 0;
    const float alpha = nq_node_attr_float(c->node, "alpha", 1.0f);
    const float beta = nq_node_attr_float(c->node, "beta", 1.0f);
    const int64_t M = y->dims[0], N = y->dims[1], K = a->dims[ta ? 0 : 1];
    mm_backward(ta, tb, M, N, K, alpha, a->data, a->dims[1], b->data, b->dims[1], g,
                nq_gd_din(c, 0), nq_gd_din(c, 1), c->num_threads);
    float *dc = nq_gd_din(c, 2);
    if (dc != NULL)
        nq_grad_reduce_broadcast(g, 2, y->dims, beta, dc, c->in[2]->ndim, c->in[2]->dims);
    return NQ_OK;
}

static nq_status matmul_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0);
    nq_status s = check_f32(c, 2);
    if (s != NQ_OK || g == NULL) return s;
    const nq_tensor *a = c->in[0], *b = c->in[1];
    float *da = nq_gd_din(c, 0), *db = nq_gd_din(c, 1);
    const int64_t M = a->ndim == 1 ? 1 : a->dims[a->ndim - 2], K = a->dims[a->ndim - 1];
    const int64_t N = b->ndim == 1 ? 1 : b->dims[b->ndim - 1];
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nb = b->ndim > 2 ? b->ndim - 2 : 0, nbo = 0;
    int64_t bdims[NQ_MAX_DIMS], astr[NQ_MAX_DIMS], bstr[NQ_MAX_DIMS];
    if (nq_broadcast_shape(na, a->dims, nb, b->dims, &nbo, bdims) != NQ_OK)
        return nq_grad_fail(c, NQ_ERR_SHAPE, "batch dims do not broadcast");
    int64_t sa = M * K, sb = K * N, batch = 1;
    for (int i = nbo - 1; i >= 0; i--) {
        int ia = i - (nbo - na), ib = i - (nbo - nb);
        int64_t dA = ia >= 0 ? a->dims[ia] : 1, dB = ib >= 0 ? b->dims[ib] : 1;
        astr[i] = dA == 1 ? 0 : sa;
        bstr[i] = dB == 1 ? 0 : sb;
        sa *= dA;
        sb *= dB;
        batch *= bdims[i];
    }
    int64_t idx[NQ_MAX_DIMS] = {0};
    for (int64_t bi = 0; bi < batch; bi++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < nbo; i++) oa += idx[i] * astr[i], ob += idx[i] * bstr[i];
        mm_backward(0, 0, M, N, K, 1.0f, (const float *)a->data + oa, K,
                    (const float *)b->data + ob, N, g + bi * M * N, da ? da + oa : NULL,
                    db ? db + ob : NULL, c->num_threads);
        for (int i = nbo - 1; i >= 0; i--) {
            if (++idx[i] < bdims[i]) break;
            idx[i] = 0;
        }
    }
    return NQ_OK;
}

const nq_grad_def nq_grad_Gemm = {.backward = gemm_backward};
const nq_grad_def nq_grad_MatMul = {.backward = matmul_backward};
