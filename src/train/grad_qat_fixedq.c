/* FixedQ backward: straight through where x / d lies inside [lo, hi] (the
 * representable range), 0 where it saturates (docs/qat.md). */
#include "ops/qat_ops.h"
#include "train/grad_internal.h"

static nq_status fixedq_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0), *x = c->in[0]->data;
    float *dx = nq_gd_din(c, 0);
    if (g == NULL || dx == NULL) return NQ_OK;
    nq_kctx k = nq_gctx_kctx(c);
    nq_fixedq_params p;
    nq_status s = nq_qat_fixedq(&k, &p);
    if (s != NQ_OK) return s;
    int64_t n = nq_tensor_numel(c->in[0]);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] / p.step;
        if (v >= p.lo && v <= p.hi) dx[i] += g[i];
    }
    return NQ_OK;
}

const nq_grad_def nq_grad_FixedQ = {.backward = fixedq_backward};
