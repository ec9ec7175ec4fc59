/* The trainer: options, creation, parameters, which values need a
 * gradient, freezing. The per-batch passes: pass.c. */
#include <stdlib.h>
#include <string.h>

#include "train/train_internal.h"

void nq_train_opts_default(nq_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->optimizer = NQ_OPT_SGD;
    o->lr = 0.01f;
    o->momentum = 0.9f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->adam_eps = 1e-8f;
    o->schedule = NQ_LR_CONSTANT;
    o->step_size = 1;
    o->gamma = 0.1f;
    o->total_steps = 1;
    o->batch = 64;
    o->seed = 1;
    o->shuffle = 1;
}

nq_status nq_train_grad_flags(nq_trainer *t, nq_error *err)
{
    for (int v = 0; v < t->n_values; v++) {
        tvalue *tv = &t->v[v];
        tv->needs_grad = tv->kind == TV_INIT && tv->trainable && !tv->frozen;
    }
    for (int i = 0; i < t->n_nodes; i++) {
        tnode *tn = &t->nodes[i];
        const nq_node *n = tn->n;
        tn->backward = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v < 0 || !t->v[v].needs_grad) continue;
            if (tn->gdef == NULL) {
                if (tn->def->shape_only) continue;
                return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                                    "node '%s' (%s): no backward for this operator, and a "
                                    "gradient must flow to its input '%s'",
                                    n->name, n->op_type, t->g->values[v]->name);
            }
            if (tn->gdef->no_grad & (1u << k)) continue;
            tn->backward = 1;
        }
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0 && t->v[n->outputs[k]].kind == TV_ACT)
                t->v[n->outputs[k]].needs_grad = tn->backward;
    }
    return NQ_OK;
}

/* Parameters: float32 initializers read through a learnable input of a
 * node that has a backward. */
static nq_status find_params(nq_trainer *t, nq_error *err)
{
    for (int i = 0; i < t->n_nodes; i++) {
        const tnode *tn = &t->nodes[i];
        if (tn->gdef == NULL) continue;
        for (int k = 0; k < tn->n->n_inputs; k++) {
            int v = tn->n->inputs[k];
            if (v < 0 || t->v[v].kind != TV_INIT || (tn->gdef->no_grad & (1u << k))) continue;
            if (t->v[v].t->dtype == NQ_DTYPE_FLOAT32) t->v[v].trainable = 1;
        }
    }
    t->n_params = 0;
    for (int v = 0; v < t->n_values; v++) t->n_params += t->v[v].trainable;
    t->params = calloc((size_t)t->n_params + 1, sizeof(int));
    if (t->params == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int v = 0, p = 0; v < t->n_values; v++)
        if (t->v[v].trainable) t->params[p++] = v;
    return NQ_OK;
}

static nq_status check_model(const nq_graph *g, nq_error *err)
{
    if (g->n_inputs != 1 || g->n_outputs != 1)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "training needs a model with one input and one output (this one has "
                            "%d and %d)", g->n_inputs, g->n_outputs);
    const nq_value *in = g->values[g->inputs[0]];
    if (in->dtype != NQ_DTYPE_FLOAT32 && in->dtype != NQ_DTYPE_UNDEFINED)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "input '%s' is %s; training needs float32",
                            in->name, nq_dtype_name(in->dtype));
    return NQ_OK;
}

nq_status nq_trainer_create(nq_graph *g, const nq_train_opts *o, nq_trainer **out, nq_error *err)
{
    *out = NULL;
    nq_status s;
    if ((s = check_model(g, err)) || (s = nq_ops_resolve(g, err)) ||
        (s = nq_graph_toposort(g, err)))
        return s;
    if (o->batch < 1 || !(o->lr >= 0))
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "batch must be >= 1 and lr >= 0");
    nq_trainer *t = calloc(1, sizeof *t);
    if (t == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    t->g = g;
    t->o = *o;
    t->threads = o->num_threads > 0 ? o->num_threads : nq_default_num_threads();
    t->n_values = g->n_values;
    t->n_nodes = g->n_nodes;
    t->v = calloc((size_t)g->n_values + 1, sizeof(tvalue));
    t->nodes = calloc((size_t)g->n_nodes + 1, sizeof(tnode));
    if (t->v == NULL || t->nodes == NULL) {
        nq_trainer_free(t);
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    for (int v = 0; v < g->n_values; v++) {
        tvalue *tv = &t->v[v];
        if (g->values[v]->init) {
            tv->kind = TV_INIT;
            tv->t = g->values[v]->init;
        } else {
            tv->t = &tv->own;
        }
    }
    t->v[g->inputs[0]].kind = TV_INPUT;
    for (int i = 0; i < g->n_nodes; i++) {
        tnode *tn = &t->nodes[i];
        const nq_node *n = g->nodes[i];
        tn->n = n;
        tn->def = nq_op_get(n->op);
        tn->gdef = nq_grad_get(n->op);
        tn->in = calloc((size_t)n->n_inputs + 1, sizeof(nq_tensor *));
        tn->din = calloc((size_t)n->n_inputs + 1, sizeof(nq_tensor *));
        tn->out = calloc((size_t)n->n_outputs + 1, sizeof(nq_tensor *));
        tn->dout = calloc((size_t)n->n_outputs + 1, sizeof(nq_tensor *));
        if (!tn->in || !tn->din || !tn->out || !tn->dout) {
            nq_trainer_free(t);
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        }
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0) t->v[n->outputs[k]].kind = TV_ACT;
    }
    if ((s = find_params(t, err)) || (s = nq_train_grad_flags(t, err))) {
        nq_trainer_free(t);
        return s;
    }
    *out = t;
    return NQ_OK;
}

void nq_trainer_free(nq_trainer *t)
{
    if (t == NULL) return;
    for (int i = 0; i < t->n_nodes; i++) {
        tnode *tn = &t->nodes[i];
        if (tn->state) {
            if (tn->gdef && tn->gdef->state_free) tn->gdef->state_free(tn->state);
            else free(tn->state);
        }
        free(tn->in);
        free(tn->out);
        free(tn->din);
        free(tn->dout);
    }
    for (int v = 0; v < t->n_values; v++) {
        if (t->v[v].kind == TV_ACT) nq_tensor_free(&t->v[v].own);
        nq_tensor_free(&t->v[v].grad);
    }
    for (int p = 0; p < t->n_params && t->opt_a; p++) {
        free(t->opt_a[p]);
        free(t->opt_b[p]);
    }
    free(t->opt_a);
    free(t->opt_b);
    free(t->params);
    free(t->v);
    free(t->nodes);
    free(t->scratch);
    free(t->dlogits);
    free(t->perm);
    nq_tensor_free(&t->xbatch);
    free(t->lbatch);
    free(t);
}

nq_status nq_trainer_freeze(nq_trainer *t, const char *name, nq_error *err)
{
    int v = nq_graph_find_value(t->g, name);
    if (v < 0 || !t->v[v].trainable)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "'%s' is not a trainable parameter", name);
    t->v[v].frozen = 1;
    t->planned = 0;
    return nq_train_grad_flags(t, err);
}

int nq_trainer_num_params(const nq_trainer *t) { return t->n_params; }
const char *nq_trainer_param_name(const nq_trainer *t, int i)
{
    return i >= 0 && i < t->n_params ? t->g->values[t->params[i]]->name : NULL;
}
const nq_tensor *nq_trainer_param_grad(const nq_trainer *t, int i)
{
    if (i < 0 || i >= t->n_params) return NULL;
    const tvalue *tv = &t->v[t->params[i]];
    return tv->needs_grad && tv->grad.data ? &tv->grad : NULL;
}
int64_t nq_trainer_step_count(const nq_trainer *t) { return t->step; }
int64_t nq_trainer_epoch_count(const nq_trainer *t) { return t->epoch; }
