/*
 * Concat and Split along one axis. Both view the tensors as
 * [outer, size_along_axis * inner] and move one contiguous chunk per
 * (outer index, tensor).
 */
#include "movement.h"

/* ---- Concat ----------------------------------------------------------- */

static nq_status concat_axis(const nq_kctx *c, int r, int *axis)
{
    const nq_attr *a = nq_node_attr(c->node, "axis");
    if (a == NULL && c->opset >= 4) return nq_kctx_fail(c, NQ_ERR_SHAPE, "missing attribute 'axis'");
    int64_t v = a ? a->i : 1;
    *axis = nq_norm_axis(v, r);
    if (*axis < 0)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)v, r);
    return NQ_OK;
}

static nq_status concat_infer(nq_kctx *c)
{
    const nq_tensor *x0;
    nq_status s = nq_mv_need_in(c, 0, "inputs", &x0);
    if (s != NQ_OK) return s;
    int axis = 0;
    s = concat_axis(c, x0->ndim, &axis);
    if (s != NQ_OK) return s;
    int64_t dims[NQ_MAX_DIMS];
    for (int i = 0; i < x0->ndim; i++) dims[i] = x0->dims[i];
    dims[axis] = 0;
    for (int k = 0; k < c->n_in; k++) {
        const nq_tensor *x = c->in[k];
        char a[96], b[96];
        if (x == NULL) return nq_kctx_fail(c, NQ_ERR_SHAPE, "input %d is missing", k);
        if (x->dtype != x0->dtype)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "input %d has dtype %s, input 0 has %s", k,
                                nq_dtype_name(x->dtype), nq_dtype_name(x0->dtype));
        int ok = x->ndim == x0->ndim;
        for (int i = 0; ok && i < x0->ndim; i++) ok = i == axis || x->dims[i] == x0->dims[i];
        if (!ok)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "input %d has shape %s, input 0 has %s (axis %d)",
                                k, nq_shape_str(x->ndim, x->dims, a, sizeof a),
                                nq_shape_str(x0->ndim, x0->dims, b, sizeof b), axis);
        dims[axis] += x->dims[axis];
    }
    return nq_mv_set_out(c, 0, x0->dtype, x0->ndim, dims);
}

static nq_status concat_forward(nq_kctx *c)
{
    nq_tensor *y = c->out[0];
    int axis = 0;
    nq_status s = concat_axis(c, y->ndim, &axis);
    if (s != NQ_OK) return s;
    size_t esize = nq_dtype_size(y->dtype);
    int64_t outer = nq_mv_prod(y->dims, 0, axis);
    size_t inner = (size_t)nq_mv_prod(y->dims, axis + 1, y->ndim) * esize;
    char *o = (char *)y->data;
    for (int64_t i = 0; i < outer; i++) {
        for (int k = 0; k < c->n_in; k++) {
            size_t chunk = (size_t)c->in[k]->dims[axis] * inner;
            if (chunk == 0) continue;
            nq_mv_copy(o, (const char *)c->in[k]->data + (size_t)i * chunk, chunk);
            o += chunk;
        }
    }
    return NQ_OK;
}

const nq_op_def nq_def_Concat = {.name = "Concat", .infer = concat_infer, .forward = concat_forward};

/* ---- Split ------------------------------------------------------------ */

/* The 'split' sizes: attribute (opset < 13, also input 1 of Split-1) or
 * input 1 (opset >= 13). Returns the tensor or attribute through *t / *a;
 * both NULL when absent. */
static nq_status split_sizes_source(const nq_kctx *c, const nq_tensor **t, const nq_attr **a)
{
    *t = NULL;
    *a = c->opset < 13 ? nq_node_attr(c->node, "split") : NULL;
    if (*a != NULL && (*a)->type != NQ_ATTR_INTS)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "attribute 'split' must be a list of integers");
    if (*a != NULL || nq_mv_in(c, 1) == NULL) return NQ_OK;
    *t = nq_mv_in(c, 1);
    if ((*t)->dtype != NQ_DTYPE_INT64 && (*t)->dtype != NQ_DTYPE_INT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "input 'split' has dtype %s (int64 expected)",
                            nq_dtype_name((*t)->dtype));
    if (nq_tensor_numel(*t) > 0 && (*t)->data == NULL)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                            "input 'split' must be known at plan time (a constant or initializer)");
    return NQ_OK;
}

/* Split plan: axis, and how the sizes along it are given. */
typedef struct split_plan {
    int axis, n;
    const nq_tensor *st; /* 'split' input, or NULL */
    const nq_attr *sa;   /* 'split' attribute, or NULL */
    int64_t chunk, last; /* equal split: every chunk but the last, the last */
} split_plan;

static int64_t split_size(const split_plan *p, int k)
{
    if (p->st != NULL) return nq_mv_i64_at(p->st, k);
    if (p->sa != NULL) return p->sa->ints[k];
    return k == p->n - 1 ? p->last : p->chunk;
}

static nq_status split_make_plan(const nq_kctx *c, const nq_tensor *x, split_plan *p)
{
    int64_t av = nq_node_attr_int(c->node, "axis", 0);
    p->axis = nq_norm_axis(av, x->ndim);
    if (p->axis < 0)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)av,
                            x->ndim);
    p->n = c->n_out;
    if (p->n < 1) return nq_kctx_fail(c, NQ_ERR_SHAPE, "no outputs");
    nq_status s = split_sizes_source(c, &p->st, &p->sa);
    if (s != NQ_OK) return s;
    int64_t dim = x->dims[p->axis];
    int n = p->n;
    if (p->st != NULL || p->sa != NULL) {
        int64_t count = p->st ? nq_tensor_numel(p->st) : p->sa->n, sum = 0;
        if (count != n)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "'split' has %lld values for %d outputs",
                                (long long)count, n);
        for (int k = 0; k < n; k++) {
            int64_t v = split_size(p, k);
            if (v < 0) return nq_kctx_fail(c, NQ_ERR_SHAPE, "negative split size %lld", (long long)v);
            sum += v;
        }
        if (sum != dim)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "split sizes sum to %lld, axis %d has %lld",
                                (long long)sum, p->axis, (long long)dim);
        return NQ_OK;
    }
    const nq_attr *no = c->opset >= 18 ? nq_node_attr(c->node, "num_outputs") : NULL;
    if (no != NULL && no->i != n)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "num_outputs = %lld but the node has %d outputs",
                            (long long)no->i, n);
    if (dim % n == 0) {
        p->chunk = p->last = dim / n;
    } else if (c->opset >= 18) { /* chunks of ceil(dim / n), the last one smaller */
        p->chunk = dim / n + 1;
        p->last = dim - p->chunk * (n - 1);
        if (p->last < 0)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis of size %lld cannot be split into %d",
                                (long long)dim, n);
    } else {
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis of size %lld is not divisible into %d equal "
                            "parts", (long long)dim, n);
    }
    return NQ_OK;
}

static nq_status split_infer(nq_kctx *c)
{
    const nq_tensor *x;
    nq_status s = nq_mv_need_in(c, 0, "input", &x);
    if (s != NQ_OK) return s;
    split_plan p;
    s = split_make_plan(c, x, &p);
    if (s != NQ_OK) return s;
    int64_t dims[NQ_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) dims[i] = x->dims[i];
    for (int k = 0; k < p.n; k++) {
        dims[p.axis] = split_size(&p, k);
        s = nq_mv_set_out(c, k, x->dtype, x->ndim, dims);
        if (s != NQ_OK) return s;
    }
    return NQ_OK;
}

static nq_status split_forward(nq_kctx *c)
{
    const nq_tensor *x = c->in[0];
    split_plan p;
    nq_status s = split_make_plan(c, x, &p);
    if (s != NQ_OK) return s;
    size_t esize = nq_dtype_size(x->dtype);
    int64_t outer = nq_mv_prod(x->dims, 0, p.axis);
    size_t inner = (size_t)nq_mv_prod(x->dims, p.axis + 1, x->ndim) * esize;
    const char *src = (const char *)x->data;
    for (int64_t i = 0; i < outer; i++) {
        for (int k = 0; k < p.n; k++) {
            size_t chunk = (size_t)split_size(&p, k) * inner;
            if (chunk == 0) continue;
            if (c->out[k] != NULL) nq_mv_copy((char *)c->out[k]->data + (size_t)i * chunk, src, chunk);
            src += chunk;
        }
    }
    return NQ_OK;
}

const nq_op_def nq_def_Split = {.name = "Split", .infer = split_infer, .forward = split_forward};
