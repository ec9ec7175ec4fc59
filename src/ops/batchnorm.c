/* BatchNormalization, inference mode (opset 6..15+ forms), float32.
 * Y = (X - mean) / sqrt(var + epsilon) * scale + B, per channel (axis 1);
 * with spatial = 0 (opset < 9) the parameters cover every element of one
 * sample (shape X.shape[1:]). training_mode = 1 is unsupported. Optional
 * extra outputs of old opsets, when present, get the running mean/var. */
#include <math.h>
#include <string.h>

#include "nnquant/ops.h"

static nq_status bn_check(const nq_kctx *c, int64_t *nparam)
{
    if (c->n_in < 5) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs 5 inputs, got %d", c->n_in);
    for (int i = 0; i < 5; i++) {
        if (!c->in[i]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "input %d is missing", i);
        if (c->in[i]->dtype != NQ_DTYPE_FLOAT32)
            return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                                "input %d has dtype %s; only float32 is supported", i,
                                nq_dtype_name(c->in[i]->dtype));
    }
    if (c->n_out < 1 || !c->out[0]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs output Y");
    if (nq_node_attr_int(c->node, "training_mode", 0) != 0 ||
        (c->opset < 7 && nq_node_attr_int(c->node, "is_test", 0) == 0))
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "training mode is not supported");
    const nq_tensor *x = c->in[0];
    if (x->ndim < 2)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "input X has rank %d; expected [N, C, ...]", x->ndim);
    int spatial = c->opset < 9 ? nq_node_attr_int(c->node, "spatial", 1) != 0 : 1;
    *nparam = spatial ? x->dims[1] : nq_tensor_numel(x) / (x->dims[0] ? x->dims[0] : 1);
    static const char *names[5] = {"X", "scale", "B", "mean", "var"};
    for (int i = 1; i < 5; i++)
        if (nq_tensor_numel(c->in[i]) != *nparam)
            return nq_kctx_fail(c, NQ_ERR_SHAPE,
                                "%s has %lld values; expected %lld (channels of X)", names[i],
                                (long long)nq_tensor_numel(c->in[i]), (long long)*nparam);
    return NQ_OK;
}

static nq_status bn_infer(nq_kctx *c)
{
    int64_t np = 0;
    nq_status st = bn_check(c, &np);
    if (st) return st;
    const nq_tensor *x = c->in[0];
    if ((st = nq_tensor_init(c->out[0], NQ_DTYPE_FLOAT32, x->ndim, x->dims, c->err))) return st;
    for (int i = 1; i < c->n_out && i < 5; i++)
        if (c->out[i] && (st = nq_tensor_init(c->out[i], NQ_DTYPE_FLOAT32, 1, &np, c->err)))
            return st;
    return NQ_OK;
}

/* Planes [p0, p1) of x into y (y may be x): plane p is parameter p % np,
 * `inner` values. */
static void bn_planes(const nq_kctx *c, const float *x, float *y, int64_t np, int64_t inner,
                      int64_t p0, int64_t p1)
{
    const float *scale = c->in[1]->data, *bias = c->in[2]->data;
    const float *mean = c->in[3]->data, *var = c->in[4]->data;
    const double eps = nq_node_attr_float(c->node, "epsilon", 1e-5f);
    for (int64_t p = p0; p < p1; p++) {
        const int64_t ch = p % np;
        const float a = (float)(scale[ch] / sqrt((double)var[ch] + eps));
        const float b = bias[ch] - mean[ch] * a;
        const float *s = x + p * inner;
        float *d = y + p * inner;
        for (int64_t i = 0; i < inner; i++) d[i] = s[i] * a + b;
    }
}

static nq_status bn_forward(nq_kctx *c)
{
    int64_t np = 0;
    nq_status st = bn_check(c, &np);
    if (st) return st;
    const nq_tensor *x = c->in[0];
    const int64_t N = x->dims[0], sample = N ? nq_tensor_numel(x) / N : 0;
    const int64_t inner = np ? sample / np : 0; /* elements per parameter */
    bn_planes(c, x->data, c->out[0]->data, np, inner, 0, N * np);
    /* running statistics are unchanged in inference: mean, var (, mean, var) */
    for (int i = 1; i < c->n_out && i < 5; i++)
        if (c->out[i])
            memcpy(c->out[i]->data, c->in[i % 2 ? 3 : 4]->data, (size_t)np * sizeof(float));
    return NQ_OK;
}

/* Fusable when the parameters are per channel (not per value of a sample,
 * as spatial = 0 has them) and no running statistics are asked for. */
static int bn_fusable(const nq_kctx *c)
{
    int64_t np = 0;
    if (bn_check(c, &np) != NQ_OK || np < 1 || np != c->in[0]->dims[1]) return 0;
    for (int i = 1; i < c->n_out; i++)
        if (c->out[i]) return 0;
    return 1;
}

static void bn_apply(const nq_kctx *c, float *y, int64_t p0, int64_t p1)
{
    bn_planes(c, y, y, c->in[0]->dims[1], nq_plane_size(c->in[0]), p0, p1);
}

static const nq_epilogue_def bn_epilogue = {bn_fusable, bn_apply};

const nq_op_def nq_def_BatchNormalization = {.name = "BatchNormalization", .infer = bn_infer,
                                             .forward = bn_forward, .epilogue = &bn_epilogue};
