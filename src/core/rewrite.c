/* The rewrite API: insert after, remove, replace uses, delete, compact. */
#include <stdlib.h>
#include <string.h>

#include "nnquant/core.h"
#include "core/core_internal.h"

void nq_graph_replace_uses(nq_graph *g, int from, int to)
{
    const int count = nq_graph_consumers(g, from, NULL, 0);
    nq_node **c = count > 0 ? malloc(sizeof(nq_node *) * (size_t)count) : NULL;
    if (c != NULL) {
        nq_graph_consumers(g, from, c, count);
        for (int i = 0; i < count; i++)
            for (int k = 0; k < c[i]->n_inputs; k++)
                if (c[i]->inputs[k] == from) nq_node_set_input(g, c[i], k, to);
        free(c);
    } else if (count > 0) { /* out of memory: without the index */
        nq_uses_free(g);
        for (int i = 0; i < g->n_nodes; i++) {
            nq_node *n = g->nodes[i];
            for (int k = 0; k < n->n_inputs; k++)
                if (n->inputs[k] == from) n->inputs[k] = to;
        }
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == from) {
            g->outputs[i] = to;
            g->values[from]->is_output = 0;
            g->values[to]->is_output = 1;
        }
}

nq_node *nq_graph_insert_after(nq_graph *g, int v, const char *op_type, const char *name,
                               int n_extra, const int *extra, nq_error *err)
{
    if (v < 0 || v >= g->n_values) {
        nq_error_set(err, NQ_ERR_INVALID_ARG, "insert_after: bad value index %d", v);
        return NULL;
    }
    char *out_name = nq_graph_unique_name(g, g->values[v]->name);
    if (out_name == NULL) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    int out = nq_graph_add_value(g, out_name, err);
    free(out_name);
    if (out < 0) return NULL;
    int *ins = malloc(sizeof(int) * (size_t)(1 + n_extra));
    if (ins == NULL) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ins[0] = v;
    for (int i = 0; i < n_extra; i++) ins[1 + i] = extra[i];
    /* rewire before adding, so that the new node keeps reading v */
    int was_output = g->values[v]->is_output;
    nq_graph_replace_uses(g, v, out);
    nq_node *n = nq_graph_add_node(g, op_type, name, 1 + n_extra, ins, 1, &out, err);
    free(ins);
    if (n == NULL) {
        nq_graph_replace_uses(g, out, v); /* undo */
        return NULL;
    }
    /* the new value has the same type and shape as v (a quantizer may change dtype later) */
    if (was_output) nq_graph_swap_value_names(g, v, out); /* the graph output keeps its name */
    g->values[out]->dtype = g->values[v]->dtype;
    g->values[out]->ndim = g->values[v]->ndim;
    memcpy(g->values[out]->dims, g->values[v]->dims, sizeof g->values[out]->dims);
    /* keep a topological order: move the node right after v's producer */
    int at = 0;
    if (g->values[v]->producer != NULL) at = nq_graph_node_index(g, g->values[v]->producer) + 1;
    memmove(&g->nodes[at + 1], &g->nodes[at], sizeof(nq_node *) * (size_t)(g->n_nodes - 1 - at));
    g->nodes[at] = n;
    n->pos = at;
    return n;
}

nq_node *nq_graph_insert_on_edge(nq_graph *g, nq_node *consumer, int input, const char *op_type,
                                 const char *name, int n_extra, const int *extra, nq_error *err)
{
    if (input < 0 || input >= consumer->n_inputs || consumer->inputs[input] < 0) {
        nq_error_set(err, NQ_ERR_INVALID_ARG, "insert_on_edge: node '%s' has no input %d", consumer->name,
                     input);
        return NULL;
    }
    int v = consumer->inputs[input];
    char *out_name = nq_graph_unique_name(g, g->values[v]->name);
    int out = out_name ? nq_graph_add_value(g, out_name, err) : -1;
    free(out_name);
    int *ins = out >= 0 ? malloc(sizeof(int) * (size_t)(1 + n_extra)) : NULL;
    if (ins == NULL) {
        if (out >= 0) nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ins[0] = v;
    for (int i = 0; i < n_extra; i++) ins[1 + i] = extra[i];
    nq_node *n = nq_graph_add_node(g, op_type, name, 1 + n_extra, ins, 1, &out, err);
    free(ins);
    if (n == NULL) return NULL;
    nq_node_set_input(g, consumer, input, out);
    nq_value *vo = g->values[out], *vi = g->values[v];
    vo->dtype = vi->dtype;
    vo->ndim = vi->ndim;
    memcpy(vo->dims, vi->dims, sizeof vo->dims);
    int at = nq_graph_node_index(g, consumer);
    memmove(&g->nodes[at + 1], &g->nodes[at], sizeof(nq_node *) * (size_t)(g->n_nodes - 1 - at));
    g->nodes[at] = n;
    n->pos = at;
    return n;
}

void nq_graph_delete_node(nq_graph *g, nq_node *n)
{
    int idx = nq_graph_node_index(g, n);
    if (idx < 0) return;
    for (int k = 0; k < n->n_outputs; k++)
        if (n->outputs[k] >= 0 && g->values[n->outputs[k]]->producer == n)
            g->values[n->outputs[k]]->producer = NULL;
    nq_graph_unindex_node(g, n);
    nq_uses_unlink(g, n);
    memmove(&g->nodes[idx], &g->nodes[idx + 1], sizeof(nq_node *) * (size_t)(g->n_nodes - idx - 1));
    g->n_nodes--;
    nq_node_free_internal(n);
}

nq_status nq_graph_remove_node(nq_graph *g, nq_node *n, nq_error *err)
{
    if (nq_graph_node_index(g, n) < 0)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "remove: node is not in the graph");
    if (n->n_inputs < 1 || n->n_outputs < 1 || n->inputs[0] < 0 || n->outputs[0] < 0)
        return nq_error_set(err, NQ_ERR_INVALID_ARG,
                            "remove: node '%s' (%s) has no data input/output to bypass",
                            n->name, n->op_type);
    int in = n->inputs[0], out = n->outputs[0];
    for (int k = 1; k < n->n_outputs; k++) {
        int o = n->outputs[k];
        if (o >= 0 && (nq_graph_consumers(g, o, NULL, 0) > 0 || g->values[o]->is_output))
            return nq_error_set(err, NQ_ERR_INVALID_ARG,
                                "remove: output %d of node '%s' (%s) is still used", k, n->name,
                                n->op_type);
    }
    int out_is_graph_output = g->values[out]->is_output;
    int in_is_graph_input = g->values[in]->is_input;
    if (out_is_graph_output && in_is_graph_input)
        return nq_error_set(err, NQ_ERR_INVALID_ARG,
                            "remove: node '%s' (%s) links a graph input to a graph output",
                            n->name, n->op_type);
    nq_graph_delete_node(g, n);
    if (out_is_graph_output && g->values[in]->producer != NULL)
        nq_graph_swap_value_names(g, in, out); /* keep the graph output's name */
    nq_graph_replace_uses(g, out, in);
    return NQ_OK;
}

static int value_used(const nq_graph *g, int v)
{
    const nq_value *val = g->values[v];
    if (val->is_input || val->is_output) return 1;
    return nq_graph_consumers(g, v, NULL, 0) > 0;
}

nq_status nq_graph_compact(nq_graph *g, nq_error *err)
{
    /* drop dead nodes until none is left */
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = g->n_nodes - 1; i >= 0; i--) {
            nq_node *n = g->nodes[i];
            int used = 0;
            for (int k = 0; k < n->n_outputs && !used; k++)
                if (n->outputs[k] >= 0 && value_used(g, n->outputs[k])) used = 1;
            if (!used) {
                nq_graph_delete_node(g, n);
                changed = 1;
            }
        }
    }
    /* drop unreferenced values and renumber */
    int nv = g->n_values;
    int *map = malloc(sizeof(int) * (size_t)(nv > 0 ? nv : 1));
    if (map == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    int kept = 0;
    for (int v = 0; v < nv; v++) {
        nq_value *val = g->values[v];
        int keep = value_used(g, v) || val->producer != NULL;
        if (keep) {
            map[v] = kept;
            g->values[kept++] = val;
        } else {
            map[v] = -1;
            free(val->name);
            nq_tensor_delete(val->init);
            free(val);
        }
    }
    g->n_values = kept;
    nq_graph_reindex_values(g);
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *n = g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) n->inputs[k] = map[n->inputs[k]];
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0) n->outputs[k] = map[n->outputs[k]];
    }
    for (int i = 0; i < g->n_inputs; i++) g->inputs[i] = map[g->inputs[i]];
    for (int i = 0; i < g->n_outputs; i++) g->outputs[i] = map[g->outputs[i]];
    free(map);
    nq_uses_free(g); /* keyed by the old value numbers */
    return NQ_OK;
}
