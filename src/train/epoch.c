/* Epochs: a permutation per epoch drawn from (seed, epoch), batches
 * gathered in that order, one optimizer step each; evaluation. */
#include <stdlib.h>
#include <string.h>

#include "train/train_internal.h"

/* splitmix64: the generator of the shuffles (state passed explicitly). */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Fisher-Yates with an unbiased bounded draw. */
static void permutation(int64_t *perm, int64_t n, uint64_t seed, int64_t epoch)
{
    uint64_t s = seed * 0x2545F4914F6CDD1Dull + (uint64_t)epoch * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        const uint64_t range = (uint64_t)i + 1, limit = UINT64_MAX - UINT64_MAX % range;
        uint64_t r;
        do r = splitmix64(&s);
        while (r >= limit);
        int64_t j = (int64_t)(r % range), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

int64_t nq_train_batches_per_epoch(const nq_trainer *t, int64_t n)
{
    return (n + t->o.batch - 1) / t->o.batch;
}

/* Batch of samples perm[start .. start+count) shaped for the graph input. */
static nq_status gather(nq_trainer *t, const nq_dataset *d, int64_t start, int64_t count,
                        nq_error *err)
{
    const nq_value *iv = t->g->values[t->g->inputs[0]];
    const int64_t sample = d->n ? nq_tensor_numel(&d->samples) / d->n : 0;
    int64_t dims[NQ_MAX_DIMS];
    int ndim;
    if (iv->ndim >= 1) {
        ndim = iv->ndim;
        int64_t per = 1;
        for (int i = 1; i < ndim; i++) {
            dims[i] = iv->dims[i] >= 0 ? iv->dims[i] : (i < d->samples.ndim ? d->samples.dims[i] : 1);
            per *= dims[i];
        }
        if (per != sample)
            return nq_error_set(err, NQ_ERR_SHAPE,
                                "dataset samples have %lld values; input '%s' takes %lld",
                                (long long)sample, iv->name, (long long)per);
    } else {
        ndim = d->samples.ndim;
        memcpy(dims, d->samples.dims, sizeof(int64_t) * (size_t)ndim);
    }
    dims[0] = count;
    nq_tensor *x = &t->xbatch;
    if (x->data == NULL || x->ndim != ndim || x->dims[0] != count ||
        memcmp(x->dims, dims, sizeof(int64_t) * (size_t)ndim) != 0) {
        nq_tensor_free(x);
        nq_status s = nq_tensor_alloc(x, NQ_DTYPE_FLOAT32, ndim, dims, err);
        if (s != NQ_OK) return s;
        free(t->lbatch);
        t->lbatch = malloc(sizeof(int64_t) * (size_t)(count + 1));
        if (t->lbatch == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    const float *src = d->samples.data;
    float *dst = x->data;
    for (int64_t i = 0; i < count; i++) {
        const int64_t k = t->perm[start + i];
        memcpy(dst + i * sample, src + k * sample, (size_t)sample * sizeof(float));
        t->lbatch[i] = d->labels[k];
    }
    return NQ_OK;
}

nq_status nq_train_epoch(nq_trainer *t, const nq_dataset *d, nq_train_progress_fn progress,
                         void *user, nq_train_stats *r, nq_error *err)
{
    if (d->labels == NULL) return nq_error_set(err, NQ_ERR_INVALID_ARG, "training needs labels");
    if (d->samples.dtype != NQ_DTYPE_FLOAT32 || d->n < 1)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "training needs float32 samples");
    if (t->perm_n != d->n) {
        free(t->perm);
        t->perm = malloc(sizeof(int64_t) * (size_t)d->n);
        t->perm_n = t->perm ? d->n : 0;
        if (t->perm == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    if (t->o.shuffle) permutation(t->perm, d->n, t->o.seed, t->epoch);
    else
        for (int64_t i = 0; i < d->n; i++) t->perm[i] = i;
    const int64_t nb = nq_train_batches_per_epoch(t, d->n);
    double loss_sum = 0.0;
    nq_train_stats run = {0};
    for (int64_t b = 0; b < nb; b++) {
        const int64_t start = b * t->o.batch;
        const int64_t count = d->n - start < t->o.batch ? d->n - start : t->o.batch;
        nq_status s = gather(t, d, start, count, err);
        nq_train_stats bs;
        if (s == NQ_OK) s = nq_trainer_step(t, &t->xbatch, t->lbatch, &bs, err);
        if (s != NQ_OK) return nq_error_prefix(err, "epoch %lld, batch %lld", (long long)t->epoch,
                                               (long long)b);
        loss_sum += bs.loss * (double)bs.samples;
        run.samples += bs.samples;
        run.correct += bs.correct;
        run.loss = loss_sum / (double)run.samples;
        if (progress && progress(user, b, nb, &run) != 0) {
            if (r) *r = run;
            return nq_error_set(err, NQ_ERR_DATA, "training stopped at batch %lld of epoch %lld",
                                (long long)b, (long long)t->epoch);
        }
    }
    t->epoch++;
    if (r) *r = run;
    return NQ_OK;
}

nq_status nq_trainer_evaluate(nq_trainer *t, const nq_dataset *d, int64_t batch,
                              nq_eval_result *r, nq_error *err)
{
    nq_session_opts so = {t->threads};
    nq_session *s = NULL;
    nq_status st = nq_session_create(t->g, &so, &s, err);
    if (st == NQ_OK) st = nq_evaluate(s, t->g, d, batch, NULL, NULL, r, err);
    nq_session_free(s);
    return st;
}
