/* Helpers shared by the PTQ passes: op kinds, roles, scales, parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "ptq/ptq_internal.h"

static const nq_ptq_kind kinds[NQ_OP_COUNT] = {
    [NQ_OP_Conv] = NQ_PTQ_AFFINE,      [NQ_OP_Gemm] = NQ_PTQ_AFFINE,
    [NQ_OP_MatMul] = NQ_PTQ_AFFINE,    [NQ_OP_ReduceSum] = NQ_PTQ_SUM,
    [NQ_OP_Add] = NQ_PTQ_JOIN,         [NQ_OP_Concat] = NQ_PTQ_JOIN,
    [NQ_OP_Relu] = NQ_PTQ_PASS,        [NQ_OP_MaxPool] = NQ_PTQ_PASS,
    [NQ_OP_GlobalMaxPool] = NQ_PTQ_PASS, [NQ_OP_Flatten] = NQ_PTQ_PASS,
    [NQ_OP_Reshape] = NQ_PTQ_PASS,     [NQ_OP_Transpose] = NQ_PTQ_PASS,
    [NQ_OP_Squeeze] = NQ_PTQ_PASS,     [NQ_OP_Unsqueeze] = NQ_PTQ_PASS,
    [NQ_OP_Identity] = NQ_PTQ_PASS,    [NQ_OP_Dropout] = NQ_PTQ_PASS,
    [NQ_OP_Clip] = NQ_PTQ_CLIP,        [NQ_OP_Quantizer] = NQ_PTQ_QUANTIZER,
    [NQ_OP_Sigmoid] = NQ_PTQ_FLOAT,    [NQ_OP_Tanh] = NQ_PTQ_FLOAT,
    [NQ_OP_HardSigmoid] = NQ_PTQ_FLOAT, [NQ_OP_HardSwish] = NQ_PTQ_FLOAT,
    [NQ_OP_Softmax] = NQ_PTQ_FLOAT,    [NQ_OP_LogSoftmax] = NQ_PTQ_FLOAT,
    [NQ_OP_Sqrt] = NQ_PTQ_FLOAT,       [NQ_OP_Erf] = NQ_PTQ_FLOAT,
};

nq_ptq_kind nq_ptq_kind_of(const nq_node *n)
{
    int op = n->op >= 0 ? n->op : nq_op_find(n->domain, n->op_type);
    return op >= 0 && op < NQ_OP_COUNT ? kinds[op] : NQ_PTQ_UNSUPPORTED;
}

const char *nq_ptq_role(const nq_node *n)
{
    if (strcmp(n->op_type, "Quantizer") != 0) return NULL;
    return nq_node_attr_string(n, NQ_ATTR_ROLE, NULL);
}

int nq_ptq_float_output_requantized(const nq_graph *g, const nq_node *n)
{
    nq_node *c[16];
    int nc = nq_graph_consumers(g, n->outputs[0], c, 16), reader = nc > 16;
    for (int i = 0; i < nc && i < 16; i++) reader |= nq_ptq_kind_of(c[i]) != NQ_PTQ_FLOAT;
    return reader;
}

int nq_ptq_is_island(const nq_node *n)
{
    const char *r = nq_ptq_role(n);
    return r != NULL && strcmp(r, NQ_ROLE_ISLAND) == 0;
}

int nq_ptq_is_scaling(const nq_node *n)
{
    const char *r = nq_ptq_role(n);
    return r != NULL && (strcmp(r, NQ_ROLE_INPUT) == 0 || strcmp(r, NQ_ROLE_SCALING) == 0 ||
                         strcmp(r, NQ_ROLE_BRANCH) == 0);
}

nq_node *nq_ptq_insert_quantizer_on(nq_graph *g, int v, nq_node *consumer, int input, const char *role,
                                    float scale, nq_error *err)
{
    nq_tensor t;
    if (nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, 0, NULL, err) != NQ_OK) return NULL;
    *(float *)t.data = scale;
    size_t len = strlen(g->values[v]->name) + 16;
    char *base = malloc(len);
    if (base == NULL) {
        nq_tensor_free(&t);
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(base, len, "%s_q%s", g->values[v]->name, role);
    char *sname = nq_graph_unique_name(g, base);
    int s = sname ? nq_graph_add_initializer(g, sname, &t, err) : -1;
    char *nname = nq_graph_unique_name(g, base);
    free(sname);
    free(base);
    if (s < 0 || nname == NULL) {
        nq_tensor_free(&t);
        free(nname);
        if (s >= 0) nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    char *source = nq_strdup(g->values[v]->name); /* before insert_after may rename v */
    nq_node *q = source == NULL ? NULL
                 : consumer     ? nq_graph_insert_on_edge(g, consumer, input, "Quantizer", nname, 1, &s, err)
                                : nq_graph_insert_after(g, v, "Quantizer", nname, 1, &s, err);
    free(nname);
    if (q == NULL || nq_node_set_string(q, NQ_ATTR_SOURCE, source) != NQ_OK) {
        free(source);
        if (q != NULL) nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    free(source);
    free(q->domain);
    q->domain = malloc(sizeof NQ_DOMAIN);
    if (q->domain == NULL || nq_node_set_string(q, NQ_ATTR_ROLE, role) != NQ_OK ||
        nq_node_set_int(q, "round", 0) != NQ_OK || nq_node_set_string(q, "to", "float32") != NQ_OK) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(q->domain, NQ_DOMAIN, sizeof NQ_DOMAIN);
    q->op = NQ_OP_Quantizer;
    if (nq_graph_opset(g, NQ_DOMAIN) == 0 && nq_graph_set_opset(g, NQ_DOMAIN, 1, err) != NQ_OK)
        return NULL;
    return q;
}

nq_node *nq_ptq_insert_quantizer(nq_graph *g, int v, const char *role, float scale, nq_error *err)
{
    return nq_ptq_insert_quantizer_on(g, v, NULL, 0, role, scale, err);
}

nq_tensor *nq_ptq_scale(const nq_graph *g, const nq_node *q)
{
    if (q->n_inputs < 2 || q->inputs[1] < 0) return NULL;
    return g->values[q->inputs[1]]->init;
}

nq_tensor *nq_ptq_scale_per_channel(nq_graph *g, nq_node *q, int64_t c, nq_error *err)
{
    nq_tensor *s = nq_ptq_private_init(g, q, 1, err);
    if (s == NULL) return NULL;
    if (s->ndim == 1 && s->dims[0] == c) return s;
    if (nq_tensor_numel(s) != 1) {
        nq_error_set(err, NQ_ERR_INTERNAL, "quantizer '%s': scale has %lld values, expected 1 or %lld",
                     q->name, (long long)nq_tensor_numel(s), (long long)c);
        return NULL;
    }
    float v = *(float *)s->data;
    nq_tensor t;
    if (nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, 1, &c, err) != NQ_OK) return NULL;
    for (int64_t i = 0; i < c; i++) ((float *)t.data)[i] = v;
    nq_tensor_free(s);
    *s = t;
    nq_value *val = g->values[q->inputs[1]];
    val->ndim = 1;
    val->dims[0] = c;
    return s;
}

void nq_ptq_scale_mul(nq_graph *g, nq_node *q, double f)
{
    nq_tensor *s = nq_ptq_private_init(g, q, 1, NULL);
    if (s == NULL) return;
    for (int64_t i = 0; i < nq_tensor_numel(s); i++) ((float *)s->data)[i] = (float)(((float *)s->data)[i] * f);
}

nq_node *nq_ptq_single_consumer(const nq_graph *g, int v)
{
    nq_node *c[2];
    if (g->values[v]->is_output) return NULL;
    return nq_graph_consumers(g, v, c, 2) == 1 ? c[0] : NULL;
}

int nq_ptq_consumers_all(const nq_graph *g, int v, const char *op_type)
{
    nq_node *c[16];
    int n = nq_graph_consumers(g, v, c, 16);
    if (n < 1 || n > 16 || g->values[v]->is_output) return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(c[i]->op_type, op_type) != 0) return 0;
    return 1;
}

nq_tensor *nq_ptq_private_init(nq_graph *g, nq_node *n, int input, nq_error *err)
{
    if (input >= n->n_inputs || n->inputs[input] < 0 || g->values[n->inputs[input]]->init == NULL) {
        nq_error_set(err, NQ_ERR_INTERNAL, "node '%s' (%s): input %d is not a constant", n->name,
                     n->op_type, input);
        return NULL;
    }
    int v = n->inputs[input];
    if (nq_graph_use_count(g, v) == 1 && !g->values[v]->is_output) return g->values[v]->init;
    nq_tensor copy;
    if (nq_tensor_copy(&copy, g->values[v]->init, err) != NQ_OK) return NULL;
    char *name = nq_graph_unique_name(g, g->values[v]->name);
    int nv = name ? nq_graph_add_initializer(g, name, &copy, err) : -1;
    free(name);
    if (nv < 0) {
        nq_tensor_free(&copy);
        return NULL;
    }
    nq_node_set_input(g, n, input, nv);
    return g->values[nv]->init;
}

nq_node *nq_ptq_param_quantizer(const nq_graph *g, const nq_node *n, int input)
{
    if (input >= n->n_inputs || n->inputs[input] < 0) return NULL;
    nq_node *q = g->values[n->inputs[input]]->producer;
    const char *role = q ? nq_ptq_role(q) : NULL;
    if (role == NULL || (strcmp(role, NQ_ROLE_WEIGHT) != 0 && strcmp(role, NQ_ROLE_BIAS) != 0)) return NULL;
    return q;
}

/* The constant behind input `input` of n, looking through a weight/bias quantizer. */
static nq_tensor *param_init(const nq_graph *g, const nq_node *n, int input)
{
    if (input >= n->n_inputs || n->inputs[input] < 0) return NULL;
    const nq_node *q = nq_ptq_param_quantizer(g, n, input);
    int v = q ? q->inputs[0] : n->inputs[input];
    return v >= 0 ? g->values[v]->init : NULL;
}

nq_tensor *nq_ptq_param(nq_graph *g, nq_node *n, int input, nq_error *err)
{
    nq_node *q = nq_ptq_param_quantizer(g, n, input);
    return q ? nq_ptq_private_init(g, q, 0, err) : nq_ptq_private_init(g, n, input, err);
}

nq_status nq_ptq_affine_params(const nq_graph *g, const nq_node *n, nq_affine_params *p,
                               nq_error *err)
{
    memset(p, 0, sizeof *p);
    p->w = param_init(g, n, 1);
    if (p->w == NULL)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "node '%s' (%s): PTQ needs constant weights (input 1)", n->name, n->op_type);
    if (p->w->dtype != NQ_DTYPE_FLOAT32)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s' (%s): weights are %s, not float32",
                            n->name, n->op_type, nq_dtype_name(p->w->dtype));
    int bias_at = n->op == NQ_OP_MatMul ? -1 : 2;
    if (bias_at > 0 && n->n_inputs > bias_at && n->inputs[bias_at] >= 0) {
        p->b = param_init(g, n, bias_at);
        if (p->b == NULL)
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s' (%s): PTQ needs a constant bias",
                                n->name, n->op_type);
    }
    const nq_tensor *w = p->w;
    int64_t numel = nq_tensor_numel(w);
    if (n->op == NQ_OP_Conv) { /* [Cout, Cin/g, k...] */
        p->channels = w->dims[0];
        p->per = numel / w->dims[0];
        p->stride = p->per;
        p->cstride = 1;
    } else { /* Gemm with transB: [N, K]; Gemm/MatMul otherwise: [K, N] */
        if (w->ndim != 2)
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s' (%s): PTQ needs 2-D weights",
                                n->name, n->op_type);
        int trans_b = n->op == NQ_OP_Gemm && nq_node_attr_int(n, "transB", 0);
        if (n->op == NQ_OP_Gemm && nq_node_attr_int(n, "transA", 0))
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s' (Gemm): transA is not supported by PTQ",
                                n->name);
        p->channels = trans_b ? w->dims[0] : w->dims[1];
        p->per = trans_b ? w->dims[1] : w->dims[0];
        p->stride = trans_b ? w->dims[1] : 1;
        p->cstride = trans_b ? 1 : w->dims[1];
    }
    if (p->b != NULL && nq_tensor_numel(p->b) != p->channels)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "node '%s' (%s): bias has %lld values for %lld output channels", n->name,
                            n->op_type, (long long)nq_tensor_numel(p->b), (long long)p->channels);
    return NQ_OK;
}

nq_dtype nq_ptq_precision(const nq_node *n, nq_dtype dflt)
{
    const char *s = nq_node_attr_string(n, NQ_ATTR_PRECISION, NULL);
    nq_dtype t = s ? nq_dtype_from_name(s) : NQ_DTYPE_UNDEFINED;
    return t == NQ_DTYPE_UNDEFINED ? dflt : t;
}

int nq_ptq_is_float_island(const nq_node *n)
{
    return nq_ptq_kind_of(n) == NQ_PTQ_AFFINE && nq_dtype_is_float(nq_ptq_precision(n, NQ_DTYPE_INT8));
}

double nq_ptq_qmax(nq_dtype t, int is_unsigned)
{
    int64_t lo, hi;
    if (!nq_dtype_int_range(t, &lo, &hi)) return 0;
    if (lo == 0) return (double)hi;                    /* already unsigned */
    return is_unsigned ? (double)hi * 2 + 1 : (double)hi; /* int8 -> 255 unsigned */
}
