/* bias_correction: empirical bias correction (Nagel et al. 2019, sec. 4.2). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/run.h"
#include "ptq/ptq_internal.h"
#include "run/run_internal.h"

/* Per-channel (axis 1) means of some values over the calibration set. */
typedef struct chan_mean {
    int64_t channels;
    double *sum;     /* sums, then means */
    int64_t count;   /* elements per channel seen */
} chan_mean;
typedef struct mean_set {
    int n_values;
    int *slot;       /* value id -> index in m, or -1 */
    chan_mean *m;
    int stop_after;  /* value id after which a run may stop (-1: run it all) */
    int stopped;
    nq_status status;
    nq_error *err;
} mean_set;

/* Adds the per-channel sums of t to m; 0 if t has m's channels on axis 1. */
static int add_sums(chan_mean *m, const nq_tensor *t)
{
    if (t->dtype != NQ_DTYPE_FLOAT32 || t->ndim < 2 || t->dims[1] != m->channels) return 0;
    int64_t inner = 1, outer = t->dims[0];
    for (int d = 2; d < t->ndim; d++) inner *= t->dims[d];
    const float *x = t->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < m->channels; c++) {
            const float *p = x + (o * m->channels + c) * inner;
            double s = 0;
            for (int64_t i = 0; i < inner; i++) s += p[i];
            m->sum[c] += s;
        }
    m->count += outer * inner;
    return 1;
}

static nq_status bad_output(nq_error *err, const nq_node *node, int64_t channels)
{
    return nq_error_set(err, NQ_ERR_DATA, "bias_correction: the output of '%s' is not float32 with %lld channels on axis 1",
                        node->name, (long long)channels);
}

static int observe_mean(void *user, const nq_graph *g, const nq_node *node, int v, const nq_tensor *t)
{
    (void)g;
    mean_set *set = user;
    if (v < 0 || v >= set->n_values || set->slot[v] < 0) return 0;
    chan_mean *m = &set->m[set->slot[v]];
    if (!add_sums(m, t)) {
        set->status = bad_output(set->err, node, m->channels);
        return 1;
    }
    set->stopped = v == set->stop_after;
    return set->stopped; /* the rest of the graph is not needed */
}

/* Runs the calibration set through g and turns the sums of `set` into means. */
static nq_status channel_means(const nq_graph *g, const nq_dataset *calib, const nq_ptq_options *o, mean_set *set,
                               nq_error *err)
{
    set->status = NQ_OK;
    set->err = err;
    nq_ptq_watch w = {observe_mean, set, &set->status, &set->stopped};
    nq_status r = nq_ptq_calibrate(g, calib, o, &w, NULL, err);
    for (int v = 0; r == NQ_OK && v < set->n_values; v++) {
        chan_mean *m = set->slot[v] >= 0 ? &set->m[set->slot[v]] : NULL;
        for (int64_t c = 0; m != NULL && m->count > 0 && c < m->channels; c++) m->sum[c] /= (double)m->count;
    }
    return r;
}

static double scale_at(const nq_tensor *s, int64_t c)
{
    return nq_tensor_get(s, nq_tensor_numel(s) > 1 ? c : 0);
}

/* An affine node of g to correct, and its counterpart (same name) in ref. */
typedef struct candidate {
    nq_node *n;
    const nq_node *rn;
    const nq_tensor *sq, *sr; /* bias Quantizer scales in g and ref */
    int64_t channels;
} candidate;

static nq_status eligible(nq_graph *g, const nq_graph *ref, nq_node *n, candidate *c, nq_error *err)
{
    memset(c, 0, sizeof *c);
    nq_node *wq = nq_ptq_param_quantizer(g, n, 1), *bq = nq_ptq_param_quantizer(g, n, 2);
    const nq_node *rn = nq_graph_find_node(ref, n->name);
    if (wq == NULL || bq == NULL || rn == NULL || nq_ptq_is_float_island(n)) return NQ_OK;
    if (!nq_node_attr_int(wq, "round", 1) || !nq_node_attr_int(bq, "round", 1)) return NQ_OK;
    const nq_node *rbq = nq_ptq_param_quantizer(ref, rn, 2);
    if (rbq == NULL || rn->n_outputs < 1 || rn->outputs[0] < 0) return NQ_OK;
    nq_affine_params p;
    nq_status s = nq_ptq_affine_params(g, n, &p, err);
    if (s != NQ_OK || p.b == NULL) return s;
    *c = (candidate){n, rn, nq_ptq_scale(g, bq), nq_ptq_scale(ref, rbq), p.channels};
    if (c->sq == NULL || c->sr == NULL) c->n = NULL;
    return NQ_OK;
}

/* Moves the float bias of candidate c by the measured shift of its
 * channel means (mq: E[y_q] in g, mr: E[y] in ref). */
static nq_status move_bias(nq_graph *g, const candidate *c, const chan_mean *mq, const chan_mean *mr, nq_error *err)
{
    nq_tensor *b = nq_ptq_param(g, c->n, 2, err);
    if (b == NULL) return err && err->code != NQ_OK ? err->code : NQ_ERR_NOMEM;
    for (int64_t k = 0; k < c->channels; k++) {
        double sb = scale_at(c->sq, k), unit = sb / scale_at(c->sr, k); /* ref units -> accumulator units */
        if (!(sb > 0) || !isfinite(unit)) continue;
        double shift = mq->sum[k] - unit * mr->sum[k]; /* E[y_q] - E[y], accumulator units */
        nq_tensor_set(b, k, nq_tensor_get(b, k) - shift / sb);
    }
    return NQ_OK;
}

/* Per layer: measures E[y_q] of candidate c in a pass of g stopped at its
 * output, then moves its bias. */
static nq_status correct_node(nq_graph *g, const candidate *c, const chan_mean *mr, const nq_dataset *calib,
                              const nq_ptq_options *o, nq_error *err)
{
    int v = c->n->outputs[0];
    chan_mean mq = {c->channels, calloc((size_t)c->channels, sizeof(double)), 0};
    mean_set set = {g->n_values, malloc(sizeof(int) * ((size_t)g->n_values + 1)), &mq, v, 0, NQ_OK, NULL};
    nq_status s = mq.sum == NULL || set.slot == NULL ? nq_error_set(err, NQ_ERR_NOMEM, "out of memory") : NQ_OK;
    if (s == NQ_OK) {
        for (int i = 0; i < g->n_values; i++) set.slot[i] = i == v ? 0 : -1;
        s = channel_means(g, calib, o, &set, err);
    }
    if (s == NQ_OK) s = move_bias(g, c, &mq, mr, err);
    free(set.slot);
    free(mq.sum);
    return s;
}

/* The bias as its Quantizer q gives it to the layer (a new tensor). */
static nq_status quantized_bias(const nq_graph *g, const nq_node *q, nq_tensor *out, nq_error *err)
{
    const nq_tensor *in[8] = {0};
    if (q->n_inputs > 8) return nq_error_set(err, NQ_ERR_UNSUPPORTED, "bias_correction: quantizer '%s'", q->name);
    for (int k = 0; k < q->n_inputs; k++) {
        in[k] = q->inputs[k] >= 0 ? g->values[q->inputs[k]]->init : NULL;
        if (q->inputs[k] >= 0 && in[k] == NULL)
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "bias_correction: quantizer '%s' has a non-constant input",
                                q->name);
    }
    nq_tensor *outs[1] = {out};
    return nq_exec_node(g, q, in, outs, 1, 1, err);
}

/* One pass over the whole set as a single batch: at each candidate's
 * output (in execution order) the observer measures E[y_q], moves the bias
 * and adds the change of the quantized bias to that output in place, so
 * that the layers after it run on the corrected layer, as a new pass
 * would (up to float rounding where the accumulator is not exact). */
typedef struct one_pass {
    nq_graph *g;
    const candidate *cand;
    const chan_mean *mr;
    int *slot; /* g's value id -> candidate index, or -1 */
    chan_mean *mq;
    const nq_ptq_options *o;
    int done, total;
    nq_status status;
    nq_error *err;
} one_pass;

static nq_status correct_in_pass(one_pass *p, const candidate *c, const chan_mean *mr, const nq_tensor *t)
{
    *p->mq = (chan_mean){c->channels, p->mq->sum, 0};
    memset(p->mq->sum, 0, sizeof(double) * (size_t)c->channels);
    if (!add_sums(p->mq, t)) return bad_output(p->err, c->n, c->channels);
    for (int64_t k = 0; p->mq->count > 0 && k < c->channels; k++) p->mq->sum[k] /= (double)p->mq->count;
    const nq_node *bq = nq_ptq_param_quantizer(p->g, c->n, 2);
    nq_tensor before = {0}, after = {0};
    nq_status s = quantized_bias(p->g, bq, &before, p->err);
    if (s == NQ_OK) s = move_bias(p->g, c, p->mq, mr, p->err);
    if (s == NQ_OK) s = quantized_bias(p->g, bq, &after, p->err);
    if (s == NQ_OK && (nq_tensor_numel(&after) != c->channels || after.dtype != NQ_DTYPE_FLOAT32))
        s = nq_error_set(p->err, NQ_ERR_UNSUPPORTED, "bias_correction: '%s' is not a float bias of %lld channels",
                         bq->name, (long long)c->channels);
    int64_t inner = 1;
    for (int d = 2; d < t->ndim; d++) inner *= t->dims[d];
    float *y = t->data; /* observers may change values in place (nnquant/run.h) */
    const float *b0 = before.data, *b1 = after.data;
    for (int64_t i = 0; s == NQ_OK && i < t->dims[0]; i++)
        for (int64_t k = 0; k < c->channels; k++) {
            float d = b1[k] - b0[k];
            float *row = y + (i * c->channels + k) * inner;
            for (int64_t j = 0; d != 0.0f && j < inner; j++) row[j] += d;
        }
    nq_tensor_free(&before);
    nq_tensor_free(&after);
    return s;
}

static int observe_correct(void *user, const nq_graph *g, const nq_node *node, int v, const nq_tensor *t)
{
    (void)g;
    (void)node;
    one_pass *p = user;
    if (v < 0 || p->slot[v] < 0) return 0;
    int i = p->slot[v];
    p->status = correct_in_pass(p, &p->cand[i], &p->mr[i], t);
    if (p->status != NQ_OK) return 1;
    p->done++;
    if (p->o && p->o->progress) p->o->progress(p->o->user, "bias correction", p->done, p->total);
    return 0;
}

static nq_status correct_one_pass(nq_graph *g, const candidate *cand, const chan_mean *mr, int nc,
                                  int64_t max_channels, const nq_dataset *calib, const nq_ptq_options *o,
                                  int *done, nq_error *err)
{
    one_pass p = {g, cand, mr, calloc((size_t)g->n_values + 1, sizeof(int)), NULL, o, 0, nc, NQ_OK, err};
    chan_mean mq = {max_channels, calloc((size_t)max_channels + 1, sizeof(double)), 0};
    p.mq = &mq;
    nq_status s = p.slot && mq.sum ? NQ_OK : nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int v = 0; s == NQ_OK && v < g->n_values; v++) p.slot[v] = -1;
    for (int i = 0; s == NQ_OK && i < nc; i++) p.slot[cand[i].n->outputs[0]] = i;
    nq_ptq_options whole = o ? *o : (nq_ptq_options){0};
    whole.batch = calib->n;
    whole.progress = NULL;
    nq_ptq_watch w = {observe_correct, &p, &p.status, NULL};
    if (s == NQ_OK) s = nq_ptq_calibrate(g, calib, &whole, &w, NULL, err);
    *done = p.done;
    free(mq.sum);
    free(p.slot);
    return s;
}

/* Activation memory (bytes) of a pass of g with the whole set as one batch,
 * from a one-sample run. */
static nq_status whole_batch_bytes(const nq_graph *g, const nq_dataset *calib, const nq_ptq_options *o,
                                   double *bytes, nq_error *err)
{
    nq_session_opts so = {.num_threads = o ? o->num_threads : 0};
    nq_session *s = NULL;
    const nq_value *in = g->values[g->inputs[0]];
    nq_tensor x = {0}, *outs = calloc((size_t)g->n_outputs + 1, sizeof(nq_tensor));
    nq_status r = outs ? nq_session_create(g, &so, &s, err) : nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    if (r == NQ_OK) r = nq_dataset_batch(calib, 0, 1, in->ndim, in->dims, &x, err);
    if (r == NQ_OK) r = nq_session_run(s, &x, 1, outs, g->n_outputs, err);
    if (r == NQ_OK) *bytes = (double)nq_session_arena_bytes(s) * (double)calib->n;
    for (int k = 0; outs && k < g->n_outputs; k++) nq_tensor_free(&outs[k]);
    free(outs);
    nq_tensor_free(&x);
    nq_session_free(s);
    return r;
}

nq_status nq_ptq_bias_correction_within(nq_graph *g, const nq_graph *ref, const nq_dataset *calib,
                                        const nq_ptq_options *o, double max_bytes, int *corrected, nq_error *err)
{
    if (corrected) *corrected = 0;
    if (calib == NULL || calib->n < 1)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "bias_correction: the calibration set is empty");
    nq_dataset first = *calib; /* the first o->bias_correction_samples (0 or no options: all) */
    if (o && o->bias_correction_samples > 0 && first.n > o->bias_correction_samples)
        first.n = o->bias_correction_samples;
    calib = &first;
    nq_status s = nq_graph_toposort(g, err);
    if (s != NQ_OK) return s;
    candidate *cand = calloc((size_t)g->n_nodes + 1, sizeof *cand);
    chan_mean *mr = calloc((size_t)g->n_nodes + 1, sizeof *mr);
    mean_set set = {ref->n_values, calloc((size_t)ref->n_values + 1, sizeof(int)), mr, -1, 0, NQ_OK, NULL};
    if (cand == NULL || mr == NULL || set.slot == NULL) s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    int nc = 0;
    for (int v = 0; s == NQ_OK && v < ref->n_values; v++) set.slot[v] = -1;
    for (int i = 0; s == NQ_OK && i < g->n_nodes; i++) {
        if (nq_ptq_kind_of(g->nodes[i]) != NQ_PTQ_AFFINE) continue;
        s = eligible(g, ref, g->nodes[i], &cand[nc], err);
        if (s != NQ_OK || cand[nc].n == NULL || set.slot[cand[nc].rn->outputs[0]] >= 0) continue;
        mr[nc] = (chan_mean){cand[nc].channels, calloc((size_t)cand[nc].channels, sizeof(double)), 0};
        if (mr[nc].sum == NULL) s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        set.slot[cand[nc].rn->outputs[0]] = nc;
        nc++;
    }
    /* E[y] of every layer in one pass of ref, then each layer of g in order */
    if (s == NQ_OK && nc > 0) s = channel_means(ref, calib, o, &set, err);
    int done = 0;
    int64_t max_channels = 0;
    for (int i = 0; i < nc; i++)
        if (cand[i].channels > max_channels) max_channels = cand[i].channels;
    double bytes = 0;
    if (s == NQ_OK && nc > 0 && g->n_inputs == 1) s = whole_batch_bytes(g, calib, o, &bytes, err);
    if (s == NQ_OK && nc > 0 && g->n_inputs == 1 && bytes <= max_bytes)
        s = correct_one_pass(g, cand, mr, nc, max_channels, calib, o, &done, err);
    else /* too large for one batch: a pass per layer, in batches */
        for (int i = 0; s == NQ_OK && i < nc; i++, done++) s = correct_node(g, &cand[i], &mr[i], calib, o, err);
    for (int i = 0; i < nc; i++) free(mr[i].sum);
    free(set.slot);
    free(mr);
    free(cand);
    if (corrected) *corrected = done;
    return s;
}

nq_status nq_bias_correction(nq_graph *g, const nq_graph *ref, const nq_dataset *calib, const nq_ptq_options *o,
                             int *corrected, nq_error *err)
{
    return nq_ptq_bias_correction_within(g, ref, calib, o, NQ_BIAS_CORRECTION_BATCH_BYTES, corrected, err);
}
