/*
 * Reductions over a set of axes (float32): ReduceMean, plus ReduceSum and
 * ReduceMax defined here ready for the op table (one table entry each).
 *
 * Axes: attribute `axes` before the opset given per op (18 for Mean/Max,
 * 13 for Sum), optional int64 input 1 from it; its values must be known at
 * plan time. No axes (or an empty list) reduces every axis, unless
 * noop_with_empty_axes=1, which makes the op an identity. keepdims
 * (default 1) keeps reduced axes as 1s.
 *
 * The input shape is collapsed into alternating kept/reduced groups (size-1
 * dims dropped). The output is set to the op's initial value, then every
 * contiguous input row of the innermost group is folded in: into one output
 * element when that group is reduced (sums in double), element-wise into an
 * output row when it is kept. Threads split the outermost group when it is
 * kept (disjoint outputs). A final pass (Mean: divide by the count) ends.
 * NaN propagates (Max included); Mean of an empty set is NaN, Max -inf.
 * ReduceSum of integers (to int32/int64): reduce_int.c.
 */
#include <math.h>
#include <string.h>

#include "ops/elemwise.h"
#include "ops/int_ops.h"

typedef struct reduce_op {
    int64_t axes_input_since; /* opset from which axes is input 1 */
    float init;
    float (*fold)(float acc, const float *x, int64_t n);   /* reduce a row to one value */
    void (*accum)(float *y, const float *x, int64_t n);    /* y[i] = f(y[i], x[i]) */
    void (*finish)(float *y, int64_t n, int64_t count);   /* NULL: nothing */
} reduce_op;

/* Four independent double partial sums: precise, and not one long
 * dependency chain. */
static float sum_fold(float acc, const float *x, int64_t n)
{
    double s0 = acc, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
    }
    for (; i < n; i++) s0 += x[i];
    return (float)((s0 + s1) + (s2 + s3));
}
static void sum_accum(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}
static void mean_finish(float *y, int64_t n, int64_t count)
{
    for (int64_t i = 0; i < n; i++) y[i] = y[i] / (float)count;
}
static inline float max_nan(float a, float b) { return (b > a || b != b) ? b : a; }
static float max_fold(float acc, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) acc = max_nan(acc, x[i]);
    return acc;
}
static void max_accum(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = max_nan(y[i], x[i]);
}

enum { R_MEAN, R_SUM, R_MAX, R_COUNT };
static const reduce_op reduce_ops[R_COUNT] = {
    [R_MEAN] = {18, 0.0f, sum_fold, sum_accum, mean_finish},
    [R_SUM] = {13, 0.0f, sum_fold, sum_accum, NULL},
    [R_MAX] = {18, -INFINITY, max_fold, max_accum, NULL},
};

nq_status nq_reduce_read_axes(const nq_kctx *c, int64_t axes_input_since, nq_reduce_axes *ra)
{
    const nq_tensor *x = c->in[0];
    int64_t buf[NQ_MAX_DIMS];
    const int64_t *axes = NULL;
    int n = 0;
    if (c->opset >= axes_input_since) {
        const nq_tensor *t = c->n_in > 1 ? c->in[1] : NULL;
        if (t != NULL) {
            if (t->dtype != NQ_DTYPE_INT64)
                return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "axes must be int64, got %s",
                                    nq_dtype_name(t->dtype));
            if (t->data == NULL && nq_tensor_numel(t) > 0)
                return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                                    "axes input must be known at plan time");
            n = nq_tensor_to_i64(t, buf, NQ_MAX_DIMS);
            if (nq_tensor_numel(t) == 0) n = 0;
            if (n < 0)
                return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "more axes than dims (%lld)",
                                    (long long)nq_tensor_numel(t));
            axes = buf;
        }
    } else {
        if (c->n_in > 1)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "axes is an attribute at opset %lld",
                                (long long)c->opset);
        n = nq_node_attr_ints(c->node, "axes", &axes);
    }
    memset(ra, 0, sizeof *ra);
    if (n == 0) {
        ra->noop = nq_node_attr_int(c->node, "noop_with_empty_axes", 0) != 0;
        for (int d = 0; d < x->ndim; d++) ra->red[d] = !ra->noop;
        return NQ_OK;
    }
    for (int i = 0; i < n; i++) {
        int a = nq_norm_axis(axes[i], x->ndim);
        if (a < 0)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "axis %lld out of range for rank %d",
                                (long long)axes[i], x->ndim);
        if (ra->red[a])
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "axis %lld repeated",
                                (long long)axes[i]);
        ra->red[a] = 1;
    }
    return NQ_OK;
}

static nq_status reduce_check(nq_kctx *c, const reduce_op *op, nq_reduce_axes *ra)
{
    nq_status s = nq_elem_check_io(c, 1, 2);
    if (s != NQ_OK) return s;
    if (c->in[0]->dtype != NQ_DTYPE_FLOAT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "unsupported input dtype %s (float32 only)",
                            nq_dtype_name(c->in[0]->dtype));
    return nq_reduce_read_axes(c, op->axes_input_since, ra);
}

static nq_status reduce_infer(nq_kctx *c, const reduce_op *op)
{
    if (op == &reduce_ops[R_SUM] && nq_iop_int_input(c)) return nq_reducesum_int_infer(c);
    nq_reduce_axes ra;
    nq_status s = reduce_check(c, op, &ra);
    if (s != NQ_OK) return s;
    const nq_tensor *x = c->in[0];
    nq_tensor *y = c->out[0];
    int keep = nq_node_attr_int(c->node, "keepdims", 1) != 0;
    y->dtype = NQ_DTYPE_FLOAT32;
    y->ndim = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!ra.red[d]) y->dims[y->ndim++] = x->dims[d];
        else if (keep) y->dims[y->ndim++] = 1;
    }
    return NQ_OK;
}

/* Input shape collapsed into groups; the input is contiguous. */
typedef struct reduce_plan {
    int k;
    int64_t dims[NQ_MAX_DIMS];
    int red[NQ_MAX_DIMS];
    int64_t ostride[NQ_MAX_DIMS]; /* output element stride per group, 0 if reduced */
} reduce_plan;

static void plan_build(reduce_plan *p, const nq_tensor *x, const int *red)
{
    p->k = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (x->dims[d] == 1) continue;
        if (p->k > 0 && p->red[p->k - 1] == red[d]) {
            p->dims[p->k - 1] *= x->dims[d];
            continue;
        }
        p->dims[p->k] = x->dims[d];
        p->red[p->k] = red[d];
        p->k++;
    }
    if (p->k == 0) {
        p->k = 1;
        p->dims[0] = 1;
        p->red[0] = 0;
    }
    int64_t step = 1;
    for (int g = p->k - 1; g >= 0; g--) {
        p->ostride[g] = p->red[g] ? 0 : step;
        if (!p->red[g]) step *= p->dims[g];
    }
}

typedef struct reduce_job {
    const reduce_plan *p;
    const reduce_op *op;
    const float *x;
    float *y;
} reduce_job;

/* Input rows [r0, r1) (a row is the innermost group). */
static void reduce_rows(const reduce_job *j, int64_t r0, int64_t r1)
{
    const reduce_plan *p = j->p;
    int last = p->k - 1;
    int64_t n = p->dims[last], idx[NQ_MAX_DIMS], oo = 0, rem = r0;
    for (int g = last - 1; g >= 0; g--) {
        idx[g] = rem % p->dims[g];
        rem /= p->dims[g];
        oo += idx[g] * p->ostride[g];
    }
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = j->x + r * n;
        if (p->red[last]) j->y[oo] = j->op->fold(j->y[oo], xr, n);
        else j->op->accum(j->y + oo, xr, n);
        for (int g = last - 1; g >= 0; g--) {
            oo += p->ostride[g];
            if (++idx[g] < p->dims[g]) break;
            oo -= p->ostride[g] * p->dims[g];
            idx[g] = 0;
        }
    }
}

/* Slices [b, e) of the outermost (kept) group: disjoint outputs. */
static void reduce_outer_range(void *ctx, int64_t b, int64_t e)
{
    const reduce_job *j = ctx;
    const reduce_plan *p = j->p;
    int64_t rows_per = 1;
    for (int g = 1; g < p->k - 1; g++) rows_per *= p->dims[g];
    reduce_rows(j, b * rows_per, e * rows_per);
}

static nq_status reduce_forward(nq_kctx *c, const reduce_op *op)
{
    if (op == &reduce_ops[R_SUM] && nq_iop_int_input(c)) return nq_reducesum_int_forward(c);
    nq_reduce_axes ra;
    nq_status s = reduce_check(c, op, &ra);
    if (s != NQ_OK) return s;
    const nq_tensor *x = c->in[0];
    nq_tensor *y = c->out[0];
    int64_t nx = nq_tensor_numel(x), ny = nq_tensor_numel(y);
    if (ny == 0) return NQ_OK;
    if ((nx > 0 && x->data == NULL) || y->data == NULL)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "tensor data missing");
    if (ra.noop) {
        memcpy(y->data, x->data, (size_t)nx * sizeof(float));
        return NQ_OK;
    }
    float *yd = y->data;
    for (int64_t i = 0; i < ny; i++) yd[i] = op->init;
    if (nx > 0) {
        reduce_plan p;
        plan_build(&p, x, ra.red);
        reduce_job j = {&p, op, x->data, yd};
        if (p.k >= 2 && !p.red[0])
            nq_par_range(p.dims[0], NQ_PAR_GRAIN / (nx / p.dims[0]) + 1, c->num_threads,
                         reduce_outer_range, &j);
        else
            reduce_rows(&j, 0, nx / p.dims[p.k - 1]);
    }
    if (op->finish) op->finish(yd, ny, nx / ny); /* count: 0 for an empty input */
    return NQ_OK;
}

#define REDUCE_DEF(Op, idx)                                                                \
    static nq_status Op##_infer(nq_kctx *c) { return reduce_infer(c, &reduce_ops[idx]); } \
    static nq_status Op##_forward(nq_kctx *c) { return reduce_forward(c, &reduce_ops[idx]); } \
    const nq_op_def nq_def_##Op = {.name = #Op, .infer = Op##_infer, .forward = Op##_forward};

REDUCE_DEF(ReduceMean, R_MEAN)
/* Registered in NQ_OP_LIST (ops.h). */
REDUCE_DEF(ReduceSum, R_SUM)
REDUCE_DEF(ReduceMax, R_MAX)
