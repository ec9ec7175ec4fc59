/* cast_quantized_network and fold_producer_quantizers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/run.h"
#include "ptq/ptq_internal.h"

#define NQ_ATTR_DTYPE "quantization.ptq.dtype"

static int feeds_join(const nq_graph *g, int v)
{
    nq_node *c[16];
    int n = nq_graph_consumers(g, v, c, 16);
    for (int i = 0; i < n && i < 16; i++)
        if (nq_ptq_kind_of(c[i]) == NQ_PTQ_JOIN) return 1;
    return 0;
}

/* Rewrites a Clip bound constant into dtype t (values are integers already). */
static nq_status cast_clip_bounds(nq_graph *g, nq_node *n, nq_dtype t, nq_error *err)
{
    for (int k = 1; k <= 2 && k < n->n_inputs; k++) {
        if (n->inputs[k] < 0) continue;
        nq_tensor *b = nq_ptq_private_init(g, n, k, err);
        if (b == NULL) return NQ_ERR_UNSUPPORTED;
        if (b->dtype == t) continue;
        nq_tensor c;
        nq_status s = nq_tensor_alloc(&c, t, b->ndim, b->dims, err);
        if (s != NQ_OK) return s;
        for (int64_t i = 0; i < nq_tensor_numel(b); i++) nq_tensor_set(&c, i, nq_tensor_get(b, i));
        nq_tensor_free(b);
        *b = c;
        nq_value *v = g->values[n->inputs[k]];
        v->dtype = t;
    }
    return NQ_OK;
}

/* A float island reads its integer input through a Quantizer of scale 1
 * into float (the node is placed right before n). */
static nq_status island_input(nq_graph *g, nq_node *n, nq_error *err)
{
    nq_node *q = nq_ptq_insert_quantizer_on(g, n->inputs[0], n, 0, NQ_ROLE_ISLAND, 1.0f, err);
    if (q == NULL) return err ? err->code : NQ_ERR_NOMEM;
    if (nq_node_set_int(q, "round", 0) != NQ_OK || nq_node_set_string(q, "to", "float32") != NQ_OK ||
        nq_node_set_string(q, NQ_ATTR_PRECISION, "float32") != NQ_OK ||
        nq_node_set_string(q, NQ_ATTR_DTYPE, "float32") != NQ_OK)
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    return NQ_OK;
}

nq_status nq_cast_quantized_network(nq_graph *g, int single_shift, nq_error *err)
{
    const int n_dt = g->n_values; /* passes below may add values */
    nq_dtype *dt = calloc((size_t)n_dt + 1, sizeof(nq_dtype));
    if (dt == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int v = 0; v < n_dt; v++) dt[v] = g->values[v]->dtype;
    nq_status s = NQ_OK;
    for (int i = 0; i < g->n_nodes && s == NQ_OK; i++) {
        nq_node *n = g->nodes[i];
        int x = n->n_inputs > 0 ? n->inputs[0] : -1, y = n->n_outputs > 0 ? n->outputs[0] : -1;
        const char *role = nq_ptq_role(n);
        if (role != NULL) {
            const char *name = nq_node_attr_string(n, NQ_ATTR_DTYPE, NULL);
            nq_dtype t = name ? nq_dtype_from_name(name) : NQ_DTYPE_UNDEFINED;
            if (t == NQ_DTYPE_UNDEFINED) {
                s = nq_error_set(err, NQ_ERR_INVALID_ARG,
                                 "quantizer '%s' has no target dtype: run quantize_normalized_network first",
                                 n->name);
                break;
            }
            /* inputs of a joining node are summed or stacked: give them room */
            if (!nq_dtype_is_float(t) && strcmp(role, NQ_ROLE_BIAS) != 0 && feeds_join(g, y)) t = NQ_DTYPE_INT32;
            if (nq_node_set_string(n, "to", nq_dtype_name(t)) != NQ_OK) s = NQ_ERR_NOMEM;
            /* single shift: every rescaling of integers is a pure shift */
            if (s == NQ_OK && single_shift && !nq_dtype_is_float(t) && dt[x] != NQ_DTYPE_UNDEFINED &&
                !nq_dtype_is_float(dt[x]))
                s = nq_ptq_require_single_shift(g, n, err);
            dt[y] = t;
            continue;
        }
        nq_ptq_kind k = nq_ptq_kind_of(n);
        if (nq_ptq_is_float_island(n)) {
            if (!nq_dtype_is_float(dt[x])) {
                s = island_input(g, n, err);
                i++; /* the new Quantizer now sits at i, n at i + 1 */
            }
            dt[y] = NQ_DTYPE_FLOAT32;
        } else if (k == NQ_PTQ_AFFINE || k == NQ_PTQ_SUM) dt[y] = dt[x] == NQ_DTYPE_FLOAT32 ? NQ_DTYPE_FLOAT32 : NQ_DTYPE_INT32;
        else if (k == NQ_PTQ_CLIP) {
            if (!nq_dtype_is_float(dt[x])) s = cast_clip_bounds(g, n, dt[x], err);
            dt[y] = dt[x];
        } else
            for (int o = 0; o < n->n_outputs; o++)
                if (n->outputs[o] >= 0) dt[n->outputs[o]] = dt[x];
    }
    if (s == NQ_OK) s = nq_ptq_cast_compensation(g, dt, n_dt, err); /* single shift's Muls */
    free(dt);
    return s == NQ_OK ? nq_graph_infer_shapes(g, 0, err) : s;
}

nq_status nq_fold_producer_quantizers(nq_graph *g, nq_error *err)
{
    nq_status s = nq_graph_fold_constants(g, err);
    if (s == NQ_OK) s = nq_graph_compact(g, err);
    return s;
}
