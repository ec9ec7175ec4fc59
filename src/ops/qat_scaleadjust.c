/*
 * ScaleAdjust (domain ai.nnquant): the weight scale adjustment of SAT
 * (Jin et al. 2019). (Y, scaling) = ScaleAdjust(W) for a weight W of shape
 * [O, I, k...] (or [O, I] / any rank >= 1):
 *   n_out = O * prod(k...),  V = Var(W) (population variance over all of W),
 *   c = 1 / sqrt(n_out V),  y = c w,  scaling = c   ([1] tensor)
 * (V = 0 gives c = 1). Backward: grad_qat_scaleadjust.c (through V too).
 */
#include "ops/qat_ops.h"

/* n_out of a weight shape: dims[0] times the dims after the second. */
static double fan_out(const nq_tensor *w)
{
    double n = w->ndim > 0 ? (double)w->dims[0] : 1.0;
    for (int d = 2; d < w->ndim; d++) n *= (double)w->dims[d];
    return n;
}

static nq_status scaleadjust_infer(nq_kctx *c)
{
    nq_status s = nq_qat_infer_io(c, 1, 2);
    if (s == NQ_OK && c->in[0]->ndim < 1)
        s = nq_kctx_fail(c, NQ_ERR_SHAPE, "input must have rank >= 1 (a weight [O, I, ...])");
    return s;
}

static nq_status scaleadjust_forward(nq_kctx *c)
{
    const float *x = c->in[0]->data;
    float *y = c->out[0]->data;
    int64_t n = nq_tensor_numel(c->in[0]);
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)(n > 0 ? n : 1);
    for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= (double)(n > 0 ? n : 1);
    double k = var > 0 ? 1.0 / sqrt(fan_out(c->in[0]) * var) : 1.0;
    for (int64_t i = 0; i < n; i++) y[i] = (float)(x[i] * k);
    if (c->n_out > 1 && c->out[1] != NULL) *(float *)c->out[1]->data = (float)k;
    return NQ_OK;
}

const nq_op_def nq_def_ScaleAdjust = {.name = "ScaleAdjust", .infer = scaleadjust_infer,
                                      .forward = scaleadjust_forward, .domain = NQ_DOMAIN};
