/* Gemm (opset 7..13+) and MatMul (numpy semantics), float32, via nq_sgemm
 * (integer inputs: gemm_int.c).
 * Gemm: Y[M,N] = alpha * op(A) * op(B) + beta * C, C broadcast to [M,N]
 *       (C optional from opset 11).
 * MatMul: 1-D operands are promoted ([K] -> [1,K] for A, [K,1] for B) and
 *       the added dim removed from the result; batch dims broadcast. */
#include <string.h>

#include "nnquant/kernels.h"
#include "nnquant/ops.h"
#include "ops/int_ops.h"

static nq_status need_f32(const nq_kctx *c, int n)
{
    if (c->n_in < n) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs %d inputs", n);
    for (int i = 0; i < c->n_in; i++) {
        if (!c->in[i]) {
            if (i < n) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "input %d is missing", i);
            continue;
        }
        if (c->in[i]->dtype != NQ_DTYPE_FLOAT32)
            return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                                "input %d has dtype %s; only float32 is supported", i,
                                nq_dtype_name(c->in[i]->dtype));
    }
    if (c->n_out < 1 || !c->out[0]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs an output");
    return NQ_OK;
}

/* ---- Gemm ---- */

typedef struct gemm_dims {
    int64_t M, N, K;
    int ta, tb;
} gemm_dims;

static nq_status gemm_check(const nq_kctx *c, gemm_dims *d)
{
    nq_status st = need_f32(c, 2);
    if (st) return st;
    const nq_tensor *a = c->in[0], *b = c->in[1], *cc = c->n_in > 2 ? c->in[2] : NULL;
    if (a->ndim != 2 || b->ndim != 2)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "A (rank %d) and B (rank %d) must be matrices",
                            a->ndim, b->ndim);
    d->ta = nq_node_attr_int(c->node, "transA", 0) != 0;
    d->tb = nq_node_attr_int(c->node, "transB", 0) != 0;
    d->M = a->dims[d->ta ? 1 : 0];
    d->K = a->dims[d->ta ? 0 : 1];
    int64_t kb = b->dims[d->tb ? 1 : 0];
    d->N = b->dims[d->tb ? 0 : 1];
    if (kb != d->K)
        return nq_kctx_fail(c, NQ_ERR_SHAPE,
                            "inner dims differ: op(A) is [%lld, %lld], op(B) is [%lld, %lld]",
                            (long long)d->M, (long long)d->K, (long long)kb, (long long)d->N);
    if (cc) {
        int64_t want[2] = {d->M, d->N};
        int ok = cc->ndim <= 2;
        for (int i = 0; ok && i < cc->ndim; i++) {
            int64_t dim = cc->dims[i], w = want[2 - cc->ndim + i];
            ok = dim == w || dim == 1;
        }
        if (!ok) {
            char buf[96];
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "C of shape %s does not broadcast to [%lld, %lld]",
                                nq_shape_str(cc->ndim, cc->dims, buf, sizeof buf), (long long)d->M,
                                (long long)d->N);
        }
    }
    return NQ_OK;
}

static nq_status gemm_infer(nq_kctx *c)
{
    if (nq_iop_int_input(c)) return nq_gemm_int_infer(c); /* gemm_int.c */
    gemm_dims d = {0};
    nq_status st = gemm_check(c, &d);
    if (st) return st;
    int64_t dims[2] = {d.M, d.N};
    return nq_tensor_init(c->out[0], NQ_DTYPE_FLOAT32, 2, dims, c->err);
}

static nq_status gemm_forward(nq_kctx *c)
{
    if (nq_iop_int_input(c)) return nq_gemm_int_forward(c);
    gemm_dims d = {0};
    nq_status st = gemm_check(c, &d);
    if (st) return st;
    const nq_tensor *a = c->in[0], *b = c->in[1], *cc = c->n_in > 2 ? c->in[2] : NULL;
    float alpha = nq_node_attr_float(c->node, "alpha", 1.0f);
    float beta = nq_node_attr_float(c->node, "beta", 1.0f);
    float *y = c->out[0]->data;
    if (cc == NULL || nq_tensor_numel(cc) == 0) beta = 0.0f;
    if (beta != 0.0f) { /* Y = broadcast(C), then Y = alpha*AB + beta*Y */
        const float *cv = cc->data;
        int64_t rows = cc->ndim == 2 ? cc->dims[0] : 1;
        int64_t cols = cc->ndim >= 1 ? cc->dims[cc->ndim - 1] : 1;
        for (int64_t i = 0; i < d.M; i++) {
            const float *src = cv + (rows == 1 ? 0 : i) * cols;
            float *dst = y + i * d.N;
            if (cols == d.N) memcpy(dst, src, (size_t)d.N * sizeof *dst);
            else
                for (int64_t j = 0; j < d.N; j++) dst[j] = src[0];
        }
    }
    nq_sgemm(d.ta, d.tb, d.M, d.N, d.K, alpha, a->data, a->dims[1], b->data, b->dims[1], beta, y,
             d.N, c->num_threads);
    return NQ_OK;
}

static size_t gemm_scratch(const nq_kctx *c)
{
    return nq_iop_int_input(c) ? nq_gemm_int_scratch(c) : 0;
}

const nq_op_def nq_def_Gemm = {.name = "Gemm", .infer = gemm_infer, .forward = gemm_forward,
                               .scratch = gemm_scratch};

/* ---- MatMul ---- */

typedef struct matmul_dims {
    int64_t M, N, K, batch;
    int nb;                        /* batch rank (of the output) */
    int64_t bdims[NQ_MAX_DIMS];    /* output batch dims */
    int64_t astr[NQ_MAX_DIMS], bstr[NQ_MAX_DIMS]; /* matrix strides per batch dim, 0 = broadcast */
    int ndim;
    int64_t dims[NQ_MAX_DIMS];     /* output shape */
} matmul_dims;

static nq_status matmul_check(const nq_kctx *c, matmul_dims *d)
{
    nq_status st = need_f32(c, 2);
    if (st) return st;
    const nq_tensor *a = c->in[0], *b = c->in[1];
    if (a->ndim < 1 || b->ndim < 1)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "operands must have rank >= 1 (got %d and %d)",
                            a->ndim, b->ndim);
    d->M = a->ndim == 1 ? 1 : a->dims[a->ndim - 2];
    d->K = a->dims[a->ndim - 1];
    int64_t kb = b->ndim == 1 ? b->dims[0] : b->dims[b->ndim - 2];
    d->N = b->ndim == 1 ? 1 : b->dims[b->ndim - 1];
    char sa[96], sb[96];
    if (kb != d->K)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "inner dims differ: A %s, B %s",
                            nq_shape_str(a->ndim, a->dims, sa, sizeof sa),
                            nq_shape_str(b->ndim, b->dims, sb, sizeof sb));
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0;
    if (nq_broadcast_shape(na, a->dims, nbb, b->dims, &d->nb, d->bdims) != NQ_OK)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "batch dims do not broadcast: A %s, B %s",
                            nq_shape_str(a->ndim, a->dims, sa, sizeof sa),
                            nq_shape_str(b->ndim, b->dims, sb, sizeof sb));
    int64_t sa_ = d->M * d->K, sb_ = d->K * d->N;
    d->batch = 1;
    for (int i = d->nb - 1; i >= 0; i--) {
        int ia = i - (d->nb - na), ib = i - (d->nb - nbb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        d->astr[i] = da == 1 ? 0 : sa_;
        d->bstr[i] = db == 1 ? 0 : sb_;
        sa_ *= da;
        sb_ *= db;
        d->batch *= d->bdims[i];
    }
    d->ndim = d->nb;
    memcpy(d->dims, d->bdims, sizeof(int64_t) * (size_t)d->nb);
    if (a->ndim > 1) d->dims[d->ndim++] = d->M;
    if (b->ndim > 1) d->dims[d->ndim++] = d->N;
    return NQ_OK;
}

static nq_status matmul_infer(nq_kctx *c)
{
    if (nq_iop_int_input(c)) return nq_matmul_int_infer(c); /* gemm_int.c */
    matmul_dims d = {0};
    nq_status st = matmul_check(c, &d);
    if (st) return st;
    return nq_tensor_init(c->out[0], NQ_DTYPE_FLOAT32, d.ndim, d.dims, c->err);
}

static nq_status matmul_forward(nq_kctx *c)
{
    if (nq_iop_int_input(c)) return nq_matmul_int_forward(c);
    matmul_dims d = {0};
    nq_status st = matmul_check(c, &d);
    if (st) return st;
    const float *a = c->in[0]->data, *b = c->in[1]->data;
    float *y = c->out[0]->data;
    int b_shared = 1, a_dense = 1; /* B the same for every batch; A batches contiguous */
    for (int i = 0; i < d.nb; i++) {
        if (d.bstr[i] != 0 && d.bdims[i] > 1) b_shared = 0;
        if (d.astr[i] == 0 && d.bdims[i] > 1) a_dense = 0;
    }
    if (b_shared && a_dense) { /* one GEMM: [batch*M, K] x [K, N] */
        nq_sgemm(0, 0, d.batch * d.M, d.N, d.K, 1.0f, a, d.K, b, d.N, 0.0f, y, d.N,
                 c->num_threads);
        return NQ_OK;
    }
    int64_t idx[NQ_MAX_DIMS] = {0};
    for (int64_t bi = 0; bi < d.batch; bi++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < d.nb; i++) oa += idx[i] * d.astr[i], ob += idx[i] * d.bstr[i];
        nq_sgemm(0, 0, d.M, d.N, d.K, 1.0f, a + oa, d.K, b + ob, d.N, 0.0f, y + bi * d.M * d.N,
                 d.N, c->num_threads);
        for (int i = d.nb - 1; i >= 0 && ++idx[i] == d.bdims[i]; i--) idx[i] = 0;
    }
    return NQ_OK;
}

static size_t matmul_scratch(const nq_kctx *c)
{
    return nq_iop_int_input(c) ? nq_matmul_int_scratch(c) : 0;
}

const nq_op_def nq_def_MatMul = {.name = "MatMul", .infer = matmul_infer,
                                 .forward = matmul_forward, .scratch = matmul_scratch};
