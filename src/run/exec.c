/* Running one node outside a plan: used for plan-time folding and constant folding. */
#include <stdlib.h>

#include "run/run_internal.h"

nq_status nq_exec_node(const nq_graph *g, const nq_node *n, const nq_tensor *const *in,
                       nq_tensor *const *out, int run, int num_threads, nq_error *err)
{
    const nq_op_def *def = nq_op_get(n->op);
    if (def == NULL || def->infer == NULL)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s': unsupported operator %s",
                            n->name, n->op_type);
    /* every supported operator's first output is required (kernels write it) */
    if (n->n_outputs < 1 || n->outputs[0] < 0 || out[0] == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "node '%s' (%s): has no (first) output",
                            n->name, n->op_type);
    nq_kctx c = {
        .node = n,
        .opset = nq_graph_opset(g, n->domain),
        .n_in = n->n_inputs,
        .in = in,
        .n_out = n->n_outputs,
        .out = out,
        .num_threads = num_threads > 0 ? num_threads : 1,
        .err = err,
    };
    nq_status s = def->infer(&c);
    if (s != NQ_OK || !run) return s;
    for (int k = 0; k < n->n_outputs; k++) {
        if (out[k] == NULL) continue;
        nq_tensor shape = *out[k];
        s = nq_tensor_alloc(out[k], shape.dtype, shape.ndim, shape.dims, err);
        if (s != NQ_OK) return s;
    }
    size_t bytes = def->scratch ? def->scratch(&c) : 0;
    void *scratch = NULL;
    if (bytes > 0) {
        scratch = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (scratch == NULL)
            return nq_error_set(err, NQ_ERR_NOMEM, "node '%s': cannot allocate %zu bytes of scratch",
                                n->name, bytes);
    }
    c.scratch = scratch;
    c.scratch_size = bytes;
    s = def->forward(&c);
    free(scratch);
    return s;
}
