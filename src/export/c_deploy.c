/* Deployment statistics (nq_deploy_stats_compute): the plan of the C
 * export without writing anything. Flash = const data as exported + an
 * estimate of the code (c_emit.c); RAM = the static arena. */
#include <stdlib.h>
#include <string.h>

#include "export/c_internal.h"

nq_status nq_deploy_stats_compute(const nq_graph *g, nq_deploy_stats *out, nq_error *err)
{
    memset(out, 0, sizeof *out);
    cx_plan p;
    nq_status st = cx_plan_build(g, &p, err);
    if (st == NQ_OK) {
        out->layers = calloc((size_t)p.n_steps + 1, sizeof *out->layers);
        if (out->layers == NULL) st = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; st == NQ_OK && i < p.n_steps; i++) {
        const cx_step *s = &p.steps[i];
        const nq_value *y = p.g->values[s->y];
        nq_deploy_layer *l = &out->layers[out->n_layers++];
        snprintf(l->name, sizeof l->name, "%s", s->node->name ? s->node->name : "");
        snprintf(l->op, sizeof l->op, "%s%s", s->node->op_type, s->fused ? "+Quantizer" : "");
        l->dtype = y->dtype;
        l->ndim = y->ndim;
        memcpy(l->dims, y->dims, sizeof l->dims);
        l->macs = s->macs;
        l->weight_bytes = s->weight_bytes;
        l->alias = s->kind == CX_ALIAS;
    }
    if (st == NQ_OK) {
        out->macs = p.macs;
        out->weight_bytes = p.weight_bytes;
        out->code_bytes = cx_code_estimate(&p);
        out->flash_bytes = out->weight_bytes + out->code_bytes;
        out->arena_bytes = p.arena_bytes;
        out->io_bytes = (size_t)cx_numel(p.g->values[p.in_value]) *
                        nq_dtype_size(p.g->values[p.in_value]->dtype);
        for (int k = 0; k < p.n_out; k++)
            out->io_bytes += (size_t)cx_numel(p.g->values[p.out_value[k]]) *
                             nq_dtype_size(p.g->values[p.out_value[k]]->dtype);
        out->float_free = 1;
    } else {
        nq_deploy_stats_free(out);
    }
    cx_plan_free(&p);
    return st;
}

void nq_deploy_stats_free(nq_deploy_stats *s)
{
    if (s == NULL) return;
    free(s->layers);
    memset(s, 0, sizeof *s);
}
