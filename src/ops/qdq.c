/*
 * QuantizeLinear and DequantizeLinear (ONNX opsets 10 and 13), as float
 * operators, so that a QDQ model loads, infers shapes and runs as it is
 * (nnquant's CLI converts QDQ models to its integer form on load instead:
 * include/nnquant/qdq.h).
 *
 *   QuantizeLinear:   y = saturate(round_half_even(x / y_scale) + y_zero_point)
 *                     x float32; y int8 or uint8 (the zero point's type;
 *                     uint8 without one); x / y_scale in float32
 *   DequantizeLinear: y = (x - x_zero_point) * x_scale
 *                     x int8, uint8 or int32; y float32
 *
 * The scale (and zero point, same shape) is a scalar or, from opset 13, a
 * 1-D tensor of dims[axis] values (attribute axis, default 1, may be
 * negative): X is viewed as [outer, C, inner].
 */
#include <math.h>

#include "nnquant/ops.h"

typedef struct qdq_view {
    int64_t outer, channels, inner;
    int per_axis;
} qdq_view;

static nq_status qdq_view_of(nq_kctx *c, qdq_view *v)
{
    if (c->n_in < 2 || c->in[0] == NULL || c->in[1] == NULL || c->n_out < 1 || c->out[0] == NULL)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs inputs x and scale and one output");
    const nq_tensor *x = c->in[0], *s = c->in[1], *z = c->n_in > 2 ? c->in[2] : NULL;
    if (s->dtype != NQ_DTYPE_FLOAT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "scale of dtype %s (float32 supported)",
                            nq_dtype_name(s->dtype));
    if (z != NULL && (z->ndim != s->ndim || nq_tensor_numel(z) != nq_tensor_numel(s)))
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "zero point and scale have different shapes");
    v->outer = 1;
    v->channels = 1;
    v->inner = nq_tensor_numel(x);
    v->per_axis = s->ndim == 1 && s->dims[0] != 1;
    if (s->ndim > 1) return nq_kctx_fail(c, NQ_ERR_SHAPE, "scale must be a scalar or 1-D");
    if (!v->per_axis) return NQ_OK;
    if (c->opset < 13) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "per-axis scale needs opset 13");
    int axis = nq_norm_axis(nq_node_attr_int(c->node, "axis", 1), x->ndim);
    if (axis < 0) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "axis out of range for rank %d", x->ndim);
    if (x->dims[axis] != s->dims[0])
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "scale has %lld values for %lld channels on axis %d",
                            (long long)s->dims[0], (long long)x->dims[axis], axis);
    v->channels = x->dims[axis];
    v->outer = 1;
    for (int i = 0; i < axis; i++) v->outer *= x->dims[i];
    v->inner = 1;
    for (int i = axis + 1; i < x->ndim; i++) v->inner *= x->dims[i];
    return NQ_OK;
}

static nq_status set_out(nq_kctx *c, nq_dtype t)
{
    nq_tensor *y = c->out[0];
    y->dtype = t;
    y->ndim = c->in[0]->ndim;
    for (int i = 0; i < y->ndim; i++) y->dims[i] = c->in[0]->dims[i];
    return NQ_OK;
}

static nq_status quantize_infer(nq_kctx *c)
{
    qdq_view v;
    nq_status s = qdq_view_of(c, &v);
    if (s != NQ_OK) return s;
    if (c->in[0]->dtype != NQ_DTYPE_FLOAT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "x of dtype %s (float32 supported)",
                            nq_dtype_name(c->in[0]->dtype));
    nq_dtype t = c->n_in > 2 && c->in[2] ? c->in[2]->dtype : NQ_DTYPE_UINT8;
    if (t != NQ_DTYPE_INT8 && t != NQ_DTYPE_UINT8)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "output dtype %s (int8 or uint8 supported)",
                            nq_dtype_name(t));
    return set_out(c, t);
}

static nq_status dequantize_infer(nq_kctx *c)
{
    qdq_view v;
    nq_status s = qdq_view_of(c, &v);
    if (s != NQ_OK) return s;
    nq_dtype t = c->in[0]->dtype;
    if (t != NQ_DTYPE_INT8 && t != NQ_DTYPE_UINT8 && t != NQ_DTYPE_INT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "x of dtype %s (int8, uint8 or int32 supported)",
                            nq_dtype_name(t));
    if (c->n_in > 2 && c->in[2] && c->in[2]->dtype != t)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "zero point dtype %s differs from x's %s",
                            nq_dtype_name(c->in[2]->dtype), nq_dtype_name(t));
    return set_out(c, NQ_DTYPE_FLOAT32);
}

static nq_status quantize_forward(nq_kctx *c)
{
    qdq_view v;
    nq_status st = qdq_view_of(c, &v);
    if (st != NQ_OK) return st;
    const float *x = c->in[0]->data, *sc = c->in[1]->data;
    const nq_tensor *z = c->n_in > 2 ? c->in[2] : NULL;
    nq_tensor *y = c->out[0];
    int64_t lo, hi;
    nq_dtype_int_range(y->dtype, &lo, &hi);
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t ch = 0; ch < v.channels; ch++) {
            float s = sc[v.per_axis ? ch : 0];
            double zp = z ? nq_tensor_get(z, v.per_axis ? ch : 0) : 0.0;
            int64_t base = (o * v.channels + ch) * v.inner;
            for (int64_t i = 0; i < v.inner; i++) {
                float q = nearbyintf(x[base + i] / s);
                double r = isnan(q) ? zp : (double)q + zp;
                nq_tensor_set(y, base + i, r < (double)lo ? (double)lo : r > (double)hi ? (double)hi : r);
            }
        }
    return NQ_OK;
}

static nq_status dequantize_forward(nq_kctx *c)
{
    qdq_view v;
    nq_status st = qdq_view_of(c, &v);
    if (st != NQ_OK) return st;
    const nq_tensor *x = c->in[0], *z = c->n_in > 2 ? c->in[2] : NULL;
    const float *sc = c->in[1]->data;
    float *y = c->out[0]->data;
    for (int64_t o = 0; o < v.outer; o++)
        for (int64_t ch = 0; ch < v.channels; ch++) {
            float s = sc[v.per_axis ? ch : 0];
            double zp = z ? nq_tensor_get(z, v.per_axis ? ch : 0) : 0.0;
            int64_t base = (o * v.channels + ch) * v.inner;
            for (int64_t i = 0; i < v.inner; i++)
                y[base + i] = (float)(nq_tensor_get(x, base + i) - zp) * s;
        }
    return NQ_OK;
}

const nq_op_def nq_def_QuantizeLinear = {
    .name = "QuantizeLinear", .infer = quantize_infer, .forward = quantize_forward};
const nq_op_def nq_def_DequantizeLinear = {
    .name = "DequantizeLinear", .infer = dequantize_infer, .forward = dequantize_forward};
