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

/* 1 if every x[i] is finite (no early exit: the loop vectorizes). */
static int all_finite(const float *x, int64_t n)
{
    int ok = 1;
    for (int64_t i = 0; i < n; i++) ok &= x[i] - x[i] == 0.0f; /* NaN - NaN and inf - inf are NaN */
    return ok;
}

/* Sum of a[0..m) in double, eight partial sums (no chain of dependent adds). */
static double sum_of(const float *a, int64_t m)
{
    double s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= m; i += 8)
        for (int k = 0; k < 8; k++) s[k] += (double)a[i + k];
    for (; i < m; i++) s[0] += (double)a[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* Largest of a[0..m) (m >= 1), all >= +0 and finite: their bit patterns
 * order as the values do, and an integer maximum vectorizes. */
static float max_of(const float *a, int64_t m)
{
    uint32_t mb = 0;
    for (int64_t i = 0; i < m; i++) {
        uint32_t b;
        memcpy(&b, &a[i], sizeof b);
        mb = b > mb ? b : mb;
    }
    float mx;
    memcpy(&mx, &mb, sizeof mx);
    return mx;
}

/* The bins of the values are computed a chunk at a time apart from the
 * counting, so that the arithmetic vectorizes and the counting skips exact
 * zeros (the bulk of a Relu's output, which would otherwise increment
 * bins[0] one after the other; they are added to it at once). */
enum { CHUNK = 1024 };

static nq_status add_values(nq_histogram *h, const float *x, int64_t n, int relu, nq_error *err)
{
    if (h == NULL || h->bins == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: not initialized");
    if (n < 0 || (n > 0 && x == NULL))
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "histogram: bad data (n = %lld)",
                            (long long)n);
    if (!all_finite(x, n)) /* refused before anything is counted */
        for (int64_t i = 0;; i++)
            if (!isfinite(x[i]))
                return nq_error_set(err, NQ_ERR_DATA, "histogram: value %lld is %s",
                                    (long long)i, isnan(x[i]) ? "NaN" : "infinite");
    const int32_t last = h->n_bins - 1;
    const float range = h->range;
    /* bin of a: floor(a * n / range), the last bin for a >= range; with range 0,
     * inv_w = inf sends anything non-zero to the last bin */
    const double inv_w = range > 0.0f ? (double)h->n_bins / (double)range : (double)INFINITY;
    uint64_t *bins = h->bins;
    int32_t idx[CHUNK];
    float mag[CHUNK];
    /* on long inputs, three more counter lanes (folded in at the end): a
     * run of values in one bin then increments four counters in turn */
    uint32_t *lanes = n >= 8 * (int64_t)h->n_bins && n < INT32_MAX ? calloc(3 * (size_t)h->n_bins, sizeof *lanes) : NULL;
    for (int64_t k = 0; k < n; k += CHUNK) {
        const int64_t m = n - k < CHUNK ? n - k : CHUNK;
        uint64_t zeros = 0, over = 0;
        if (relu)
            for (int64_t i = 0; i < m; i++) mag[i] = x[k + i] > 0.0f ? x[k + i] : 0.0f;
        else
            for (int64_t i = 0; i < m; i++) mag[i] = fabsf(x[k + i]);
        for (int64_t i = 0; i < m; i++) {
            float a = mag[i];
            double t = (double)a * inv_w;
            t = t < (double)last ? t : (double)last; /* a >= range: t >= n_bins (NaN for 0 * inf: a zero) */
            idx[i] = a == 0.0f ? -1 : (int32_t)t;
            zeros += a == 0.0f;
            over += a > range;
        }
        if (lanes != NULL) { /* four interleaved counters: no chain of increments of one bin */
            int64_t i = 0;
            for (; i + 4 <= m; i += 4) {
                if (idx[i] >= 0) bins[idx[i]]++;
                if (idx[i + 1] >= 0) lanes[idx[i + 1]]++;
                if (idx[i + 2] >= 0) lanes[h->n_bins + idx[i + 2]]++;
                if (idx[i + 3] >= 0) lanes[2 * h->n_bins + idx[i + 3]]++;
            }
            for (; i < m; i++)
                if (idx[i] >= 0) bins[idx[i]]++;
        } else {
            for (int64_t i = 0; i < m; i++)
                if (idx[i] >= 0) bins[idx[i]]++;
        }
        bins[0] += zeros;
        h->count += (uint64_t)m;
        h->n_zero += zeros;
        h->n_over += over;
        h->sum_abs += sum_of(mag, m);
        float mx = max_of(mag, m);
        if (mx > h->max_abs) h->max_abs = mx;
    }
    for (int b = 0; lanes != NULL && b < h->n_bins; b++)
        bins[b] += (uint64_t)lanes[b] + lanes[h->n_bins + b] + lanes[2 * h->n_bins + b];
    free(lanes);
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
