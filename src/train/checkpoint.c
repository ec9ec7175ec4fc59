/* Checkpoints: the graph as ONNX with the counters in metadata_props
 * (nnquant.train.*), and the optimizer state beside it as PATH.optim.npy
 * (float32 [total]: every parameter's buffers in parameter order, SGD
 * velocity, or Adam m then v). Both files are written atomically. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/onnx.h"
#include "train/train_internal.h"

static const char *opt_name(const nq_train_opts *o)
{
    return o->optimizer == NQ_OPT_ADAM ? "adam" : "sgd";
}

static int64_t state_floats(const nq_trainer *t)
{
    int64_t total = 0;
    for (int p = 0; p < t->n_params; p++) total += nq_tensor_numel(t->v[t->params[p]].t);
    return total * nq_train_state_per_elem(&t->o);
}

static char *state_path(const char *path)
{
    size_t n = strlen(path) + 16;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s.optim.npy", path);
    return s;
}

/* Copies between the optimizer buffers and one flat array (to_flat 1: out). */
static void copy_state(nq_trainer *t, float *flat, int to_flat)
{
    const int per = nq_train_state_per_elem(&t->o);
    int64_t off = 0;
    for (int p = 0; p < t->n_params; p++) {
        const size_t n = (size_t)nq_tensor_numel(t->v[t->params[p]].t);
        float *bufs[2] = {t->opt_a[p], t->opt_b[p]};
        for (int b = 0; b < per; b++, off += (int64_t)n) {
            if (to_flat) memcpy(flat + off, bufs[b], n * sizeof(float));
            else memcpy(bufs[b], flat + off, n * sizeof(float));
        }
    }
}

static nq_status set_meta_i64(nq_graph *g, const char *key, int64_t v, nq_error *err)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return nq_graph_set_meta(g, key, buf, err);
}

nq_status nq_trainer_save_checkpoint(nq_trainer *t, const char *path, nq_error *err)
{
    nq_status s = nq_train_alloc_state(t, err);
    if (s != NQ_OK) return s;
    if ((s = set_meta_i64(t->g, "nnquant.train.step", t->step, err)) ||
        (s = set_meta_i64(t->g, "nnquant.train.epoch", t->epoch, err)) ||
        (s = set_meta_i64(t->g, "nnquant.train.seed", (int64_t)t->o.seed, err)) ||
        (s = set_meta_i64(t->g, "nnquant.train.params", t->n_params, err)) ||
        (s = set_meta_i64(t->g, "nnquant.train.state_floats", state_floats(t), err)) ||
        (s = nq_graph_set_meta(t->g, "nnquant.train.optimizer", opt_name(&t->o), err)))
        return s;
    nq_tensor flat = {0};
    int64_t total = state_floats(t);
    if ((s = nq_tensor_alloc(&flat, NQ_DTYPE_FLOAT32, 1, &total, err))) return s;
    copy_state(t, flat.data, 1);
    char *sp = state_path(path);
    if (sp == NULL) s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    if (s == NQ_OK) s = nq_npy_save(sp, &flat, err);
    if (s == NQ_OK) s = nq_onnx_save(t->g, path, err);
    nq_tensor_free(&flat);
    free(sp);
    return s;
}

static nq_status meta_i64(const nq_graph *g, const char *key, const char *path, int64_t *v,
                          nq_error *err)
{
    const char *s = nq_graph_meta(g, key);
    char *end = NULL;
    if (s != NULL) *v = strtoll(s, &end, 10);
    if (s == NULL || end == s || *end != '\0')
        return nq_error_set(err, NQ_ERR_PARSE, "%s: no valid %s in the model metadata (not a "
                            "nnquant checkpoint?)", path, key);
    return NQ_OK;
}

nq_status nq_trainer_resume(nq_trainer *t, const char *path, nq_error *err)
{
    int64_t step = 0, epoch = 0, np = 0, nf = 0, seed = 0;
    nq_status s;
    if ((s = meta_i64(t->g, "nnquant.train.step", path, &step, err)) ||
        (s = meta_i64(t->g, "nnquant.train.seed", path, &seed, err)) ||
        (s = meta_i64(t->g, "nnquant.train.epoch", path, &epoch, err)) ||
        (s = meta_i64(t->g, "nnquant.train.params", path, &np, err)) ||
        (s = meta_i64(t->g, "nnquant.train.state_floats", path, &nf, err)))
        return s;
    const char *opt = nq_graph_meta(t->g, "nnquant.train.optimizer");
    if (opt == NULL || strcmp(opt, opt_name(&t->o)) != 0 || np != t->n_params ||
        nf != state_floats(t))
        return nq_error_set(err, NQ_ERR_INVALID_ARG,
                            "%s: checkpoint of %s with %lld parameters / %lld state values; this "
                            "trainer has %s with %d / %lld", path, opt ? opt : "?", (long long)np,
                            (long long)nf, opt_name(&t->o), t->n_params,
                            (long long)state_floats(t));
    if ((s = nq_train_alloc_state(t, err))) return s;
    char *sp = state_path(path);
    if (sp == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    nq_tensor flat = {0};
    s = nq_npy_load(sp, &flat, err);
    if (s == NQ_OK && (flat.dtype != NQ_DTYPE_FLOAT32 || nq_tensor_numel(&flat) != nf))
        s = nq_error_set(err, NQ_ERR_PARSE, "%s: expected %lld float32 values", sp, (long long)nf);
    if (s == NQ_OK) {
        copy_state(t, flat.data, 0);
        t->step = step;
        t->epoch = epoch;
        t->o.seed = (uint64_t)seed; /* the shuffles continue as they began */
    }
    nq_tensor_free(&flat);
    free(sp);
    return s;
}
