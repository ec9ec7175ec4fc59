/* Helpers shared by the QDQ export and import. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/qdq_internal.h"

int nq_qdq_new_value(nq_graph *g, const char *base, nq_error *err)
{
    char *name = nq_graph_unique_name(g, base);
    if (name == NULL) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    int id = nq_graph_add_value(g, name, err);
    free(name);
    return id;
}

int nq_qdq_const(nq_graph *g, const char *base, nq_dtype dtype, int64_t n, int ndim,
                 const double *vals, nq_error *err)
{
    nq_tensor t = {0};
    int64_t dims[1] = {n};
    if (nq_tensor_alloc(&t, dtype, ndim, dims, err) != NQ_OK) return -1;
    for (int64_t i = 0; i < n; i++) nq_tensor_set(&t, i, vals ? vals[i] : 0.0);
    char *name = nq_graph_unique_name(g, base);
    int id = name ? nq_graph_add_initializer(g, name, &t, err) : -1;
    if (name == NULL) nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    free(name);
    nq_tensor_free(&t);
    return id;
}

nq_node *nq_qdq_node(nq_graph *g, const char *op_type, const char *base, int n_in, const int *in,
                     int n_out, const int *out, nq_error *err)
{
    char *name = nq_graph_unique_name(g, base);
    if (name == NULL) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    nq_node *n = nq_graph_add_node(g, op_type, name, n_in, in, n_out, out, err);
    free(name);
    return n;
}

nq_status nq_qdq_set_string(char **field, const char *value, nq_error *err)
{
    size_t len = strlen(value) + 1;
    char *c = malloc(len);
    if (c == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    memcpy(c, value, len);
    free(*field);
    *field = c;
    return NQ_OK;
}

nq_status nq_qdq_copy_attrs(nq_node *dst, const nq_node *src, nq_error *err)
{
    for (int i = 0; i < src->n_attrs; i++) {
        const nq_attr *a = &src->attrs[i];
        if (strncmp(a->name, "quantization.", 13) == 0) continue;
        nq_attr *p = realloc(dst->attrs, sizeof *p * (size_t)(dst->n_attrs + 1));
        if (p == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        dst->attrs = p;
        if (nq_attr_copy(&p[dst->n_attrs], a) != NQ_OK)
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        dst->n_attrs++;
    }
    return NQ_OK;
}

const nq_tensor *nq_qdq_const_input(const nq_graph *g, const nq_node *n, int i)
{
    if (i >= n->n_inputs || n->inputs[i] < 0) return NULL;
    return g->values[n->inputs[i]]->init;
}

int nq_qdq_weight_axis(const nq_node *n)
{
    if (strcmp(n->op_type, "Conv") == 0) return 0;
    if (strcmp(n->op_type, "Gemm") == 0 && nq_node_attr_int(n, "transB", 0)) return 0;
    return 1;
}

int nq_qdq_add_input_like(nq_graph *g, const nq_value *v, nq_error *err)
{
    int id = nq_graph_add_value(g, v->name, err);
    if (id < 0) return -1;
    nq_value *d = g->values[id];
    d->dtype = v->dtype;
    d->ndim = v->ndim;
    memcpy(d->dims, v->dims, sizeof d->dims);
    return nq_graph_add_input(g, id, err) == NQ_OK ? id : -1;
}
