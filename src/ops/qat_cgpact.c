/*
 * CGPACT (domain ai.nnquant): PACT activation quantization with the
 * gradient calibration of SAT (Jin et al. 2019). Y = CGPACT(X, alpha),
 * attribute range R (default 255):
 *   y = round(clamp(x, 0, a) R / a) a / R      (a = alpha > 0)
 * Backward (grad_qat_cgpact.c): dy/dx = 1 on [0, a) (straight through),
 * dy/da = 1 for x >= a, (y - x) / a on [0, a), 0 below 0.
 */
#include "ops/qat_ops.h"

static nq_status cgpact_infer(nq_kctx *c)
{
    nq_status s = nq_qat_infer_io(c, 2, 1);
    float r;
    if (s == NQ_OK) s = nq_qat_scalar_input(c, 1, "alpha", NULL);
    if (s == NQ_OK) s = nq_qat_range(c, &r);
    return s;
}

static nq_status cgpact_forward(nq_kctx *c)
{
    float r, a = 0.0f;
    nq_status s = nq_qat_range(c, &r);
    if (s == NQ_OK) s = nq_qat_scalar_input(c, 1, "alpha", &a);
    if (s != NQ_OK) return s;
    if (!(a > 0.0f) || isinf(a)) return nq_kctx_fail(c, NQ_ERR_DATA, "alpha = %g is not positive", (double)a);
    const float *x = c->in[0]->data;
    float *y = c->out[0]->data;
    int64_t n = nq_tensor_numel(c->in[0]);
    for (int64_t i = 0; i < n; i++) y[i] = nq_cgpact_fwd(x[i], a, r);
    return NQ_OK;
}

const nq_op_def nq_def_CGPACT = {.name = "CGPACT", .infer = cgpact_infer, .forward = cgpact_forward,
                                 .domain = NQ_DOMAIN};
