/*
 * FixedQ (domain ai.nnquant): fixed-point quantization with a fixed range.
 * Attributes nb_bits b (default 8), span S (default 4.0),
 * is_output_unsigned u (default 0):
 *   signed:   d = S / 2^(b-1), y = clamp(round(x / d), -2^(b-1), 2^(b-1) - 1) d
 *   unsigned: d = S / 2^b,     y = clamp(round(x / d), 0, 2^b - 1) d
 * (S is the magnitude the format spans: [-S, S) or [0, S)). Backward
 * (grad_qat_fixedq.c): straight through inside the range, 0 outside.
 */
#include "ops/qat_ops.h"

static nq_status fixedq_infer(nq_kctx *c)
{
    nq_fixedq_params p;
    nq_status s = nq_qat_infer_io(c, 1, 1);
    if (s == NQ_OK) s = nq_qat_fixedq(c, &p);
    return s;
}

static nq_status fixedq_forward(nq_kctx *c)
{
    nq_fixedq_params p;
    nq_status s = nq_qat_fixedq(c, &p);
    if (s != NQ_OK) return s;
    const float *x = c->in[0]->data;
    float *y = c->out[0]->data;
    int64_t n = nq_tensor_numel(c->in[0]);
    for (int64_t i = 0; i < n; i++) y[i] = nq_fixedq_fwd(x[i], p);
    return NQ_OK;
}

const nq_op_def nq_def_FixedQ = {.name = "FixedQ", .infer = fixedq_infer, .forward = fixedq_forward,
                                 .domain = NQ_DOMAIN};
