/*
 * Gather (axis; int32 or int64 indices, negative ones count from the end):
 * out = data[..., indices[...], ...], one contiguous block per (outer, index).
 */
#include "movement.h"

static nq_status gather_axis(const nq_kctx *c, const nq_tensor *x, int *axis)
{
    int64_t av = nq_node_attr_int(c->node, "axis", 0);
    *axis = nq_norm_axis(av, x->ndim);
    if (*axis < 0)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis %lld out of range for rank %d", (long long)av,
                            x->ndim);
    return NQ_OK;
}

static nq_status gather_infer(nq_kctx *c)
{
    const nq_tensor *x, *idx;
    nq_status s;
    if ((s = nq_mv_need_in(c, 0, "data", &x)) != NQ_OK) return s;
    if ((s = nq_mv_need_in(c, 1, "indices", &idx)) != NQ_OK) return s;
    if (idx->dtype != NQ_DTYPE_INT64 && idx->dtype != NQ_DTYPE_INT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "indices have dtype %s (int32/int64 expected)",
                            nq_dtype_name(idx->dtype));
    int axis;
    if ((s = gather_axis(c, x, &axis)) != NQ_OK) return s;
    int r = x->ndim - 1 + idx->ndim;
    if (r > NQ_MAX_DIMS)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "output rank %d (at most %d supported)", r,
                            NQ_MAX_DIMS);
    int64_t dims[NQ_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < axis; i++) dims[k++] = x->dims[i];
    for (int i = 0; i < idx->ndim; i++) dims[k++] = idx->dims[i];
    for (int i = axis + 1; i < x->ndim; i++) dims[k++] = x->dims[i];
    return nq_mv_set_out(c, 0, x->dtype, r, dims);
}

static nq_status gather_forward(nq_kctx *c)
{
    const nq_tensor *x = c->in[0], *idx = c->in[1];
    int axis;
    nq_status s = gather_axis(c, x, &axis);
    if (s != NQ_OK) return s;
    int64_t n = x->dims[axis], ni = nq_tensor_numel(idx);
    for (int64_t k = 0; k < ni; k++) {
        int64_t v = nq_mv_i64_at(idx, k);
        if (v < -n || v >= n)
            return nq_kctx_fail(c, NQ_ERR_DATA, "index %lld out of range [%lld, %lld] (axis %d)",
                                (long long)v, (long long)-n, (long long)(n - 1), axis);
    }
    size_t block = (size_t)nq_mv_prod(x->dims, axis + 1, x->ndim) * nq_dtype_size(x->dtype);
    int64_t outer = nq_mv_prod(x->dims, 0, axis);
    if (block == 0 || ni == 0) return NQ_OK;
    const char *src = (const char *)x->data;
    char *o = (char *)c->out[0]->data;
    for (int64_t i = 0; i < outer; i++) {
        const char *base = src + (size_t)(i * n) * block;
        for (int64_t k = 0; k < ni; k++) {
            int64_t v = nq_mv_i64_at(idx, k);
            if (v < 0) v += n;
            memcpy(o, base + (size_t)v * block, block);
            o += block;
        }
    }
    return NQ_OK;
}

const nq_op_def nq_def_Gather = {.name = "Gather", .infer = gather_infer, .forward = gather_forward};
