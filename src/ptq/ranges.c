/* compute_ranges and adjust_ranges: calibration passes with observers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/run.h"
#include "ptq/ptq_internal.h"

void nq_ranges_free(nq_ranges *r)
{
    if (r == NULL) return;
    free(r->max_abs);
    free(r->min);
    free(r->max);
    free(r->valid);
    for (int v = 0; r->hist != NULL && v < r->n; v++) nq_histogram_free(&r->hist[v]);
    free(r->hist);
    memset(r, 0, sizeof *r);
}

enum { TRACK = 1, TRACK_RELU = 2 };

typedef struct calib_state {
    nq_ranges *r;                 /* NULL: histograms only (adjust_ranges' own pass) */
    const unsigned char *tracked;
    nq_histogram *hist;           /* per value, or NULL; with r, grown as values come */
    nq_error *err;
    nq_status status;
} calib_state;

/* Smallest and largest of x[0..n); 0 if some value is not finite. */
static int min_max(const float *x, int64_t n, float *lo, float *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) return 0;
        *lo = x[i] < *lo ? x[i] : *lo;
        *hi = x[i] > *hi ? x[i] : *hi;
    }
    return 1;
}

static int add_to_histogram(calib_state *st, int v, const float *x, int64_t n, float max_abs)
{
    nq_histogram *h = &st->hist[v];
    if (st->r != NULL) st->status = nq_histogram_grow(h, max_abs, st->err);
    if (st->status == NQ_OK)
        st->status = st->tracked[v] == TRACK_RELU ? nq_histogram_add_relu(h, x, n, st->err)
                                                  : nq_histogram_add(h, x, n, st->err);
    return st->status != NQ_OK;
}

static int observe(void *user, const nq_graph *g, const nq_node *node, int v, const nq_tensor *t)
{
    (void)g;
    calib_state *st = user;
    if (!st->tracked[v] || t->dtype != NQ_DTYPE_FLOAT32) return 0;
    const float *x = t->data;
    int64_t n = nq_tensor_numel(t);
    int hist = st->hist != NULL && st->hist[v].bins != NULL;
    if (st->r == NULL) return hist ? add_to_histogram(st, v, x, n, 0.0f) : 0;
    float lo, hi;
    if (!min_max(x, n, &lo, &hi)) {
        st->status = nq_error_set(st->err, NQ_ERR_DATA, "calibration: non-finite value at the output of '%s'",
                                  node->name);
        return 1;
    }
    if (n == 0) return 0;
    if (st->tracked[v] == TRACK_RELU && lo < 0) lo = 0; /* what the Relu passes on */
    nq_ranges *r = st->r;
    r->min[v] = r->valid[v] ? fmin(r->min[v], lo) : lo;
    r->max[v] = r->valid[v] ? fmax(r->max[v], hi) : hi;
    r->max_abs[v] = fmax(fabs(r->min[v]), fabs(r->max[v]));
    r->valid[v] = 1;
    float mag = st->tracked[v] == TRACK_RELU ? fmaxf(hi, 0.0f) : fmaxf(fabsf(lo), fabsf(hi));
    return hist ? add_to_histogram(st, v, x, n, mag) : 0;
}

nq_status nq_ptq_calibrate(const nq_graph *g, const nq_dataset *calib, const nq_ptq_options *o,
                           const nq_ptq_watch *w, const char *stage, nq_error *err)
{
    if (g->n_inputs != 1)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "calibration needs a model with one input (this one has %d)",
                            g->n_inputs);
    nq_session_opts so = {.num_threads = o ? o->num_threads : 0};
    nq_session *s = NULL;
    nq_status r = nq_session_create(g, &so, &s, err);
    if (r == NQ_OK) r = nq_session_add_observer(s, w->fn, w->user, err);
    int64_t batch = o && o->batch > 0 ? o->batch : 64;
    const nq_value *in = g->values[g->inputs[0]];
    nq_tensor *outs = calloc((size_t)g->n_outputs + 1, sizeof(nq_tensor));
    if (outs == NULL && r == NQ_OK) r = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int64_t start = 0; r == NQ_OK && start < calib->n; start += batch) {
        int64_t count = calib->n - start < batch ? calib->n - start : batch;
        nq_tensor x = {0};
        r = nq_dataset_batch(calib, start, count, in->ndim, in->dims, &x, err);
        if (w->stopped) *w->stopped = 0;
        if (r == NQ_OK) r = nq_session_run(s, &x, 1, outs, g->n_outputs, err);
        if (r != NQ_OK && *w->status != NQ_OK) r = *w->status;
        if (r != NQ_OK && w->stopped && *w->stopped) { /* ended on purpose */
            r = NQ_OK;
            if (err) memset(err, 0, sizeof *err);
        }
        nq_tensor_free(&x);
        for (int k = 0; k < g->n_outputs; k++) nq_tensor_free(&outs[k]);
        if (r == NQ_OK && o && o->progress && stage) o->progress(o->user, stage, start + count, calib->n);
    }
    free(outs);
    nq_session_free(s);
    return r;
}

/* Runs every calibration batch through g with the observer in st. */
static nq_status calibrate(const nq_graph *g, const nq_dataset *calib, const nq_ptq_options *o,
                           calib_state *st, const char *stage, nq_error *err)
{
    nq_ptq_watch w = {observe, st, &st->status, NULL};
    return nq_ptq_calibrate(g, calib, o, &w, stage, err);
}

/* Marks the values to observe: TRACK, or (relu_ranges) TRACK_RELU for a scaling node's
 * output that only Relu nodes read, observed as after the Relu (negative
 * values count as 0): the quantizer never needs to represent what the Relu
 * discards, so its range and clipping threshold come from max(x, 0). */
static unsigned char *tracked_values(const nq_graph *g, int scaling_nodes_only, int relu_ranges)
{
    unsigned char *t = calloc((size_t)g->n_values + 1, 1);
    if (t == NULL) return NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        int scaling = nq_ptq_is_scaling(n);
        if (scaling_nodes_only && !scaling) continue;
        for (int k = 0; k < n->n_outputs; k++) {
            int v = n->outputs[k];
            if (v >= 0) t[v] = relu_ranges && scaling && nq_ptq_consumers_all(g, v, "Relu") ? TRACK_RELU : TRACK;
        }
    }
    return t;
}

/* Histograms grown in the ranges pass have this many bins, a sixteenth of
 * a final bin or less each, and are rebinned onto NQ_HISTOGRAM_BINS over
 * [0, max |x|] at the end: what a second pass over the known range would
 * give, up to the split of the fine bins that straddle a final edge. */
#define GROWN_BINS (16 * NQ_HISTOGRAM_BINS)

static nq_status settle(nq_histogram *h, nq_error *err)
{
    if (h->bins == NULL || !(h->max_abs > 0.0f)) return NQ_OK;
    nq_histogram fin = {0};
    nq_status s = nq_histogram_rebin(h, NQ_HISTOGRAM_BINS, h->max_abs, &fin, err);
    if (s != NQ_OK) return s;
    nq_histogram_free(h);
    *h = fin;
    return NQ_OK;
}

nq_status nq_compute_ranges(const nq_graph *g, const nq_dataset *calib, int scaling_nodes_only,
                            const nq_ptq_options *o, nq_ranges *out, nq_error *err)
{
    memset(out, 0, sizeof *out);
    if (calib == NULL || calib->n < 1)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "compute_ranges: the calibration set is empty");
    int n = g->n_values;
    out->n = n;
    out->max_abs = calloc((size_t)n + 1, sizeof(double));
    out->min = calloc((size_t)n + 1, sizeof(double));
    out->max = calloc((size_t)n + 1, sizeof(double));
    out->valid = calloc((size_t)n + 1, 1);
    unsigned char *tracked = tracked_values(g, scaling_nodes_only, o && o->relu_ranges);
    nq_status s = NQ_OK;
    if (!out->max_abs || !out->min || !out->max || !out->valid || !tracked)
        s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    /* the histograms adjust_ranges will need, in the same pass */
    if (s == NQ_OK && o && o->clipping != NQ_CLIP_MAX) {
        out->hist = calloc((size_t)n + 1, sizeof(nq_histogram));
        if (out->hist == NULL) s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        for (int i = 0; s == NQ_OK && i < g->n_nodes; i++) {
            int v = g->nodes[i]->n_outputs > 0 ? g->nodes[i]->outputs[0] : -1;
            if (v >= 0 && tracked[v] && nq_ptq_is_scaling(g->nodes[i]))
                s = nq_histogram_init(&out->hist[v], GROWN_BINS, 0.0f, err);
        }
    }
    calib_state st = {out, tracked, out->hist, err, NQ_OK};
    if (s == NQ_OK) s = calibrate(g, calib, o, &st, "ranges", err);
    for (int v = 0; s == NQ_OK && out->hist != NULL && v < n; v++) s = settle(&out->hist[v], err);
    free(tracked);
    if (s != NQ_OK) nq_ranges_free(out);
    return s;
}

nq_status nq_adjust_ranges(const nq_graph *g, nq_clip_mode mode, nq_ranges *ranges,
                           const nq_dataset *calib, const nq_ptq_options *o, nq_error *err)
{
    if (mode == NQ_CLIP_MAX) return NQ_OK;
    unsigned char *tracked = tracked_values(g, 1, o && o->relu_ranges);
    nq_histogram *own = NULL, *hist = ranges->hist; /* own: this pass's histograms */
    if (hist == NULL) hist = own = calloc((size_t)g->n_values + 1, sizeof(nq_histogram));
    nq_status s = tracked && hist ? NQ_OK : nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int v = 0; s == NQ_OK && own && v < g->n_values; v++)
        if (tracked[v] && v < ranges->n && ranges->valid[v] && ranges->max_abs[v] > 0)
            s = nq_histogram_init(&own[v], NQ_HISTOGRAM_BINS, (float)ranges->max_abs[v], err);
    calib_state st = {NULL, tracked, own, err, NQ_OK};
    if (s == NQ_OK && own) s = calibrate(g, calib, o, &st, "histograms", err);
    for (int i = 0; s == NQ_OK && i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        int v = n->n_outputs > 0 ? n->outputs[0] : -1;
        if (!nq_ptq_is_scaling(n) || v < 0 || v >= ranges->n || hist[v].bins == NULL || hist[v].count == 0)
            continue;
        nq_dtype t = nq_ptq_precision(n, o ? o->act_dtype : NQ_DTYPE_INT8);
        int64_t lo, hi;
        if (!nq_dtype_int_range(t, &lo, &hi)) continue; /* float precision: nothing to clip */
        int bits = 0;
        while (bits < 63 && ((int64_t)1 << bits) <= hi - lo) bits++;
        int is_signed = !(o && o->optimize_signs && ranges->min[v] >= 0);
        float clip = 0;
        s = nq_clip_threshold(&hist[v], mode, bits, is_signed, &clip, err);
        if (s != NQ_OK) {
            nq_error_prefix(err, "node '%s'", n->name);
            break;
        }
        if (clip > 0 && clip < ranges->max_abs[v]) ranges->max_abs[v] = clip;
        if (o && o->verbose && o->log) {
            char line[256];
            snprintf(line, sizeof line, "clipping %-32s %s: %.6g -> %.6g", n->name, nq_clip_mode_name(mode),
                     fmax(fabs(ranges->min[v]), fabs(ranges->max[v])), ranges->max_abs[v]);
            o->log(o->user, line);
        }
    }
    for (int v = 0; own && v < g->n_values; v++) nq_histogram_free(&own[v]);
    free(own);
    free(tracked);
    return s;
}
