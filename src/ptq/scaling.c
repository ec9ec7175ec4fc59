/* insert_scaling_nodes and normalize_parameters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ptq/ptq_internal.h"

/* 1 if value v is produced by a scaling Quantizer. */
static int from_scaling(const nq_graph *g, int v)
{
    const nq_node *p = g->values[v]->producer;
    return p != NULL && nq_ptq_is_scaling(p);
}

/* 1 if every consumer of v is a scaling Quantizer (the output is rescaled). */
static int followed_by_scaling(const nq_graph *g, int v)
{
    nq_node *c[8];
    int n = nq_graph_consumers(g, v, c, 8);
    if (n < 1 || n > 8 || g->values[v]->is_output) return 0;
    for (int i = 0; i < n; i++)
        if (!nq_ptq_is_scaling(c[i])) return 0;
    return 1;
}

/* A node kept in float (NQ_PTQ_FLOAT) reads real values: an island
 * Quantizer on its input edge turns integers back into them, unless
 * another float node produces it. Its output is quantized again like a
 * graph input, where a node other than a float one reads it; read only by
 * float nodes and graph outputs, it stays in float (a Softmax at the end
 * gives float probabilities, not 8-bit ones). */
static nq_status float_node(nq_graph *g, nq_node *n, nq_error *err)
{
    int x = n->inputs[0], y = n->outputs[0];
    const nq_node *p = x >= 0 ? g->values[x]->producer : NULL;
    if (x >= 0 && g->values[x]->init == NULL && !(p != NULL && nq_ptq_kind_of(p) == NQ_PTQ_FLOAT) &&
        nq_ptq_insert_quantizer_on(g, x, n, 0, NQ_ROLE_ISLAND, 1.0f, err) == NULL)
        return err ? err->code : NQ_ERR_NOMEM;
    if (nq_ptq_float_output_requantized(g, n) && !followed_by_scaling(g, y) &&
        nq_ptq_insert_quantizer(g, y, NQ_ROLE_INPUT, 1.0f, err) == NULL)
        return err ? err->code : NQ_ERR_NOMEM;
    return NQ_OK;
}

nq_status nq_insert_scaling_nodes(nq_graph *g, int channel_wise, nq_error *err)
{
    (void)channel_wise; /* per-channel scales are created by normalize_parameters */
    nq_status s = nq_ops_resolve(g, err);
    if (s != NQ_OK) return s;
    for (int i = 0; i < g->n_inputs; i++) {
        int v = g->inputs[i];
        if (g->values[v]->dtype == NQ_DTYPE_FLOAT32 && !followed_by_scaling(g, v) &&
            nq_ptq_insert_quantizer(g, v, NQ_ROLE_INPUT, 1.0f, err) == NULL)
            return err ? err->code : NQ_ERR_NOMEM;
    }
    /* snapshot: the list grows while we insert */
    int count = g->n_nodes;
    nq_node **nodes = malloc(sizeof(nq_node *) * (size_t)(count + 1));
    if (nodes == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    memcpy(nodes, g->nodes, sizeof(nq_node *) * (size_t)count);
    for (int i = 0; i < count && s == NQ_OK; i++) {
        nq_node *n = nodes[i];
        nq_ptq_kind k = nq_ptq_kind_of(n);
        if (k == NQ_PTQ_JOIN) {
            for (int j = 0; j < n->n_inputs && s == NQ_OK; j++) {
                int v = n->inputs[j];
                if (v < 0 || g->values[v]->init != NULL) continue;
                if (from_scaling(g, v) && nq_ptq_single_consumer(g, v) == n) continue;
                if (nq_ptq_insert_quantizer_on(g, v, n, j, NQ_ROLE_BRANCH, 1.0f, err) == NULL)
                    s = err ? err->code : NQ_ERR_NOMEM;
            }
        }
        if (k == NQ_PTQ_AFFINE) /* weight and bias quantizers, on their edge only */
            for (int j = 1; j <= 2 && j < n->n_inputs && s == NQ_OK; j++) {
                int v = n->inputs[j];
                if (v < 0 || g->values[v]->init == NULL) continue;
                if (nq_ptq_insert_quantizer_on(g, v, n, j, j == 1 ? NQ_ROLE_WEIGHT : NQ_ROLE_BIAS, 1.0f,
                                               err) == NULL)
                    s = err ? err->code : NQ_ERR_NOMEM;
            }
        if (s == NQ_OK && (k == NQ_PTQ_AFFINE || k == NQ_PTQ_SUM || k == NQ_PTQ_JOIN) &&
            !followed_by_scaling(g, n->outputs[0]) &&
            nq_ptq_insert_quantizer(g, n->outputs[0], NQ_ROLE_SCALING, 1.0f, err) == NULL)
            s = err ? err->code : NQ_ERR_NOMEM;
        if (s == NQ_OK && k == NQ_PTQ_FLOAT) s = float_node(g, n, err);
    }
    free(nodes);
    return s;
}
