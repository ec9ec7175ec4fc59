/*
 * TanhClamp (domain ai.nnquant): the weight clamping of DoReFa-Net / SAT.
 * (Y, scaling) = TanhClamp(X):
 *   m = max_i |tanh(x_i)|,  y = tanh(x) / m,  scaling = m   ([1] tensor)
 * so that y is in [-1, 1] (m = 0, an all-zero X, gives y = 0, m = 1).
 * Backward (grad_qat_tanhclamp.c) differentiates through m as well.
 */
#include "ops/qat_ops.h"

static nq_status tanhclamp_infer(nq_kctx *c)
{
    return nq_qat_infer_io(c, 1, 2);
}

/* m = max |tanh(x)| (1 when every x is 0). */
static float tanh_max(const float *x, int64_t n)
{
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(tanhf(x[i])));
    return m > 0.0f ? m : 1.0f;
}

static nq_status tanhclamp_forward(nq_kctx *c)
{
    const float *x = c->in[0]->data;
    float *y = c->out[0]->data;
    int64_t n = nq_tensor_numel(c->in[0]);
    float m = tanh_max(x, n);
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]) / m;
    if (c->n_out > 1 && c->out[1] != NULL) *(float *)c->out[1]->data = m;
    return NQ_OK;
}

const nq_op_def nq_def_TanhClamp = {.name = "TanhClamp", .infer = tanhclamp_infer,
                                    .forward = tanhclamp_forward, .domain = NQ_DOMAIN};
