/*
 * ScaleAdjust backward: y = k x, k = 1 / sqrt(n_out V), V = mean((x - mu)^2)
 * over the N elements (also output 1). dk/dx_i = -k (x_i - mu) / (N V), so
 *   dL/dk   = dout1 + sum_i g_i x_i
 *   dL/dx_i = k g_i - dL/dk k (x_i - mu) / (N V)
 * (V = 0: k fixed at 1).
 */
#include <math.h>

#include "train/grad_internal.h"

static nq_status scaleadjust_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0), *gk = nq_gd_dout(c, 1), *x = c->in[0]->data;
    float *dx = nq_gd_din(c, 0);
    if (dx == NULL) return NQ_OK;
    int64_t n = nq_tensor_numel(c->in[0]);
    double mu = 0, v = 0;
    for (int64_t i = 0; i < n; i++) mu += x[i];
    mu /= (double)(n > 0 ? n : 1);
    for (int64_t i = 0; i < n; i++) v += (x[i] - mu) * (x[i] - mu);
    v /= (double)(n > 0 ? n : 1);
    if (!(v > 0)) {
        if (g)
            for (int64_t i = 0; i < n; i++) dx[i] += g[i];
        return NQ_OK;
    }
    const nq_tensor *w = c->in[0];
    double fan = w->ndim > 0 ? (double)w->dims[0] : 1.0;
    for (int d = 2; d < w->ndim; d++) fan *= (double)w->dims[d];
    double k = 1.0 / sqrt(fan * v), dk = gk ? gk[0] : 0.0;
    for (int64_t i = 0; i < n && g; i++) dk += (double)g[i] * x[i];
    double f = dk * k / ((double)n * v);
    for (int64_t i = 0; i < n; i++) dx[i] += (float)((g ? k * g[i] : 0.0) - f * (x[i] - mu));
    return NQ_OK;
}

const nq_grad_def nq_grad_ScaleAdjust = {.backward = scaleadjust_backward};
