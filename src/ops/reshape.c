/*
 * Flatten, Reshape, Squeeze, Unsqueeze: the output holds the input's bytes
 * (row-major order unchanged) under a new shape; forward is one copy.
 */
#include "movement.h"

static nq_status copy_forward(nq_kctx *c)
{
    const nq_tensor *x = c->in[0];
    nq_tensor *y = c->out[0];
    size_t n = nq_tensor_nbytes(x);
    if (nq_tensor_nbytes(y) != n)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "output holds %zu bytes, input %zu",
                            nq_tensor_nbytes(y), n);
    nq_mv_copy(y->data, x->data, n);
    return NQ_OK;
}

/* ---- Flatten ---------------------------------------------------------- */

static nq_status flatten_infer(nq_kctx *c)
{
    const nq_tensor *x;
    nq_status s = nq_mv_need_in(c, 0, "input", &x);
    if (s != NQ_OK) return s;
    int64_t axis = nq_node_attr_int(c->node, "axis", 1);
    if (axis < 0) axis += x->ndim;
    if (axis < 0 || axis > x->ndim)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis %lld out of range for rank %d",
                            (long long)nq_node_attr_int(c->node, "axis", 1), x->ndim);
    int64_t dims[2] = {nq_mv_prod(x->dims, 0, (int)axis), nq_mv_prod(x->dims, (int)axis, x->ndim)};
    return nq_mv_set_out(c, 0, x->dtype, 2, dims);
}

const nq_op_def nq_def_Flatten = {.name = "Flatten", .infer = flatten_infer, .forward = copy_forward};

/* ---- Reshape ---------------------------------------------------------- */

static nq_status reshape_infer(nq_kctx *c)
{
    const nq_tensor *x;
    nq_status s = nq_mv_need_in(c, 0, "data", &x);
    if (s != NQ_OK) return s;
    int64_t shape[NQ_MAX_DIMS];
    int n = 0;
    if (c->opset < 5) {
        const int64_t *v;
        n = nq_node_attr_ints(c->node, "shape", &v);
        if (n > NQ_MAX_DIMS)
            return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "target rank %d (at most %d supported)", n,
                                NQ_MAX_DIMS);
        for (int i = 0; i < n; i++) shape[i] = v[i];
    } else {
        s = nq_mv_read_ints(c, 1, "shape", shape, NQ_MAX_DIMS, &n);
        if (s != NQ_OK) return s;
    }
    int allowzero = c->opset >= 14 && nq_node_attr_int(c->node, "allowzero", 0) != 0;
    int64_t dims[NQ_MAX_DIMS], known = 1, numel = nq_tensor_numel(x);
    int infer_at = -1;
    for (int i = 0; i < n; i++) {
        int64_t v = shape[i];
        if (v == -1) {
            if (infer_at >= 0) return nq_kctx_fail(c, NQ_ERR_SHAPE, "shape has more than one -1");
            infer_at = i;
            dims[i] = 1;
            continue;
        }
        if (v < -1) return nq_kctx_fail(c, NQ_ERR_SHAPE, "invalid dim %lld in shape", (long long)v);
        if (v == 0 && !allowzero) {
            if (i >= x->ndim)
                return nq_kctx_fail(c, NQ_ERR_SHAPE,
                                    "shape[%d] = 0 copies a dim the rank-%d input lacks", i,
                                    x->ndim);
            v = x->dims[i];
        }
        if (v > 0 && known > INT64_MAX / v)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "shape product overflows");
        dims[i] = v;
        known *= v;
    }
    char a[96], b[96];
    if (infer_at >= 0) {
        if (known == 0 || numel % known != 0)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "cannot reshape %s into a shape with -1 (%lld "
                                "elements vs. %lld known)",
                                nq_shape_str(x->ndim, x->dims, a, sizeof a), (long long)numel,
                                (long long)known);
        dims[infer_at] = numel / known;
    } else if (known != numel) {
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "cannot reshape %s into %s",
                            nq_shape_str(x->ndim, x->dims, a, sizeof a),
                            nq_shape_str(n, dims, b, sizeof b));
    }
    return nq_mv_set_out(c, 0, x->dtype, n, dims);
}

const nq_op_def nq_def_Reshape = {.name = "Reshape", .infer = reshape_infer, .forward = copy_forward};

/* ---- Squeeze / Unsqueeze ------------------------------------------------ */

/* Axes from the attribute (opset < 13) or input 1 (opset >= 13); *n = -1 if absent. */
static nq_status read_axes(nq_kctx *c, int64_t *axes, int *n)
{
    *n = -1;
    if (c->opset < 13) {
        const nq_attr *a = nq_node_attr(c->node, "axes");
        if (a == NULL) return NQ_OK;
        if (a->type != NQ_ATTR_INTS)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "attribute 'axes' must be a list of integers");
        if (a->n > NQ_MAX_DIMS)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "%d axes (at most %d)", a->n, NQ_MAX_DIMS);
        for (int i = 0; i < a->n; i++) axes[i] = a->ints[i];
        *n = a->n;
        return NQ_OK;
    }
    if (nq_mv_in(c, 1) == NULL) return NQ_OK;
    return nq_mv_read_ints(c, 1, "axes", axes, NQ_MAX_DIMS, n);
}

static nq_status squeeze_infer(nq_kctx *c)
{
    const nq_tensor *x;
    nq_status s = nq_mv_need_in(c, 0, "data", &x);
    if (s != NQ_OK) return s;
    int64_t axes[NQ_MAX_DIMS];
    int n;
    s = read_axes(c, axes, &n);
    if (s != NQ_OK) return s;
    int drop[NQ_MAX_DIMS] = {0};
    if (n <= 0) {
        for (int i = 0; i < x->ndim; i++) drop[i] = x->dims[i] == 1;
    }
    for (int k = 0; k < n; k++) {
        int a = nq_norm_axis(axes[k], x->ndim);
        if (a < 0)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis %lld out of range for rank %d",
                                (long long)axes[k], x->ndim);
        if (x->dims[a] != 1)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "cannot squeeze axis %d of size %lld", a,
                                (long long)x->dims[a]);
        drop[a] = 1;
    }
    int64_t dims[NQ_MAX_DIMS];
    int r = 0;
    for (int i = 0; i < x->ndim; i++)
        if (!drop[i]) dims[r++] = x->dims[i];
    return nq_mv_set_out(c, 0, x->dtype, r, dims);
}

const nq_op_def nq_def_Squeeze = {.name = "Squeeze", .infer = squeeze_infer, .forward = copy_forward};

static nq_status unsqueeze_infer(nq_kctx *c)
{
    const nq_tensor *x;
    nq_status s = nq_mv_need_in(c, 0, "data", &x);
    if (s != NQ_OK) return s;
    int64_t axes[NQ_MAX_DIMS];
    int n;
    s = read_axes(c, axes, &n);
    if (s != NQ_OK) return s;
    if (n < 0) return nq_kctx_fail(c, NQ_ERR_SHAPE, "missing axes");
    int r = x->ndim + n;
    if (r > NQ_MAX_DIMS)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "output rank %d (at most %d supported)", r,
                            NQ_MAX_DIMS);
    int ins[NQ_MAX_DIMS] = {0};
    for (int k = 0; k < n; k++) {
        int a = nq_norm_axis(axes[k], r);
        if (a < 0)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis %lld out of range for output rank %d",
                                (long long)axes[k], r);
        if (ins[a]) return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis %d repeated", a);
        ins[a] = 1;
    }
    int64_t dims[NQ_MAX_DIMS];
    for (int i = 0, j = 0; i < r; i++) dims[i] = ins[i] ? 1 : x->dims[j++];
    return nq_mv_set_out(c, 0, x->dtype, r, dims);
}

const nq_op_def nq_def_Unsqueeze = {.name = "Unsqueeze", .infer = unsqueeze_infer, .forward = copy_forward};
