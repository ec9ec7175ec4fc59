/* Histograms of |x| for activation calibration (see nnquant/clipping.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/clipping.h"

nq_status nq_histogram_init(nq_histogram *h, int n_bins, float range, nq_error *err)
{
    if (h == NULL) return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: NULL histogram");
    memset(h, 0, sizeof *h);
    if (n_bins < 1 || n_bins > NQ_HISTOGRAM_MAX_BINS)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: bin count %d not in [1, %d]",
                            n_bins, NQ_HISTOGRAM_MAX_BINS);
    if (!isfinite(range) || range < 0.0f)
        return nq_error_set(err, NQ_ERR_INVALID_ARG,
                            "histogram: range %g must be finite and >= 0", (double)range);
    h->bins = calloc((size_t)n_bins, sizeof *h->bins);
    if (h->bins == NULL)
        return nq_error_set(err, NQ_ERR_NOMEM, "histogram: cannot allocate %d bins", n_bins);
    h->n_bins = n_bins;
    h->range = range;
    return NQ_OK;
}

void nq_histogram_free(nq_histogram *h)
{
    if (h == NULL) return;
    free(h->bins);
    memset(h, 0, sizeof *h);
}

void nq_histogram_reset(nq_histogram *h)
{
    if (h == NULL) return;
    if (h->bins != NULL) memset(h->bins, 0, (size_t)h->n_bins * sizeof *h->bins);
    h->count = h->n_zero = h->n_over = 0;
    h->sum_abs = 0.0;
    h->max_abs = 0.0f;
}

/* Bin of a = |x| (finite): floor(a * n / range), the last bin for a >= range
 * (with range 0, zeros go to bin 0 and anything else to the last bin). */
static int64_t bin_of(float a, double inv_w, int64_t last, float range)
{
    if (a >= range) return a > 0.0f ? last : 0;
    int64_t i = (int64_t)((double)a * inv_w);
    return i > last ? last : i;
}

/* |x| (relu 0) or max(x, 0) (relu 1) of a finite x */
static inline float magnitude(float x, int relu) { return relu ? (x > 0.0f ? x : 0.0f) : fabsf(x); }

static nq_status add_values(nq_histogram *h, const float *x, int64_t n, int relu, nq_error *err)
{
    if (h == NULL || h->bins == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: not initialized");
    if (n < 0 || (n > 0 && x == NULL))
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: bad data (n = %lld)",
                            (long long)n);
    const int64_t last = h->n_bins - 1;
    const float range = h->range;
    /* range == 0: every value lands in bin 0 == last through the a >= range test */
    const double inv_w = range > 0.0f ? (double)h->n_bins / (double)range : 0.0;
    uint64_t *bins = h->bins;
    uint64_t n_zero = 0, n_over = 0;
    double sum = 0.0;
    float mx = h->max_abs;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            /* undo this call: the histogram is left as it was */
            for (int64_t k = 0; k < i; k++) bins[bin_of(magnitude(x[k], relu), inv_w, last, range)]--;
            return nq_error_set(err, NQ_ERR_DATA, "histogram: value %lld is %s",
                                (long long)i, isnan(x[i]) ? "NaN" : "infinite");
        }
        float a = magnitude(x[i], relu);
        bins[bin_of(a, inv_w, last, range)]++;
        n_zero += (a == 0.0f);
        n_over += (a > range);
        sum += (double)a;
        if (a > mx) mx = a;
    }
    h->count += (uint64_t)n;
    h->n_zero += n_zero;
    h->n_over += n_over;
    h->sum_abs += sum;
    h->max_abs = mx;
    return NQ_OK;
}

nq_status nq_histogram_add(nq_histogram *h, const float *x, int64_t n, nq_error *err)
{
    return add_values(h, x, n, 0, err);
}

nq_status nq_histogram_add_relu(nq_histogram *h, const float *x, int64_t n, nq_error *err)
{
    return add_values(h, x, n, 1, err);
}

nq_status nq_histogram_grow(nq_histogram *h, float max_abs, nq_error *err)
{
    if (h == NULL || h->bins == NULL) return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: not initialized");
    if (!isfinite(max_abs) || max_abs < 0.0f)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: cannot grow to %g", (double)max_abs);
    if (max_abs <= h->range) return NQ_OK;
    if (h->range == 0.0f) { /* only zeros so far, all in bin 0 */
        if (h->n_over > 0)
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: range 0 holds non-zero values");
        h->range = max_abs;
        return NQ_OK;
    }
    if (h->n_bins % 2 != 0)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: cannot double %d bins", h->n_bins);
    if (h->n_over > 0) /* the last bin holds values of unknown place: its contents stay last */
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: values already beyond the range");
    const int half = h->n_bins / 2;
    while (h->range < max_abs) {
        if (!isfinite(h->range * 2.0f))
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: range beyond float");
        for (int i = 0; i < half; i++) h->bins[i] = h->bins[2 * i] + h->bins[2 * i + 1];
        memset(h->bins + half, 0, (size_t)half * sizeof *h->bins);
        h->range *= 2.0f;
    }
    return NQ_OK;
}

nq_status nq_histogram_rebin(const nq_histogram *src, int n_bins, float range, nq_histogram *dst,
                             nq_error *err)
{
    if (src == NULL || src->bins == NULL || dst == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram rebin: not initialized");
    const double w_src = (double)src->range / src->n_bins, w_dst = (double)range / n_bins;
    if (!(range > 0.0f) || src->max_abs > range || src->n_over > 0 || !(w_src <= w_dst))
        return nq_error_set(err, NQ_ERR_INVALID_ARG,
                            "histogram rebin: %d bins over [0, %g] (largest value %g) onto %d bins over [0, %g]",
                            src->n_bins, (double)src->range, (double)src->max_abs, n_bins, (double)range);
    nq_status s = nq_histogram_init(dst, n_bins, range, err);
    if (s != NQ_OK) return s;
    const int last = n_bins - 1;
    for (int i = 0; i < src->n_bins; i++) {
        uint64_t c = src->bins[i];
        if (c == 0) continue;
        double lo = i * w_src, hi = (i + 1) * w_src;
        int j = (int)(lo / w_dst);
        j = j > last ? last : j;
        double edge = (j + 1) * w_dst; /* dst bins are wider: at most one edge inside */
        if (i == 0) { /* exact zeros belong to bin 0 whatever the split */
            dst->bins[0] += src->n_zero;
            c -= src->n_zero;
        }
        uint64_t first = c;
        if (j < last && edge < hi) first = (uint64_t)((double)c * (edge - lo) / w_src);
        dst->bins[j] += first;
        if (c > first) dst->bins[j + 1] += c - first;
    }
    dst->count = src->count;
    dst->n_zero = src->n_zero;
    dst->sum_abs = src->sum_abs;
    dst->max_abs = src->max_abs;
    return NQ_OK;
}

nq_status nq_histogram_merge(nq_histogram *dst, const nq_histogram *src, nq_error *err)
{
    if (dst == NULL || src == NULL || dst->bins == NULL || src->bins == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram merge: not initialized");
    if (dst->n_bins != src->n_bins || dst->range != src->range)
        return nq_error_set(err, NQ_ERR_INVALID_ARG,
                            "histogram merge: %d bins over [0, %g] vs %d bins over [0, %g]",
                            dst->n_bins, (double)dst->range, src->n_bins, (double)src->range);
    for (int i = 0; i < dst->n_bins; i++) dst->bins[i] += src->bins[i];
    dst->count += src->count;
    dst->n_zero += src->n_zero;
    dst->n_over += src->n_over;
    dst->sum_abs += src->sum_abs;
    if (src->max_abs > dst->max_abs) dst->max_abs = src->max_abs;
    return NQ_OK;
}
