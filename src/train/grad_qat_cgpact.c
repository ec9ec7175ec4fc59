/*
 * CGPACT backward (SAT, Jin et al. 2019; docs/qat.md), a = alpha:
 *   dy/dx = 1 on [0, a) (straight through), else 0
 *   dy/da = 1 for x >= a, (y - x) / a on [0, a) (the calibrated gradient), 0 below 0
 */
#include "ops/qat_ops.h"
#include "train/grad_internal.h"

static nq_status cgpact_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0), *x = c->in[0]->data, *y = c->out[0]->data;
    float *dx = nq_gd_din(c, 0), *da = nq_gd_din(c, 1);
    if (g == NULL) return NQ_OK;
    float a = *(const float *)c->in[1]->data;
    int64_t n = nq_tensor_numel(c->in[0]);
    double acc = 0;
    for (int64_t i = 0; i < n; i++) {
        if (x[i] >= a) acc += g[i];
        else if (x[i] >= 0.0f) {
            acc += (double)g[i] * (y[i] - x[i]) / a;
            if (dx) dx[i] += g[i];
        }
    }
    if (da) da[0] += (float)acc;
    return NQ_OK;
}

const nq_grad_def nq_grad_CGPACT = {.backward = cgpact_backward};
