/* Attribute and input checks shared by the QAT operators (qat_ops.h). */
#include <string.h>

#include "ops/elemwise.h"
#include "ops/qat_ops.h"

nq_status nq_qat_lsq_range(const nq_kctx *c, float *lo, float *hi)
{
    const int64_t *r = NULL;
    int n = nq_node_attr_ints(c->node, "range", &r);
    *lo = 0.0f;
    *hi = 255.0f;
    if (nq_node_attr(c->node, "range") == NULL) return NQ_OK;
    if (n != 2 || r[0] >= r[1] || r[0] < -(1 << 24) || r[1] > (1 << 24))
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG,
                            "attribute 'range' must be two integers lo < hi (e.g. [0, 255])");
    *lo = (float)r[0];
    *hi = (float)r[1];
    return NQ_OK;
}

nq_status nq_qat_range(const nq_kctx *c, float *range)
{
    const nq_attr *a = nq_node_attr(c->node, "range");
    *range = 255.0f;
    if (a == NULL) return NQ_OK;
    if (a->type != NQ_ATTR_INT || a->i < 1 || a->i > (1 << 24))
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "attribute 'range' must be an integer >= 1");
    *range = (float)a->i;
    return NQ_OK;
}

nq_status nq_qat_dorefa_mode(const nq_kctx *c, nq_dorefa_mode *mode)
{
    const nq_attr *a = nq_node_attr(c->node, "mode");
    *mode = NQ_DOREFA_DEFAULT;
    if (a == NULL) return NQ_OK;
    if (a->type == NQ_ATTR_INT && (a->i == 0 || a->i == 1)) {
        *mode = (nq_dorefa_mode)a->i;
        return NQ_OK;
    }
    if (a->type == NQ_ATTR_STRING && a->s != NULL) {
        if (strcmp(a->s, "default") == 0) return NQ_OK;
        if (strcmp(a->s, "symmetric") == 0) {
            *mode = NQ_DOREFA_SYMMETRIC;
            return NQ_OK;
        }
    }
    return nq_kctx_fail(c, NQ_ERR_INVALID_ARG,
                        "attribute 'mode' must be \"default\" or \"symmetric\" (or 0 / 1)");
}

nq_status nq_qat_fixedq(const nq_kctx *c, nq_fixedq_params *p)
{
    int64_t bits = nq_node_attr_int(c->node, "nb_bits", 8);
    float span = nq_node_attr_float(c->node, "span", 4.0f);
    int64_t uns = nq_node_attr_int(c->node, "is_output_unsigned", 0);
    if (bits < 1 || bits > 24 || (bits == 1 && !uns))
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "nb_bits %lld out of range (1..24, >= 2 when signed)",
                            (long long)bits);
    if (!(span > 0.0f) || isinf(span))
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "span %g must be positive and finite", (double)span);
    if (uns != 0 && uns != 1)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "is_output_unsigned must be 0 or 1");
    *p = nq_fixedq_params_of((int)bits, span, (int)uns);
    return NQ_OK;
}

nq_status nq_qat_scalar_input(const nq_kctx *c, int k, const char *what, float *v)
{
    const nq_tensor *t = c->in[k];
    if (t->dtype != NQ_DTYPE_FLOAT32 || nq_tensor_numel(t) != 1 || t->ndim > 1)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "%s (input %d) must be one float32 value", what, k);
    if (v != NULL && t->data != NULL) *v = *(const float *)t->data;
    return NQ_OK;
}

nq_status nq_qat_infer_io(nq_kctx *c, int n_in, int n_out)
{
    nq_status s = nq_elem_check_io(c, n_in, n_in);
    if (s != NQ_OK) return s;
    if (c->n_out > n_out)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "expects at most %d outputs, got %d", n_out, c->n_out);
    if (c->in[0]->dtype != NQ_DTYPE_FLOAT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "input 0 must be float32, has dtype %s",
                            nq_dtype_name(c->in[0]->dtype));
    nq_elem_same_shape(c, 0, NQ_DTYPE_FLOAT32);
    if (c->n_out > 1 && c->out[1] != NULL) {
        c->out[1]->dtype = NQ_DTYPE_FLOAT32;
        c->out[1]->ndim = 1;
        c->out[1]->dims[0] = 1;
    }
    return NQ_OK;
}
