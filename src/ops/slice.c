/*
 * Slice: starts/ends/axes attributes (opset < 10) or inputs starts, ends,
 * axes, steps (opset >= 10, values known at plan time). Bounds are clamped
 * as the ONNX spec says: for a positive step to [0, dim], for a negative
 * step start to [0, dim-1] and end to [-1, dim-1].
 */
#include "movement.h"

typedef struct slice_plan {
    int64_t start[NQ_MAX_DIMS], step[NQ_MAX_DIMS], len[NQ_MAX_DIMS];
} slice_plan;

/* Reads a list from the attribute `name`; *n = -1 when absent. */
static nq_status attr_list(const nq_kctx *c, const char *name, int64_t *out, int *n)
{
    const int64_t *v;
    const nq_attr *a = nq_node_attr(c->node, name);
    *n = -1;
    if (a == NULL) return NQ_OK;
    int k = nq_node_attr_ints(c->node, name, &v);
    if (k > NQ_MAX_DIMS)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "'%s' has %d values (at most %d)", name, k,
                            NQ_MAX_DIMS);
    for (int i = 0; i < k; i++) out[i] = v[i];
    *n = k;
    return NQ_OK;
}

static nq_status input_list(const nq_kctx *c, int i, const char *name, int64_t *out, int *n)
{
    *n = -1;
    if (nq_mv_in(c, i) == NULL) return NQ_OK;
    return nq_mv_read_ints(c, i, name, out, NQ_MAX_DIMS, n);
}

static nq_status slice_make_plan(const nq_kctx *c, const nq_tensor *x, slice_plan *p)
{
    int64_t starts[NQ_MAX_DIMS], ends[NQ_MAX_DIMS], axes[NQ_MAX_DIMS], steps[NQ_MAX_DIMS];
    int ns, ne, na, nst = -1;
    nq_status s;
    if (c->opset < 10) {
        if ((s = attr_list(c, "starts", starts, &ns)) != NQ_OK) return s;
        if ((s = attr_list(c, "ends", ends, &ne)) != NQ_OK) return s;
        if ((s = attr_list(c, "axes", axes, &na)) != NQ_OK) return s;
    } else {
        if ((s = input_list(c, 1, "starts", starts, &ns)) != NQ_OK) return s;
        if ((s = input_list(c, 2, "ends", ends, &ne)) != NQ_OK) return s;
        if ((s = input_list(c, 3, "axes", axes, &na)) != NQ_OK) return s;
        if ((s = input_list(c, 4, "steps", steps, &nst)) != NQ_OK) return s;
    }
    if (ns < 0 || ne < 0) return nq_kctx_fail(c, NQ_ERR_SHAPE, "missing starts or ends");
    if (ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "starts, ends, axes and steps differ in length");
    int r = x->ndim;
    for (int i = 0; i < r; i++) {
        p->start[i] = 0;
        p->step[i] = 1;
        p->len[i] = x->dims[i];
    }
    int seen[NQ_MAX_DIMS] = {0};
    for (int k = 0; k < ns; k++) {
        int64_t av = na >= 0 ? axes[k] : k;
        int a = nq_norm_axis(av, r);
        if (a < 0)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis %lld out of range for rank %d",
                                (long long)av, r);
        if (seen[a]) return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis %d repeated", a);
        seen[a] = 1;
        int64_t dim = x->dims[a], st = starts[k], en = ends[k], step = nst >= 0 ? steps[k] : 1;
        if (step == 0) return nq_kctx_fail(c, NQ_ERR_SHAPE, "step 0 on axis %d", a);
        if (st < 0) st += dim;
        if (en < 0) en += dim;
        int64_t len;
        if (step > 0) {
            st = st < 0 ? 0 : st > dim ? dim : st;
            en = en < 0 ? 0 : en > dim ? dim : en;
            len = en > st ? (en - st - 1) / step + 1 : 0;
        } else {
            st = st < 0 ? 0 : st > dim - 1 ? dim - 1 : st;
            en = en < -1 ? -1 : en > dim - 1 ? dim - 1 : en;
            len = st > en ? (st - en - 1) / (step == INT64_MIN ? INT64_MAX : -step) + 1 : 0;
        }
        p->start[a] = len > 0 ? st : 0;
        p->step[a] = step;
        p->len[a] = len;
    }
    return NQ_OK;
}

static nq_status slice_infer(nq_kctx *c)
{
    const nq_tensor *x;
    nq_status s = nq_mv_need_in(c, 0, "data", &x);
    if (s != NQ_OK) return s;
    slice_plan p;
    s = slice_make_plan(c, x, &p);
    if (s != NQ_OK) return s;
    return nq_mv_set_out(c, 0, x->dtype, x->ndim, p.len);
}

static nq_status slice_forward(nq_kctx *c)
{
    const nq_tensor *x = c->in[0];
    slice_plan p;
    nq_status s = slice_make_plan(c, x, &p);
    if (s != NQ_OK) return s;
    int r = x->ndim;
    for (int i = 0; i < r; i++)
        if (p.len[i] == 0) return NQ_OK;
    int64_t stride = 1, off = 0, istr[NQ_MAX_DIMS];
    for (int i = r - 1; i >= 0; i--) {
        off += p.start[i] * stride;
        istr[i] = p.len[i] > 1 ? p.step[i] * stride : 0; /* len 1: never stepped */
        stride *= x->dims[i];
    }
    size_t esize = nq_dtype_size(x->dtype);
    nq_mv_strided_copy(c->out[0]->data, (const char *)x->data + off * (int64_t)esize, esize, r,
                       p.len, istr);
    return NQ_OK;
}

const nq_op_def nq_def_Slice = {.name = "Slice", .infer = slice_infer, .forward = slice_forward};
