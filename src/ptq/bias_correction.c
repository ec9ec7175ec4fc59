/* bias_correction: empirical bias correction (Nagel et al. 2019, sec. 4.2). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/run.h"
#include "ptq/ptq_internal.h"

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

static int observe_mean(void *user, const nq_graph *g, const nq_node *node, int v, const nq_tensor *t)
{
    (void)g;
    mean_set *set = user;
    if (v < 0 || v >= set->n_values || set->slot[v] < 0) return 0;
    chan_mean *m = &set->m[set->slot[v]];
    if (t->dtype != NQ_DTYPE_FLOAT32 || t->ndim < 2 || t->dims[1] != m->channels) {
        set->status = nq_error_set(set->err, NQ_ERR_DATA,
                                   "bias_correction: the output of '%s' is not float32 with %lld channels on axis 1",
                                   node->name, (long long)m->channels);
        return 1;
    }
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

/* Measures E[y_q] of candidate c in g and moves its bias (mr: E[y] in ref). */
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
    nq_tensor *b = s == NQ_OK ? nq_ptq_param(g, c->n, 2, err) : NULL;
    if (s == NQ_OK && b == NULL) s = NQ_ERR_NOMEM;
    for (int64_t k = 0; s == NQ_OK && k < c->channels; k++) {
        double sb = scale_at(c->sq, k), unit = sb / scale_at(c->sr, k); /* ref units -> accumulator units */
        if (!(sb > 0) || !isfinite(unit)) continue;
        double shift = mq.sum[k] - unit * mr->sum[k]; /* E[y_q] - E[y], accumulator units */
        nq_tensor_set(b, k, nq_tensor_get(b, k) - shift / sb);
    }
    free(set.slot);
    free(mq.sum);
    return s;
}

nq_status nq_bias_correction(nq_graph *g, const nq_graph *ref, const nq_dataset *calib, const nq_ptq_options *o,
                             int *corrected, nq_error *err)
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
    for (int i = 0; s == NQ_OK && i < nc; i++, done++) s = correct_node(g, &cand[i], &mr[i], calib, o, err);
    for (int i = 0; i < nc; i++) free(mr[i].sum);
    free(set.slot);
    free(mr);
    free(cand);
    if (corrected) *corrected = done;
    return s;
}
