/* Optimizers (SGD with momentum and weight decay, Adam) and the learning-
 * rate schedule; formulas in include/nnquant/train.h and docs/training.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_internal.h"

#define NQ_PI 3.14159265358979323846

double nq_train_lr(const nq_train_opts *o, int64_t step)
{
    switch (o->schedule) {
    case NQ_LR_STEP: {
        int64_t k = o->step_size > 0 ? step / o->step_size : 0;
        return o->lr * pow(o->gamma, (double)k);
    }
    case NQ_LR_COSINE: {
        const double T = o->total_steps > 0 ? (double)o->total_steps : 1.0;
        const double s = step < o->total_steps ? (double)step : T;
        return o->lr_min + (o->lr - o->lr_min) * 0.5 * (1.0 + cos(NQ_PI * s / T));
    }
    default: return o->lr;
    }
}

int nq_train_state_per_elem(const nq_train_opts *o)
{
    if (o->optimizer == NQ_OPT_ADAM) return 2;
    return o->momentum != 0.0f ? 1 : 0;
}

nq_status nq_train_alloc_state(nq_trainer *t, nq_error *err)
{
    if (t->opt_a != NULL) return NQ_OK;
    const int per = nq_train_state_per_elem(&t->o);
    t->opt_a = calloc((size_t)t->n_params + 1, sizeof(float *));
    t->opt_b = calloc((size_t)t->n_params + 1, sizeof(float *));
    if (!t->opt_a || !t->opt_b) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int p = 0; p < t->n_params; p++) {
        const size_t n = (size_t)nq_tensor_numel(t->v[t->params[p]].t);
        if (per >= 1 && (t->opt_a[p] = calloc(n + 1, sizeof(float))) == NULL)
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        if (per >= 2 && (t->opt_b[p] = calloc(n + 1, sizeof(float))) == NULL)
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    return NQ_OK;
}

static void sgd(const nq_train_opts *o, float lr, int first, float *w, const float *g, float *vel,
                int64_t n)
{
    const float wd = o->weight_decay, mu = o->momentum;
    if (vel == NULL) {
        for (int64_t i = 0; i < n; i++) w[i] -= lr * (g[i] + wd * w[i]);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        const float d = g[i] + wd * w[i];
        const float v = first ? d : mu * vel[i] + d;
        vel[i] = v;
        w[i] -= lr * v;
    }
}

static void adam(const nq_train_opts *o, float lr, int64_t t1, float *w, const float *g, float *m,
                 float *v, int64_t n)
{
    const float b1 = o->beta1, b2 = o->beta2, wd = o->weight_decay, eps = o->adam_eps;
    const float bc1 = (float)(1.0 - pow(b1, (double)t1));
    const float bc2s = (float)sqrt(1.0 - pow(b2, (double)t1));
    const float step = lr / bc1;
    for (int64_t i = 0; i < n; i++) {
        const float d = g[i] + wd * w[i];
        m[i] = b1 * m[i] + (1.0f - b1) * d;
        v[i] = b2 * v[i] + (1.0f - b2) * d * d;
        w[i] -= step * m[i] / (sqrtf(v[i]) / bc2s + eps);
    }
}

nq_status nq_train_optimize(nq_trainer *t, nq_error *err)
{
    nq_status s = nq_train_alloc_state(t, err);
    if (s != NQ_OK) return s;
    const float lr = (float)nq_train_lr(&t->o, t->step);
    for (int p = 0; p < t->n_params; p++) {
        tvalue *tv = &t->v[t->params[p]];
        if (!tv->needs_grad || tv->grad.data == NULL) continue;
        float *w = tv->t->data;
        const float *g = tv->grad.data;
        const int64_t n = nq_tensor_numel(tv->t);
        if (t->o.optimizer == NQ_OPT_ADAM)
            adam(&t->o, lr, t->step + 1, w, g, t->opt_a[p], t->opt_b[p], n);
        else
            sgd(&t->o, lr, t->step == 0, w, g, t->opt_a[p], n);
    }
    return NQ_OK;
}
