/*
 * TanhClamp backward: y_i = t_i / m, t = tanh(x), m = max_j |t_j| (also
 * output 1). With a the index of the maximum (first on ties):
 *   dL/dm  = dout1 - sum_i g_i t_i / m^2
 *   dL/dx_i = g_i (1 - t_i^2) / m + [i = a] sign(t_a) (1 - t_a^2) dL/dm
 * (an all-zero input has m fixed at 1: no term through m).
 */
#include <math.h>

#include "train/grad_internal.h"

static nq_status tanhclamp_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0), *gm = nq_gd_dout(c, 1), *x = c->in[0]->data;
    float *dx = nq_gd_din(c, 0);
    if (dx == NULL) return NQ_OK;
    int64_t n = nq_tensor_numel(c->in[0]), a = -1;
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float t = fabsf(tanhf(x[i]));
        if (t > m) {
            m = t;
            a = i;
        }
    }
    if (a < 0) { /* all zero: y = tanh(x), m constant */
        if (g)
            for (int64_t i = 0; i < n; i++) dx[i] += g[i];
        return NQ_OK;
    }
    double dm = gm ? gm[0] : 0.0;
    for (int64_t i = 0; i < n && g; i++) {
        float t = tanhf(x[i]);
        dm -= (double)g[i] * t / ((double)m * m);
        dx[i] += g[i] * (1.0f - t * t) / m;
    }
    float ta = tanhf(x[a]);
    dx[a] += (float)((ta < 0 ? -1.0 : 1.0) * (1.0 - (double)ta * ta) * dm);
    return NQ_OK;
}

const nq_grad_def nq_grad_TanhClamp = {.backward = tanhclamp_backward};
