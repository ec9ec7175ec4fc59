/*
 * Quantizer backward (float32 -> float32 only, the form PTQ leaves in a
 * graph before the cast, e.g. the 1/(H*W) scaling prepare_network puts
 * after a GlobalAveragePool turned ReduceSum, or a fake-quantized PTQ model
 * fine-tuned by QAT): y = x * s (per tensor or per channel), then rounding
 * and clipping. Backward: dx = s * dy where the output is inside the clip
 * range (straight through the rounding), 0 where it saturates. The scale
 * (input 1) is not trained.
 */
#include <math.h>

#include "train/grad_internal.h"

static nq_status quantizer_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0);
    float *dx = nq_gd_din(c, 0);
    if (g == NULL || dx == NULL) return NQ_OK;
    const nq_tensor *x = c->in[0], *sc = c->in[1];
    if (x->dtype != NQ_DTYPE_FLOAT32 || c->out[0]->dtype != NQ_DTYPE_FLOAT32 || sc->data == NULL)
        return nq_grad_fail(c, NQ_ERR_UNSUPPORTED, "only float32 -> float32 Quantizers have a gradient");
    const float *s = sc->data, *y = c->out[0]->data;
    float lo = nq_node_attr_float(c->node, "clip_min", -INFINITY), hi = nq_node_attr_float(c->node, "clip_max", INFINITY);
    int64_t n = nq_tensor_numel(x), ns = nq_tensor_numel(sc), inner = n, channels = 1;
    if (ns > 1) {
        int a = nq_norm_axis(nq_node_attr_int(c->node, "axis", 1), x->ndim);
        if (a < 0 || x->dims[a] != ns) return nq_grad_fail(c, NQ_ERR_SHAPE, "per-channel scale does not fit");
        inner = 1;
        for (int d = a + 1; d < x->ndim; d++) inner *= x->dims[d];
        channels = ns;
    }
    for (int64_t i = 0; i < n; i++) {
        float si = s[(i / inner) % channels];
        if (y[i] > lo && y[i] < hi) dx[i] += si * g[i];
    }
    return NQ_OK;
}

const nq_grad_def nq_grad_Quantizer = {.backward = quantizer_backward, .no_grad = 1u << 1};
