/* DoReFa backward: straight through on [-1, 1], 0 outside (docs/qat.md). */
#include "train/grad_internal.h"

static nq_status dorefa_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0), *x = c->in[0]->data;
    float *dx = nq_gd_din(c, 0);
    if (g == NULL || dx == NULL) return NQ_OK;
    int64_t n = nq_tensor_numel(c->in[0]);
    for (int64_t i = 0; i < n; i++)
        if (x[i] >= -1.0f && x[i] <= 1.0f) dx[i] += g[i];
    return NQ_OK;
}

const nq_grad_def nq_grad_DoReFa = {.backward = dorefa_backward};
