/*
 * DoReFa (domain ai.nnquant): weight quantizer of DoReFa-Net (Zhou et al.
 * 2016) on data in [-1, 1] (the output of TanhClamp). Attributes range R
 * (default 255 = 2^8 - 1) and mode ("default" | "symmetric"):
 *   default:   y = 2 round(R (x + 1) / 2) / R - 1
 *   symmetric: y = round(x H) / H, H = floor(R / 2)
 * x is clamped to [-1, 1] first. Backward (grad_qat_dorefa.c): straight
 * through inside [-1, 1].
 */
#include "ops/qat_ops.h"

static nq_status dorefa_infer(nq_kctx *c)
{
    nq_status s = nq_qat_infer_io(c, 1, 1);
    float r;
    nq_dorefa_mode m;
    if (s == NQ_OK) s = nq_qat_range(c, &r);
    if (s == NQ_OK) s = nq_qat_dorefa_mode(c, &m);
    if (s == NQ_OK && m == NQ_DOREFA_SYMMETRIC && r < 2.0f)
        s = nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "symmetric mode needs range >= 2");
    return s;
}

static nq_status dorefa_forward(nq_kctx *c)
{
    float r;
    nq_dorefa_mode m;
    nq_status s = nq_qat_range(c, &r);
    if (s == NQ_OK) s = nq_qat_dorefa_mode(c, &m);
    if (s != NQ_OK) return s;
    const float *x = c->in[0]->data;
    float *y = c->out[0]->data;
    int64_t n = nq_tensor_numel(c->in[0]);
    for (int64_t i = 0; i < n; i++) y[i] = nq_dorefa_fwd(x[i], r, m);
    return NQ_OK;
}

const nq_op_def nq_def_DoReFa = {.name = "DoReFa", .infer = dorefa_infer, .forward = dorefa_forward,
                                 .domain = NQ_DOMAIN};
