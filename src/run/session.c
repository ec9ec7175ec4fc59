/* Sessions: a graph, a plan for the current input shapes, observers. */
#include <stdlib.h>
#include <string.h>

#include "run/run_internal.h"

#define NQ_MAX_OBSERVERS 8

struct nq_session {
    const nq_graph *g;
    int num_threads;
    nq_plan *plan;
    int n_obs;
    nq_observer_fn obs[NQ_MAX_OBSERVERS];
    void *obs_user[NQ_MAX_OBSERVERS];
};

nq_status nq_session_create(const nq_graph *g, const nq_session_opts *opts,
                            nq_session **out, nq_error *err)
{
    *out = NULL;
    /* node->op is a cache of the op table index: filling it does not change the graph */
    nq_status s = nq_ops_resolve((nq_graph *)g, err);
    if (s != NQ_OK) return s;
    nq_session *ss = calloc(1, sizeof *ss);
    if (ss == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    ss->g = g;
    ss->num_threads = opts && opts->num_threads > 0 ? opts->num_threads : nq_default_num_threads();
    *out = ss;
    return NQ_OK;
}

void nq_session_free(nq_session *s)
{
    if (s == NULL) return;
    nq_plan_free(s->plan);
    free(s);
}

nq_status nq_session_add_observer(nq_session *s, nq_observer_fn fn, void *user, nq_error *err)
{
    if (s->n_obs >= NQ_MAX_OBSERVERS)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "at most %d observers", NQ_MAX_OBSERVERS);
    s->obs[s->n_obs] = fn;
    s->obs_user[s->n_obs++] = user;
    return NQ_OK;
}

void nq_session_clear_observers(nq_session *s) { s->n_obs = 0; }

size_t nq_session_arena_bytes(const nq_session *s) { return s->plan ? s->plan->arena_bytes : 0; }
int nq_session_num_threads(const nq_session *s) { return s->num_threads; }

static nq_status notify(nq_session *s, const nq_node *n, nq_error *err)
{
    for (int k = 0; k < n->n_outputs; k++) {
        int v = n->outputs[k];
        if (v < 0) continue;
        for (int o = 0; o < s->n_obs; o++)
            if (s->obs[o](s->obs_user[o], s->g, n, v, &s->plan->slots[v].t) != 0)
                return nq_error_set(err, NQ_ERR_DATA, "run stopped by an observer at node '%s' (%s)",
                                    n->name, n->op_type);
    }
    return NQ_OK;
}

nq_status nq_session_run(nq_session *s, const nq_tensor *inputs, int n_inputs,
                         nq_tensor *outputs, int n_outputs, nq_error *err)
{
    const nq_graph *g = s->g;
    if (n_outputs != g->n_outputs)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "the model has %d output%s, %d requested",
                            g->n_outputs, g->n_outputs == 1 ? "" : "s", n_outputs);
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i].data == NULL && nq_tensor_numel(&inputs[i]) > 0)
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "input %d has no data", i);
    /* observers see every node's output: no fusion while there are any */
    const int fuse = s->n_obs == 0;
    if (!nq_plan_matches(s->plan, inputs, n_inputs) || s->plan->fuse != fuse) {
        nq_plan_free(s->plan);
        s->plan = NULL;
        nq_status st = nq_plan_build(g, inputs, n_inputs, s->num_threads, 1, fuse, &s->plan, err);
        if (st != NQ_OK) return st;
    }
    nq_plan *p = s->plan;
    for (int i = 0; i < n_inputs; i++)
        if (p->slots[g->inputs[i]].kind == NQ_SLOT_INPUT)
            p->slots[g->inputs[i]].t.data = inputs[i].data;
    for (int i = 0; i < p->n_steps; i++) {
        nq_step *st = &p->steps[i];
        const nq_node *n = st->node;
        nq_kctx c = {
            .node = n,
            .opset = nq_graph_opset(g, n->domain),
            .n_in = n->n_inputs,
            .in = st->in,
            .n_out = n->n_outputs,
            .out = st->out,
            .scratch = p->scratch,
            .scratch_size = st->scratch,
            .num_threads = s->num_threads,
            .err = err,
            .epi = st->epi,
            .n_epi = st->n_epi,
        };
        nq_status r = st->def->forward(&c);
        if (r != NQ_OK) return r;
        if (s->n_obs > 0 && (r = notify(s, n, err)) != NQ_OK) return r;
    }
    for (int i = 0; i < n_outputs; i++) {
        nq_status r = nq_tensor_copy(&outputs[i], &p->slots[g->outputs[i]].t, err);
        if (r != NQ_OK) {
            for (int k = 0; k < i; k++) nq_tensor_free(&outputs[k]);
            return r;
        }
    }
    for (int i = 0; i < n_inputs; i++)
        if (p->slots[g->inputs[i]].kind == NQ_SLOT_INPUT) p->slots[g->inputs[i]].t.data = NULL;
    return NQ_OK;
}
