/*
 * LSQ (domain ai.nnquant): Learned Step Size Quantization (Esser et al.
 * 2019). Y = LSQ(X, step_size), attribute range = [lo, hi] (integers,
 * default [0, 255]):  y = round(clamp(x / s, lo, hi)) * s.
 * A step size <= 0 means "not initialized yet" and passes X through
 * (nq_lsq_init_step_sizes fills it from data). Backward: grad_qat_lsq.c.
 */
#include "ops/qat_ops.h"

static nq_status lsq_infer(nq_kctx *c)
{
    nq_status s = nq_qat_infer_io(c, 2, 1);
    if (s == NQ_OK) s = nq_qat_scalar_input(c, 1, "step_size", NULL);
    float lo, hi;
    if (s == NQ_OK) s = nq_qat_lsq_range(c, &lo, &hi);
    return s;
}

static nq_status lsq_forward(nq_kctx *c)
{
    float lo, hi, step = 0.0f;
    nq_status s = nq_qat_lsq_range(c, &lo, &hi);
    if (s == NQ_OK) s = nq_qat_scalar_input(c, 1, "step_size", &step);
    if (s != NQ_OK) return s;
    if (isnan(step) || isinf(step))
        return nq_kctx_fail(c, NQ_ERR_DATA, "step_size is %g", (double)step);
    const float *x = c->in[0]->data;
    float *y = c->out[0]->data;
    int64_t n = nq_tensor_numel(c->in[0]);
    if (!(step > 0.0f)) { /* not initialized: identity */
        for (int64_t i = 0; i < n; i++) y[i] = x[i];
        return NQ_OK;
    }
    const float inv = 1.0f / step;
    for (int64_t i = 0; i < n; i++) y[i] = nq_lsq_level(x[i], inv, lo, hi) * step;
    return NQ_OK;
}

const nq_op_def nq_def_LSQ = {.name = "LSQ", .infer = lsq_infer, .forward = lsq_forward, .domain = NQ_DOMAIN};
