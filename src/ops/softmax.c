/*
 * Softmax and LogSoftmax (float32).
 *
 * Opset < 13: axis defaults to 1 and the input is seen as 2-D
 * [prod(dims[:axis]), prod(dims[axis:])]; the normalization runs over the
 * whole second dim. Opset >= 13: axis defaults to -1 and the normalization
 * runs along that one axis. Both reduce to [outer, len, inner] lines of
 * `len` elements `inner` apart.
 *
 * Numerically stable: the line's max is subtracted before exp, so large
 * inputs do not overflow. Softmax: y = e^(x-m) / sum; LogSoftmax:
 * y = (x - m) - log(sum). Sums accumulate in float.
 */
#include <math.h>

#include "ops/elemwise.h"

typedef struct softmax_op {
    int log; /* 1: LogSoftmax */
} softmax_op;

typedef struct softmax_job {
    const float *x;
    float *y;
    int64_t len, inner;
    int log;
} softmax_job;

/* One line of len elements `stride` apart. */
static void softmax_line(const float *x, float *y, int64_t len, int64_t stride, int log)
{
    float m = x[0];
    for (int64_t k = 1; k < len; k++)
        if (x[k * stride] > m) m = x[k * stride];
    float sum = 0.0f;
    if (log) {
        for (int64_t k = 0; k < len; k++) sum += expf(x[k * stride] - m);
        float ls = logf(sum); /* (x - m) - ls: m + ls would round for large m */
        for (int64_t k = 0; k < len; k++) y[k * stride] = (x[k * stride] - m) - ls;
    } else {
        for (int64_t k = 0; k < len; k++) {
            float e = expf(x[k * stride] - m);
            y[k * stride] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int64_t k = 0; k < len; k++) y[k * stride] *= inv;
    }
}

/* Lines [l0, l1): line l starts at (l / inner) * len * inner + l % inner. */
static void softmax_range(void *ctx, int64_t l0, int64_t l1)
{
    const softmax_job *j = ctx;
    for (int64_t l = l0; l < l1; l++) {
        int64_t o = l / j->inner, i = l % j->inner;
        int64_t base = o * j->len * j->inner + i;
        softmax_line(j->x + base, j->y + base, j->len, j->inner, j->log);
    }
}

int64_t nq_softmax_split(const nq_node *node, int64_t opset, const nq_tensor *x, int64_t *outer,
                         int64_t *len, int64_t *inner)
{
    int coerce = opset < 13;
    int64_t axis_attr = nq_node_attr_int(node, "axis", coerce ? 1 : -1);
    int axis = nq_norm_axis(axis_attr, x->ndim);
    *outer = *len = *inner = 1;
    for (int d = 0; axis >= 0 && d < x->ndim; d++) {
        if (d < axis) *outer *= x->dims[d];
        else if (d == axis || coerce) *len *= x->dims[d];
        else *inner *= x->dims[d];
    }
    return axis >= 0 ? axis : axis_attr;
}

/* Splits x's shape into [outer, len, inner] by the axis rules of the opset. */
static nq_status softmax_geometry(nq_kctx *c, int64_t *outer, int64_t *len, int64_t *inner)
{
    nq_status s = nq_elem_check_io(c, 1, 1);
    if (s != NQ_OK) return s;
    const nq_tensor *x = c->in[0];
    if (x->dtype != NQ_DTYPE_FLOAT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "unsupported input dtype %s (float32 only)",
                            nq_dtype_name(x->dtype));
    int64_t axis = nq_softmax_split(c->node, c->opset, x, outer, len, inner);
    if (axis < 0 || axis >= x->ndim)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "axis %lld out of range for rank %d",
                            (long long)axis, x->ndim);
    return NQ_OK;
}

static nq_status softmax_infer(nq_kctx *c, const softmax_op *op)
{
    (void)op;
    int64_t outer, len, inner;
    nq_status s = softmax_geometry(c, &outer, &len, &inner);
    if (s != NQ_OK) return s;
    nq_elem_same_shape(c, 0, NQ_DTYPE_FLOAT32);
    return NQ_OK;
}

static nq_status softmax_forward(nq_kctx *c, const softmax_op *op)
{
    int64_t outer, len, inner;
    nq_status s = softmax_geometry(c, &outer, &len, &inner);
    if (s != NQ_OK) return s;
    if (outer * len * inner == 0) return NQ_OK;
    softmax_job j = {c->in[0]->data, c->out[0]->data, len, inner, op->log};
    if (j.x == NULL || j.y == NULL)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "tensor data missing");
    nq_par_range(outer * inner, NQ_PAR_GRAIN / len / 8 + 1, c->num_threads, softmax_range, &j);
    return NQ_OK;
}

static const softmax_op op_softmax = {0};
static const softmax_op op_log_softmax = {1};

#define SOFTMAX_DEF(Op, opvar)                                                             \
    static nq_status Op##_infer(nq_kctx *c) { return softmax_infer(c, &opvar); }          \
    static nq_status Op##_forward(nq_kctx *c) { return softmax_forward(c, &opvar); }      \
    const nq_op_def nq_def_##Op = {.name = #Op, .infer = Op##_infer, .forward = Op##_forward};

SOFTMAX_DEF(Softmax, op_softmax)
SOFTMAX_DEF(LogSoftmax, op_log_softmax)
