/* Gemm and MatMul on integers (int_ops.h; docs/numerics.md, "Integer
 * operators"): X int8/uint8/int16 family, W int8 (int2..int4 in int8) or
 * int16 -> Y int32 (int64 with an int64 accumulator), exact.
 *  Gemm:   Y[M,N] = op(X)[M,K] * op(W)[K,N] + C, transA/transB as in ONNX,
 *          C optional (int32, or int64 with an int64 accumulator),
 *          broadcast to [M,N]; alpha and beta must be 1.
 *  MatMul: Y[..., M, N] = X[..., M, K] * W[K, N]; X of any rank (1-D
 *          promoted to [1,K]), W 1-D ([K] -> [K,1]) or 2-D (leading dims
 *          of 1 allowed); batched weights are not supported.
 * Both run one integer GEMM with the weights as A (the kernels want A
 * signed): Yt[N, M] = op(W)^T[N,K] * op(X)^T[K,M], W transposed (and
 * widened) into scratch unless it is already [N,K] in the kernel's type,
 * then Y = Yt^T (+ C). Threads split the rows of Yt. */
#include <string.h>

#include "nnquant/kernels.h"
#include "ops/int_ops.h"

/* Rows of Yt (output columns) worth a thread, in multiply-adds. */
enum { IGEMM_PAR_GRAIN = 1 << 18 };

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

/* One integer product Yt[N,M] = Wt[N,K] * op(X)^T with the transposes and
 * widening it needs. */
typedef struct igemm_plan {
    nq_iaffine a;
    int64_t M, N, K;
    int x_km;        /* X stored [K, M] (Gemm transA); else [M, K] */
    int w_nk;        /* W stored [N, K] (Gemm transB); else [K, N] */
    size_t wt_bytes; /* scratch: W as [N,K] in the kernel's type (0: W used as is) */
    size_t xw_bytes; /* scratch: X widened to int16 */
    size_t ct_bytes; /* scratch: Yt */
} igemm_plan;

static void igemm_sizes(igemm_plan *p)
{
    const size_t yes = p->a.acc64 ? 8 : 4;
    const int w_as_is = p->w_nk && !p->a.widen_w;
    p->wt_bytes = w_as_is ? 0 : round64((size_t)(p->N * p->K) * p->a.wk);
    p->xw_bytes = p->a.widen_x ? round64((size_t)(p->M * p->K) * 2) : 0;
    p->ct_bytes = round64((size_t)(p->N * p->M) * yes);
}

static size_t igemm_scratch(const igemm_plan *p) { return p->wt_bytes + p->xw_bytes + p->ct_bytes; }

/* dst[n*K + k] = W(k, n) in the kernel's element type. */
static void pack_wt(const igemm_plan *p, const void *w, void *dst)
{
    const int64_t N = p->N, K = p->K;
    const int64_t sn = p->w_nk ? K : 1, sk = p->w_nk ? 1 : N; /* strides of W(k, n) */
    if (p->a.wk == 1) {
        const int8_t *s = w;
        int8_t *d = dst;
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) d[n * K + k] = s[n * sn + k * sk];
    } else if (p->a.w == NQ_ISTORE_S8) {
        const int8_t *s = w;
        int16_t *d = dst;
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) d[n * K + k] = s[n * sn + k * sk];
    } else {
        const int16_t *s = w;
        int16_t *d = dst;
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) d[n * K + k] = s[n * sn + k * sk];
    }
}

/* Yt = Wt * op(X)^T into scratch; returns Yt. */
static void *igemm_run(const igemm_plan *p, const void *x, const void *w, char *scratch,
                       int num_threads)
{
    const void *wt = w, *xk = x;
    if (p->wt_bytes) {
        pack_wt(p, w, scratch);
        wt = scratch;
    }
    if (p->xw_bytes) {
        nq_iop_widen_s16(p->a.x, x, p->M * p->K, (int16_t *)(void *)(scratch + p->wt_bytes));
        xk = scratch + p->wt_bytes;
    }
    char *ct = scratch + p->wt_bytes + p->xw_bytes;
    /* op(X)^T is [K, M]: X given as [M, K] is the kernel's transposed B */
    const int trans_b = !p->x_km;
    const int64_t ldb = p->x_km ? p->M : p->K;
    int64_t work = p->M * p->N * p->K, chunks = work / IGEMM_PAR_GRAIN;
    if (chunks > num_threads) chunks = num_threads;
    if (chunks > p->N) chunks = p->N;
#ifndef NQ_HAVE_OPENMP
    chunks = 1;
#endif
    if (chunks <= 1) {
        nq_iaffine_gemm(&p->a, trans_b, p->N, p->M, p->K, wt, p->K, xk, ldb, NULL, ct, p->M);
        return ct;
    }
#ifdef NQ_HAVE_OPENMP
    const size_t yes = p->a.acc64 ? 8 : 4;
#pragma omp parallel for num_threads((int)chunks) schedule(static)
    for (int64_t t = 0; t < chunks; t++) {
        const int64_t n0 = p->N * t / chunks, n1 = p->N * (t + 1) / chunks;
        nq_iaffine_gemm(&p->a, trans_b, n1 - n0, p->M, p->K,
                        (const char *)wt + (size_t)(n0 * p->K) * p->a.wk, p->K, xk, ldb, NULL,
                        ct + (size_t)(n0 * p->M) * yes, p->M);
    }
#endif
    return ct;
}

/* The bias C of Gemm broadcast to [M, N]: element (i, j) at i*rs + j*cs. */
typedef struct ibias {
    const void *data; /* NULL: none */
    int is64;
    int64_t rs, cs;
} ibias;

/* Y[i*N + j] = Yt[j*M + i] + C(i, j), wrapping (as the GEMM) in unsigned. */
static void transpose_out(const igemm_plan *p, const void *ct, const ibias *b, void *y)
{
    const int64_t M = p->M, N = p->N;
    if (p->a.acc64) {
        const int64_t *t = ct;
        int64_t *o = y;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                uint64_t v = (uint64_t)t[j * M + i];
                if (b->data) {
                    int64_t at = i * b->rs + j * b->cs;
                    v += b->is64 ? (uint64_t)((const int64_t *)b->data)[at]
                                 : (uint64_t)(int64_t)((const int32_t *)b->data)[at];
                }
                memcpy(&o[i * N + j], &v, sizeof v);
            }
    } else {
        const int32_t *t = ct;
        int32_t *o = y;
        const int32_t *bv = b->data;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                uint32_t v = (uint32_t)t[j * M + i];
                if (bv) v += (uint32_t)bv[i * b->rs + j * b->cs];
                memcpy(&o[i * N + j], &v, sizeof v);
            }
    }
}

/* ---- Gemm ---- */

static nq_status gemm_plan(const nq_kctx *c, igemm_plan *p, ibias *b)
{
    memset(p, 0, sizeof *p);
    memset(b, 0, sizeof *b);
    nq_status st = nq_iaffine_make(c, 2, &p->a);
    if (st) return st;
    if (c->n_out < 1 || !c->out[0]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs an output");
    const nq_tensor *x = c->in[0], *w = c->in[1], *cc = c->n_in > 2 ? c->in[2] : NULL;
    if (x->ndim != 2 || w->ndim != 2)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "A (rank %d) and B (rank %d) must be matrices",
                            x->ndim, w->ndim);
    p->x_km = nq_node_attr_int(c->node, "transA", 0) != 0;
    p->w_nk = nq_node_attr_int(c->node, "transB", 0) != 0;
    p->M = x->dims[p->x_km ? 1 : 0];
    p->K = x->dims[p->x_km ? 0 : 1];
    const int64_t kw = w->dims[p->w_nk ? 1 : 0];
    p->N = w->dims[p->w_nk ? 0 : 1];
    if (kw != p->K)
        return nq_kctx_fail(c, NQ_ERR_SHAPE,
                            "inner dims differ: op(A) is [%lld, %lld], op(B) is [%lld, %lld]",
                            (long long)p->M, (long long)p->K, (long long)kw, (long long)p->N);
    const float alpha = nq_node_attr_float(c->node, "alpha", 1.0f);
    const float beta = nq_node_attr_float(c->node, "beta", 1.0f);
    if (alpha != 1.0f || (cc && beta != 1.0f))
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                            "alpha = %g, beta = %g with integer inputs; only 1 is supported",
                            (double)alpha, (double)beta);
    if (cc && nq_tensor_numel(cc) > 0) {
        const int64_t want[2] = {p->M, p->N};
        int ok = cc->ndim <= 2;
        for (int i = 0; ok && i < cc->ndim; i++) {
            const int64_t d = cc->dims[i], wd = want[2 - cc->ndim + i];
            ok = d == wd || d == 1;
        }
        if (!ok) {
            char buf[96];
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "C of shape %s does not broadcast to [%lld, %lld]",
                                nq_shape_str(cc->ndim, cc->dims, buf, sizeof buf), (long long)p->M,
                                (long long)p->N);
        }
        const int64_t rows = cc->ndim == 2 ? cc->dims[0] : 1;
        const int64_t cols = cc->ndim >= 1 ? cc->dims[cc->ndim - 1] : 1;
        b->data = cc->data;
        b->is64 = cc->dtype == NQ_DTYPE_INT64;
        b->rs = rows == 1 ? 0 : cols;
        b->cs = cols == 1 ? 0 : 1;
    }
    igemm_sizes(p);
    return NQ_OK;
}

nq_status nq_gemm_int_infer(nq_kctx *c)
{
    igemm_plan p;
    ibias b;
    nq_status st = gemm_plan(c, &p, &b);
    if (st) return st;
    const int64_t dims[2] = {p.M, p.N};
    return nq_tensor_init(c->out[0], p.a.out, 2, dims, c->err);
}

size_t nq_gemm_int_scratch(const nq_kctx *c)
{
    igemm_plan p;
    ibias b;
    return gemm_plan(c, &p, &b) == NQ_OK ? igemm_scratch(&p) : 0;
}

static nq_status check_scratch(const nq_kctx *c, const igemm_plan *p)
{
    if (igemm_scratch(p) > c->scratch_size)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "scratch of %zu bytes, %zu needed",
                            c->scratch_size, igemm_scratch(p));
    return NQ_OK;
}

nq_status nq_gemm_int_forward(nq_kctx *c)
{
    igemm_plan p;
    ibias b;
    nq_status st = gemm_plan(c, &p, &b);
    if (st || (st = check_scratch(c, &p))) return st;
    if (p.M == 0 || p.N == 0) return NQ_OK;
    const void *ct = igemm_run(&p, c->in[0]->data, c->in[1]->data, c->scratch, c->num_threads);
    transpose_out(&p, ct, &b, c->out[0]->data);
    return NQ_OK;
}

/* ---- MatMul ---- */

static nq_status matmul_plan(const nq_kctx *c, igemm_plan *p, int *ndim, int64_t *dims)
{
    memset(p, 0, sizeof *p);
    nq_status st = nq_iaffine_make(c, -1, &p->a);
    if (st) return st;
    if (c->n_out < 1 || !c->out[0]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs an output");
    const nq_tensor *x = c->in[0], *w = c->in[1];
    char sa[96], sb[96];
    if (x->ndim < 1 || w->ndim < 1)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "operands must have rank >= 1 (got %d and %d)",
                            x->ndim, w->ndim);
    for (int i = 0; i + 2 < w->ndim; i++)
        if (w->dims[i] != 1)
            return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                                "batched weights %s with integer inputs; B must be a matrix",
                                nq_shape_str(w->ndim, w->dims, sb, sizeof sb));
    p->K = x->dims[x->ndim - 1];
    const int64_t kw = w->ndim == 1 ? w->dims[0] : w->dims[w->ndim - 2];
    p->N = w->ndim == 1 ? 1 : w->dims[w->ndim - 1];
    if (kw != p->K)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "inner dims differ: A %s, B %s",
                            nq_shape_str(x->ndim, x->dims, sa, sizeof sa),
                            nq_shape_str(w->ndim, w->dims, sb, sizeof sb));
    /* output: batch dims (X's, padded with 1s to W's batch rank), M, N */
    const int xb = x->ndim > 2 ? x->ndim - 2 : 0, wb = w->ndim > 2 ? w->ndim - 2 : 0;
    int nd = 0;
    for (int i = xb; i < wb; i++) dims[nd++] = 1;
    p->M = 1;
    for (int i = 0; i < x->ndim - 1; i++) {
        dims[nd++] = x->dims[i];
        p->M *= x->dims[i];
    }
    if (w->ndim > 1) dims[nd++] = p->N;
    *ndim = nd;
    igemm_sizes(p);
    return NQ_OK;
}

nq_status nq_matmul_int_infer(nq_kctx *c)
{
    igemm_plan p;
    int nd;
    int64_t dims[NQ_MAX_DIMS + 1];
    nq_status st = matmul_plan(c, &p, &nd, dims);
    if (st) return st;
    return nq_tensor_init(c->out[0], p.a.out, nd, dims, c->err);
}

size_t nq_matmul_int_scratch(const nq_kctx *c)
{
    igemm_plan p;
    int nd;
    int64_t dims[NQ_MAX_DIMS + 1];
    return matmul_plan(c, &p, &nd, dims) == NQ_OK ? igemm_scratch(&p) : 0;
}

nq_status nq_matmul_int_forward(nq_kctx *c)
{
    igemm_plan p;
    int nd;
    int64_t dims[NQ_MAX_DIMS + 1];
    nq_status st = matmul_plan(c, &p, &nd, dims);
    if (st || (st = check_scratch(c, &p))) return st;
    if (p.M == 0 || p.N == 0) return NQ_OK;
    const void *ct = igemm_run(&p, c->in[0]->data, c->in[1]->data, c->scratch, c->num_threads);
    const ibias none = {0};
    transpose_out(&p, ct, &none, c->out[0]->data);
    return NQ_OK;
}
