/*
 * LSQ training forward and backward (Esser et al. 2019, docs/qat.md).
 *  forward_train: a step size <= 0 is initialized from this batch,
 *      s = 2 mean|x| / sqrt(Qp)   (written into the step_size initializer),
 *      then the inference forward runs.
 *  backward, with v = x / s, Qn = -lo, Qp = hi:
 *      dy/dx = 1 for lo < v < hi, else 0                   (straight through)
 *      dy/ds = round(v) - v for lo < v < hi; lo at or below; hi at or above
 *  and the step gradient is scaled by g = 1 / sqrt(N Qp), N the number of
 *  elements per sample (attribute weight=0, activations: numel / dims[0])
 *  or of the whole tensor (weight=1, a parameter).
 */
#include <math.h>

#include "ops/qat_ops.h"
#include "train/grad_internal.h"

static float lsq_qp(float lo, float hi)
{
    return hi > 0.0f ? hi : -lo;
}

static nq_status lsq_forward_train(nq_gctx *c)
{
    nq_kctx k = nq_gctx_kctx(c);
    float lo, hi, s = 0.0f;
    nq_status st = nq_qat_lsq_range(&k, &lo, &hi);
    if (st == NQ_OK) st = nq_qat_scalar_input(&k, 1, "step_size", &s);
    if (st != NQ_OK) return st;
    if (!(s > 0.0f)) {
        const float *x = c->in[0]->data;
        int64_t n = nq_tensor_numel(c->in[0]);
        double sum = 0;
        for (int64_t i = 0; i < n; i++) sum += fabs(x[i]);
        double init = n > 0 ? 2.0 * (sum / (double)n) / sqrt((double)lsq_qp(lo, hi)) : 0.0;
        *(float *)c->in[1]->data = init > 0 ? (float)init : 1.0f;
    }
    const nq_op_def *def = nq_op_get(NQ_OP_LSQ);
    return def->forward(&k);
}

static nq_status lsq_backward(nq_gctx *c)
{
    nq_kctx k = nq_gctx_kctx(c);
    float lo, hi, s = 0.0f;
    nq_status st = nq_qat_lsq_range(&k, &lo, &hi);
    if (st == NQ_OK) st = nq_qat_scalar_input(&k, 1, "step_size", &s);
    if (st != NQ_OK) return st;
    const float *g = nq_gd_dout(c, 0), *x = c->in[0]->data;
    float *dx = nq_gd_din(c, 0), *ds = nq_gd_din(c, 1);
    if (g == NULL) return NQ_OK;
    int64_t n = nq_tensor_numel(c->in[0]);
    if (!(s > 0.0f)) { /* not initialized: identity */
        if (dx)
            for (int64_t i = 0; i < n; i++) dx[i] += g[i];
        return NQ_OK;
    }
    double acc = 0;
    const float inv = 1.0f / s;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * inv;
        if (v <= lo) acc += (double)g[i] * lo;
        else if (v >= hi) acc += (double)g[i] * hi;
        else {
            acc += (double)g[i] * (nq_qat_round(v) - v);
            if (dx) dx[i] += g[i];
        }
    }
    if (ds) {
        const nq_tensor *t = c->in[0];
        int64_t per = n;
        if (!nq_node_attr_int(c->node, "weight", 0) && t->ndim > 0 && t->dims[0] > 0) per = n / t->dims[0];
        double gs = 1.0 / sqrt((double)(per > 0 ? per : 1) * lsq_qp(lo, hi));
        ds[0] += (float)(acc * gs);
    }
    return NQ_OK;
}

const nq_grad_def nq_grad_LSQ = {.forward_train = lsq_forward_train, .backward = lsq_backward};
