/* Helpers shared by the LSQ and SAT transforms (qat_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "qat/qat_internal.h"

int nq_qat_add_scalar(nq_graph *g, const char *prefix, float v, nq_error *err)
{
    nq_tensor t;
    if (nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, 0, NULL, err) != NQ_OK) return -1;
    *(float *)t.data = v;
    char *name = nq_graph_unique_name(g, prefix);
    int id = name ? nq_graph_add_initializer(g, name, &t, err) : -1;
    free(name);
    if (id < 0) {
        nq_tensor_free(&t);
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    return id;
}

int nq_qat_is_affine(const nq_graph *g, const nq_node *n)
{
    if (n->op != NQ_OP_Conv && n->op != NQ_OP_Gemm && n->op != NQ_OP_MatMul) return 0;
    if (n->n_inputs < 2 || n->inputs[1] < 0) return 0;
    const nq_tensor *w = g->values[n->inputs[1]]->init;
    return w != NULL && w->dtype == NQ_DTYPE_FLOAT32;
}

int nq_qat_feeds_relu_only(const nq_graph *g, int v)
{
    nq_node *c[16];
    int n = nq_graph_consumers(g, v, c, 16);
    if (n < 1 || n > 16 || g->values[v]->is_output) return 0;
    for (int i = 0; i < n; i++)
        if (c[i]->op != NQ_OP_Relu) return 0;
    return 1;
}

static nq_status set_str(char **dst, const char *s, nq_error *err)
{
    char *d = nq_strdup(s);
    if (d == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    free(*dst);
    *dst = d;
    return NQ_OK;
}

nq_status nq_qat_to_quantizer(nq_graph *g, nq_node *q, const char *role, float step, int lo, int hi,
                              nq_error *err)
{
    int sc = nq_qat_add_scalar(g, "qat_scale", 1.0f, err);
    if (sc < 0) return err ? err->code : NQ_ERR_NOMEM;
    nq_status s = set_str(&q->op_type, "Quantizer", err);
    if (s == NQ_OK) s = set_str(&q->domain, NQ_DOMAIN, err);
    if (s != NQ_OK) return s;
    q->op = NQ_OP_Quantizer;
    if (q->n_inputs < 2) return nq_error_set(err, NQ_ERR_INTERNAL, "node '%s': no second input", q->name);
    const int ins[2] = {q->inputs[0], sc};
    if ((s = nq_node_set_inputs(g, q, 2, ins, err)) != NQ_OK) return s;
    while (q->n_attrs > 0) nq_node_remove_attr(q, q->attrs[0].name);
    const char *src = g->values[q->inputs[0]]->name;
    if (nq_node_set_string(q, NQ_ATTR_ROLE, role) != NQ_OK || nq_node_set_int(q, "round", 0) != NQ_OK ||
        nq_node_set_string(q, "to", "float32") != NQ_OK || nq_node_set_string(q, NQ_ATTR_SOURCE, src) != NQ_OK ||
        nq_node_set_float(q, NQ_ATTR_QAT_STEP, step) != NQ_OK || nq_node_set_int(q, NQ_ATTR_QAT_LO, lo) != NQ_OK ||
        nq_node_set_int(q, NQ_ATTR_QAT_HI, hi) != NQ_OK)
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    return NQ_OK;
}

nq_status nq_qat_set_int_weights(nq_graph *g, nq_node *n, const float *k, float step, int wmax, nq_error *err)
{
    nq_tensor *w = nq_ptq_private_init(g, n, 1, err);
    if (w == NULL) return err ? err->code : NQ_ERR_NOMEM;
    nq_tensor *kt = nq_tensor_new();
    if (kt == NULL || nq_tensor_alloc(kt, NQ_DTYPE_FLOAT32, w->ndim, w->dims, err) != NQ_OK) {
        nq_tensor_delete(kt);
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    int64_t count = nq_tensor_numel(w);
    float *wd = w->data, *kd = kt->data;
    for (int64_t i = 0; i < count; i++) {
        kd[i] = k[i];
        wd[i] = k[i] * step;
    }
    if (nq_node_set_tensor(n, NQ_ATTR_QAT_WINT, kt) != NQ_OK || nq_node_set_int(n, NQ_ATTR_QAT_WMAX, wmax) != NQ_OK)
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    return NQ_OK;
}
