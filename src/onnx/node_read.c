/* Nodes of a GraphProto -> graph nodes: output values first (so that node
 * order in the file does not matter), then nodes with resolved inputs,
 * domains and attributes, then fresh names for unnamed nodes. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "onnx/onnx_internal.h"

static const char *str_or_empty(const char *s) { return s ? s : ""; }

/* "node 'name' (Op)" or "node #3 (Op)" into buf. */
static const char *node_desc(const Onnx__NodeProto *np, size_t idx, char *buf, size_t size)
{
    const char *name = str_or_empty(np->name), *op = str_or_empty(np->op_type);
    if (name[0] != '\0')
        snprintf(buf, size, "node '%s' (%s)", name, op);
    else
        snprintf(buf, size, "node #%zu (%s)", idx, op);
    return buf;
}

static nq_status add_outputs(const Onnx__NodeProto *np, const char *desc, nq_graph *g,
                             nq_error *err)
{
    for (size_t k = 0; k < np->n_output; k++) {
        const char *o = str_or_empty(np->output[k]);
        if (o[0] == '\0') continue; /* absent optional output */
        int v = nq_graph_find_value(g, o);
        if (v >= 0) {
            const nq_value *val = g->values[v];
            return nq_error_set(err, NQ_ERR_PARSE, "%s: output '%s' is already defined (%s)", desc, o,
                                val->init ? "by an initializer"
                                : val->is_input ? "as a graph input" : "by another node");
        }
        if (nq_graph_add_value(g, o, err) < 0) return err ? err->code : NQ_ERR_NOMEM;
    }
    return NQ_OK;
}

static nq_status resolve(char **names, size_t n, const char *desc, const char *role,
                         const nq_graph *g, int *ids, nq_error *err)
{
    for (size_t k = 0; k < n; k++) {
        const char *name = str_or_empty(names[k]);
        ids[k] = -1;
        if (name[0] == '\0') continue;
        ids[k] = nq_graph_find_value(g, name);
        if (ids[k] < 0)
            return nq_error_set(err, NQ_ERR_PARSE,
                                "%s: %s '%s' is not defined (no initializer, graph input or node output)",
                                desc, role, name);
    }
    return NQ_OK;
}

static nq_status add_attrs(const Onnx__NodeProto *np, const char *desc, const char *base_dir,
                           nq_node *n, nq_error *err)
{
    if (np->n_attribute == 0) return NQ_OK;
    if (np->n_attribute > INT_MAX / 2)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: too many attributes", desc);
    n->attrs = calloc(np->n_attribute, sizeof(nq_attr));
    if (n->attrs == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", desc);
    for (size_t k = 0; k < np->n_attribute; k++) {
        nq_attr *a = &n->attrs[n->n_attrs];
        nq_status s = nq_onnx_attr_read(np->attribute[k], desc, base_dir, a, err);
        if (s != NQ_OK) return s;
        n->n_attrs++;
        for (int j = 0; j < n->n_attrs - 1; j++)
            if (strcmp(n->attrs[j].name, a->name) == 0)
                return nq_error_set(err, NQ_ERR_PARSE, "%s: attribute '%s' appears twice", desc,
                                    a->name);
    }
    return NQ_OK;
}

static nq_status add_node(const Onnx__NodeProto *np, const char *desc, const char *base_dir,
                          nq_graph *g, nq_error *err)
{
    if (np->op_type == NULL || np->op_type[0] == '\0')
        return nq_error_set(err, NQ_ERR_PARSE, "%s: no op_type", desc);
    if (np->n_input > INT_MAX / 2 || np->n_output > INT_MAX / 2)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: too many inputs or outputs", desc);
    int *in = malloc(sizeof(int) * (np->n_input + 1));
    int *out = malloc(sizeof(int) * (np->n_output + 1));
    if (in == NULL || out == NULL) {
        free(in);
        free(out);
        return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", desc);
    }
    nq_status s = resolve(np->input, np->n_input, desc, "input", g, in, err);
    if (s == NQ_OK) s = resolve(np->output, np->n_output, desc, "output", g, out, err);
    nq_node *n = NULL;
    if (s == NQ_OK) {
        /* "" for now: unnamed nodes are named once every node is known */
        n = nq_graph_add_node(g, np->op_type, str_or_empty(np->name), (int)np->n_input, in,
                              (int)np->n_output, out, err);
        if (n == NULL) {
            s = err ? err->code : NQ_ERR_NOMEM;
            nq_error_prefix(err, "%s", desc);
        }
    }
    free(in);
    free(out);
    if (s != NQ_OK || n == NULL) return s != NQ_OK ? s : NQ_ERR_INTERNAL;
    if (np->domain != NULL && np->domain[0] != '\0') {
        size_t len = strlen(np->domain) + 1;
        char *d = malloc(len);
        if (d == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", desc);
        memcpy(d, np->domain, len);
        free(n->domain);
        n->domain = d;
    }
    return add_attrs(np, desc, base_dir, n, err);
}

/* Names unnamed nodes "<op>_<index>", made unique among node names. */
static nq_status name_nodes(nq_graph *g, nq_error *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *n = g->nodes[i];
        if (n->name[0] != '\0') continue;
        size_t len = strlen(n->op_type) + 32;
        char *name = malloc(len);
        if (name == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        snprintf(name, len, "%s_%d", n->op_type, i);
        for (long k = 1; nq_graph_find_node(g, name) != NULL; k++)
            snprintf(name, len, "%s_%d_%ld", n->op_type, i, k);
        nq_graph_set_node_name(g, n, name);
    }
    return NQ_OK;
}

nq_status nq_onnx_nodes_read(const Onnx__GraphProto *gp, const char *base_dir, nq_graph *g,
                             nq_error *err)
{
    char desc[256];
    if (gp->n_node > INT_MAX / 2) return nq_error_set(err, NQ_ERR_PARSE, "too many nodes");
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        nq_status s = add_outputs(np, node_desc(np, i, desc, sizeof desc), g, err);
        if (s != NQ_OK) return s;
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        nq_status s = add_node(np, node_desc(np, i, desc, sizeof desc), base_dir, g, err);
        if (s != NQ_OK) return s;
    }
    return name_nodes(g, err);
}
