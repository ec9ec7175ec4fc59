/* Topological order, consumers, and graph invariants. */
#include <stdlib.h>
#include <string.h>

#include "nnquant/core.h"
#include "core/core_internal.h"

/* Kahn's algorithm keeping the original order among ready nodes (stable). */
nq_status nq_graph_toposort(nq_graph *g, nq_error *err)
{
    int nv = g->n_values, nn = g->n_nodes;
    char *ready = calloc((size_t)(nv > 0 ? nv : 1), 1);
    char *done = calloc((size_t)(nn > 0 ? nn : 1), 1);
    nq_node **order = malloc(sizeof(nq_node *) * (size_t)(nn > 0 ? nn : 1));
    nq_status s = NQ_OK;
    if (!ready || !done || !order) {
        s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int v = 0; v < nv; v++)
        ready[v] = g->values[v]->producer == NULL; /* inputs, initializers, undefined */
    int placed = 0;
    while (placed < nn) {
        int progress = 0;
        for (int i = 0; i < nn; i++) {
            if (done[i]) continue;
            const nq_node *n = g->nodes[i];
            int ok = 1;
            for (int k = 0; k < n->n_inputs && ok; k++)
                if (n->inputs[k] >= 0 && !ready[n->inputs[k]]) ok = 0;
            if (!ok) continue;
            done[i] = 1;
            order[placed++] = g->nodes[i];
            for (int k = 0; k < n->n_outputs; k++)
                if (n->outputs[k] >= 0) ready[n->outputs[k]] = 1;
            progress = 1;
        }
        if (!progress) {
            for (int i = 0; i < nn; i++)
                if (!done[i]) {
                    s = nq_error_set(err, NQ_ERR_INVALID_ARG,
                                     "graph has a cycle through node '%s' (%s)",
                                     g->nodes[i]->name, g->nodes[i]->op_type);
                    break;
                }
            goto out;
        }
    }
    if (nn > 0) memcpy(g->nodes, order, sizeof(nq_node *) * (size_t)nn);
out:
    free(ready);
    free(done);
    free(order);
    return s;
}

/* Whether another value has value i's name: through the name index, or a
 * scan when the index misses (a name changed outside the nq_graph_* calls). */
static int name_used_twice(const nq_graph *g, int i)
{
    int j = nq_graph_find_value(g, g->values[i]->name);
    if (j >= 0) return j != i;
    for (j = 0; j < g->n_values; j++)
        if (j != i && strcmp(g->values[j]->name, g->values[i]->name) == 0) return 1;
    return 0;
}

nq_status nq_graph_validate(const nq_graph *g, nq_error *err)
{
    for (int i = 0; i < g->n_values; i++) {
        const nq_value *v = g->values[i];
        if (v->name == NULL || v->name[0] == '\0')
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "value %d has no name", i);
        if (name_used_twice(g, i))
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "value name '%s' is used twice", v->name);
        if (v->init != NULL && v->producer != NULL)
            return nq_error_set(err, NQ_ERR_INVALID_ARG,
                                "value '%s' is both an initializer and the output of node '%s'",
                                v->name, v->producer->name);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        for (int k = 0; k < n->n_outputs; k++) {
            int o = n->outputs[k];
            if (o < -1 || o >= g->n_values)
                return nq_error_set(err, NQ_ERR_INTERNAL, "node '%s' (%s): bad output index",
                                    n->name, n->op_type);
            if (o >= 0 && g->values[o]->producer != n)
                return nq_error_set(err, NQ_ERR_INVALID_ARG,
                                    "value '%s' is produced by more than one node ('%s' and '%s')",
                                    g->values[o]->name, n->name,
                                    g->values[o]->producer ? g->values[o]->producer->name : "?");
        }
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v < -1 || v >= g->n_values)
                return nq_error_set(err, NQ_ERR_INTERNAL, "node '%s' (%s): bad input index",
                                    n->name, n->op_type);
            if (v < 0) continue;
            const nq_value *val = g->values[v];
            if (val->producer == NULL && val->init == NULL && !val->is_input)
                return nq_error_set(err, NQ_ERR_INVALID_ARG,
                                    "node '%s' (%s): input '%s' is not defined "
                                    "(no initializer, graph input or producing node)",
                                    n->name, n->op_type, val->name);
        }
    }
    if (!nq_uses_consistent(g))
        return nq_error_set(err, NQ_ERR_INTERNAL,
                            "the consumer index disagrees with the node inputs: an input was changed "
                            "without nq_node_set_input (call nq_graph_invalidate_uses after such edits)");
    for (int i = 0; i < g->n_outputs; i++) {
        const nq_value *val = g->values[g->outputs[i]];
        if (val->producer == NULL && val->init == NULL && !val->is_input)
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "graph output '%s' is not defined",
                                val->name);
    }
    return NQ_OK;
}
