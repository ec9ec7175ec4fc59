/* Clipping thresholds from |x| histograms: MAX, MSE/MAE, AA (ACIQ), KL.
 * Formulas and conventions: docs/clipping.md and nnquant/clipping.h. */
#include <math.h>
#include <stdlib.h>

#include "nnquant/clipping.h"

/* ------------------------------------------------------------------ */
/* Modes and common checks                                             */
/* ------------------------------------------------------------------ */

static const char *const mode_names[] = {
    [NQ_CLIP_MAX] = "max",
    [NQ_CLIP_MSE] = "mse",
    [NQ_CLIP_AA] = "aa",
    [NQ_CLIP_KL] = "kl",
};
#define N_MODE_NAMES ((int)(sizeof mode_names / sizeof mode_names[0]))

const char *nq_clip_mode_name(nq_clip_mode m)
{
    if ((int)m < 0 || (int)m >= N_MODE_NAMES || mode_names[m] == NULL) return "unknown";
    return mode_names[m];
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

nq_clip_mode nq_clip_mode_from_name(const char *name)
{
    if (name == NULL) return (nq_clip_mode)0;
    for (int m = 0; m < N_MODE_NAMES; m++) {
        const char *a = mode_names[m], *b = name;
        if (a == NULL) continue;
        while (*a != '\0' && lower((unsigned char)*b) == *a) a++, b++;
        if (*a == '\0' && *b == '\0') return (nq_clip_mode)m;
    }
    return (nq_clip_mode)0;
}

double nq_clip_qmax(int n_bits, int is_signed)
{
    if (is_signed) return (n_bits < 2 || n_bits > 32) ? 0.0 : ldexp(1.0, n_bits - 1) - 1.0;
    return (n_bits < 1 || n_bits > 32) ? 0.0 : ldexp(1.0, n_bits) - 1.0;
}

/* Validates the histogram; *trivial = 1 when *clip is already decided
 * (only zeros: 0; range 0: nothing to resolve, max_abs). */
static nq_status check_hist(const nq_histogram *h, float *clip, const char *mode,
                            int *trivial, nq_error *err)
{
    *trivial = 0;
    if (h == NULL || h->bins == NULL || h->n_bins < 1 || clip == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "clip %s: NULL or uninitialized histogram",
                            mode);
    if (h->count == 0)
        return nq_error_set(err, NQ_ERR_DATA, "clip %s: empty histogram (no value added)", mode);
    if (h->max_abs == 0.0f || h->range == 0.0f) {
        *clip = h->max_abs;
        *trivial = 1;
    }
    return NQ_OK;
}

static nq_status check_bits(int n_bits, int is_signed, const char *mode, double *qmax,
                            nq_error *err)
{
    *qmax = nq_clip_qmax(n_bits, is_signed);
    if (*qmax <= 0.0)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "clip %s: %d bits %s not supported", mode,
                            n_bits, is_signed ? "signed (2..32)" : "unsigned (1..32)");
    return NQ_OK;
}

/* ------------------------------------------------------------------ */
/* MAX                                                                 */
/* ------------------------------------------------------------------ */

nq_status nq_clip_max(const nq_histogram *h, float *clip, nq_error *err)
{
    int trivial;
    nq_status s = check_hist(h, clip, "max", &trivial, err);
    if (s != NQ_OK) return s;
    *clip = h->max_abs;
    return NQ_OK;
}

/* ------------------------------------------------------------------ */
/* MSE / MAE: exact error of the quantizer on a piecewise-uniform density */
/* ------------------------------------------------------------------ */

/*
 * Everything in bin units (bin width 1, edges at j = 0..n). The continuous
 * mass of bin i is cnt[i] (minus the exact zeros for bin 0), spread
 * uniformly over [i, i+1). With G(x) = integral_0^x |Q(t) - t|^p dt:
 *     E(c) = sum_i cnt[i] * (G(i+1) - G(i)) = sum_{j=1..n} d[j] * G(j),
 *     d[j] = cnt[j-1] - cnt[j]   (cnt[n] = 0).
 * Step s = c / qmax; below x_c = c - s/2 (u = x / s, m = floor(u + 1/2),
 * f = u - m):  G(x) = s^(p+1) * (m * k_p + sgn(f) |f|^(p+1) / (p+1)),
 * k_1 = 1/4, k_2 = 1/12 (mean |f|^p over a step); from x_c on:
 *     G(x) = s^(p+1) * qmax * k_p + sgn(x - c) |x - c|^(p+1) / (p+1).
 */
typedef struct err_model {
    const double *d;   /* d[1..n] */
    const double *cnt; /* cnt[0..n-1] */
    int n;
    double qmax;
    int p; /* 1 or 2 */
} err_model;

/* Rounding part G(j) / s^(p+1) at u = j / s, and clipping part at t = j - c. */
static inline double g_round2(double u)
{
    double m = (double)(int64_t)(u + 0.5), f = u - m; /* u >= 0: truncation is floor */
    return m * (1.0 / 12.0) + f * f * f * (1.0 / 3.0);
}
static inline double g_round1(double u)
{
    double m = (double)(int64_t)(u + 0.5), f = u - m;
    return m * 0.25 + f * fabs(f) * 0.5;
}
static inline double g_clip2(double t) { return t * t * t * (1.0 / 3.0); }
static inline double g_clip1(double t) { return t * fabs(t) * 0.5; }
static inline double g_lin(double u) { return u; }

/* sum_{j in [j0, j1)} d[j] * g(j * k - c) with 4 accumulators (the sums are
 * latency-bound otherwise) */
#define DEFINE_EDGE_SUM(name, g)                                                   \
    static double name(const double *d, int j0, int j1, double k, double c)      \
    {                                                                              \
        double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;                             \
        int j = j0;                                                                \
        for (; j + 3 < j1; j += 4) {                                               \
            a0 += d[j] * g((double)j * k - c);                                     \
            a1 += d[j + 1] * g((double)(j + 1) * k - c);                           \
            a2 += d[j + 2] * g((double)(j + 2) * k - c);                           \
            a3 += d[j + 3] * g((double)(j + 3) * k - c);                           \
        }                                                                          \
        for (; j < j1; j++) a0 += d[j] * g((double)j * k - c);                     \
        return (a0 + a1) + (a2 + a3);                                              \
    }
DEFINE_EDGE_SUM(sum_round2, g_round2)
DEFINE_EDGE_SUM(sum_round1, g_round1)
DEFINE_EDGE_SUM(sum_clip2, g_clip2)
DEFINE_EDGE_SUM(sum_clip1, g_clip1)
DEFINE_EDGE_SUM(sum_lin, g_lin)

/* Beyond 2^40 quantizer steps over the histogram (24+ bit quantizers),
 * u = x / s no longer has the digits for its fraction. Steps are then far
 * finer than a bin and G(x) = k_p s^p x; dropping the periodic part
 * (at most s^(p+1)/24 per edge) is below 1e-4 of E. */
#define MAX_STEPS 0x1p40

static double err_at(const err_model *e, double c)
{
    const int n = e->n;
    const double q = e->qmax, s = c / q, inv_s = q / c;
    double jc_f = ceil(c - 0.5 * s); /* first edge at or past x_c */
    int jc = jc_f < 1.0 ? 1 : jc_f > (double)n + 1.0 ? n + 1 : (int)jc_f;
    /* sum_{j >= jc} d[j] telescopes to cnt[jc-1] */
    double tail_mass = jc <= n ? e->cnt[jc - 1] : 0.0;
    const int fine = inv_s * n > MAX_STEPS;
    if (e->p == 2) {
        double below = fine ? (1.0 / 12.0) * sum_lin(e->d, 1, jc, inv_s, 0.0)
                            : sum_round2(e->d, 1, jc, inv_s, 0.0);
        double tail = sum_clip2(e->d, jc, n + 1, 1.0, c);
        return s * s * s * (below + q * (1.0 / 12.0) * tail_mass) + tail;
    }
    double below = fine ? 0.25 * sum_lin(e->d, 1, jc, inv_s, 0.0)
                        : sum_round1(e->d, 1, jc, inv_s, 0.0);
    double tail = sum_clip1(e->d, jc, n + 1, 1.0, c);
    return s * s * (below + q * 0.25 * tail_mass) + tail;
}

#define GRID_PER_OCTAVE 32
#define REFINE_STEPS 32
#define REFINE_ROUNDS 2

/* Minimizes err_at over c in [1, n]; ties go to the larger c. */
static double search_min(const err_model *e)
{
    const double n = (double)e->n;
    int k_max = (int)floor(GRID_PER_OCTAVE * log2(n) + 1e-9);
    int best_k = 0;
    double best = err_at(e, n);
    for (int k = 1; k <= k_max; k++) {
        double v = err_at(e, n * exp2(-(double)k / GRID_PER_OCTAVE));
        if (v < best) best = v, best_k = k;
    }
    double best_c = n * exp2(-(double)best_k / GRID_PER_OCTAVE);
    double hi = n * exp2(-(double)(best_k - 1) / GRID_PER_OCTAVE);
    double lo = n * exp2(-(double)(best_k + 1) / GRID_PER_OCTAVE);
    if (hi > n) hi = n;
    if (lo < 1.0) lo = 1.0;
    for (int r = 0; r < REFINE_ROUNDS && hi > lo; r++) {
        double step = (hi - lo) / REFINE_STEPS;
        for (int i = 0; i <= REFINE_STEPS; i++) {
            double c = hi - step * i;
            double v = err_at(e, c);
            if (v < best) best = v, best_c = c;
        }
        lo = fmax(lo, best_c - step);
        hi = fmin(hi, best_c + step);
    }
    return best_c;
}

static nq_status clip_error(const nq_histogram *h, int n_bits, int is_signed, int p,
                            float *clip, nq_error *err)
{
    const char *mode = p == 2 ? "mse" : "mae";
    int trivial;
    double qmax;
    nq_status s = check_hist(h, clip, mode, &trivial, err);
    if (s != NQ_OK) return s;
    s = check_bits(n_bits, is_signed, mode, &qmax, err);
    if (s != NQ_OK || trivial) return s;
    const int n = h->n_bins;
    double *buf = malloc(((size_t)n * 2 + 1) * sizeof *buf);
    if (buf == NULL)
        return nq_error_set(err, NQ_ERR_NOMEM, "clip %s: cannot allocate %d bins", mode, n);
    double *cnt = buf, *d = buf + n;
    /* exact zeros have no error at any threshold: not part of the density */
    cnt[0] = (double)h->bins[0] - (double)h->n_zero;
    for (int i = 1; i < n; i++) cnt[i] = (double)h->bins[i];
    d[0] = 0.0;
    for (int j = 1; j <= n; j++) d[j] = cnt[j - 1] - (j < n ? cnt[j] : 0.0);
    err_model e = {.d = d, .cnt = cnt, .n = n, .qmax = qmax, .p = p};
    double c = search_min(&e) * ((double)h->range / n);
    free(buf);
    *clip = c > (double)h->range ? h->range : (float)c;
    return NQ_OK;
}

nq_status nq_clip_mse(const nq_histogram *h, int n_bits, int is_signed, float *clip,
                      nq_error *err)
{
    return clip_error(h, n_bits, is_signed, 2, clip, err);
}

nq_status nq_clip_mae(const nq_histogram *h, int n_bits, int is_signed, float *clip,
                      nq_error *err)
{
    return clip_error(h, n_bits, is_signed, 1, clip, err);
}

/* ------------------------------------------------------------------ */
/* AA: ACIQ with a Laplace fit                                         */
/* ------------------------------------------------------------------ */

double nq_clip_laplace_ratio(double qmax)
{
    if (!(qmax > 0.0) || !isfinite(qmax)) return 0.0;
    /* t + ln t = ln K, K = 12 qmax^2 >= 12; g(t) = t + ln t - ln K is
     * increasing and concave, Newton from t = ln K converges monotonically */
    const double ln_k = log(12.0 * qmax * qmax);
    double t = ln_k;
    for (int it = 0; it < 100; it++) {
        double dt = (t + log(t) - ln_k) / (1.0 + 1.0 / t);
        t -= dt;
        if (fabs(dt) <= 1e-15 * t) break;
    }
    return t;
}

nq_status nq_clip_aa(const nq_histogram *h, int n_bits, int is_signed, float *clip,
                     nq_error *err)
{
    int trivial;
    double qmax;
    nq_status s = check_hist(h, clip, "aa", &trivial, err);
    if (s != NQ_OK) return s;
    s = check_bits(n_bits, is_signed, "aa", &qmax, err);
    if (s != NQ_OK || trivial) return s;
    /* Laplace scale: mean |x| (its maximum-likelihood estimate for a
     * zero-mean Laplace); exact zeros (dead ReLUs) are not part of it */
    double b = h->sum_abs / (double)(h->count - h->n_zero);
    double c = nq_clip_laplace_ratio(qmax) * b;
    *clip = c > (double)h->max_abs ? h->max_abs : (float)c;
    return NQ_OK;
}

/* ------------------------------------------------------------------ */
/* KL (TensorRT-style)                                                 */
/* ------------------------------------------------------------------ */

/*
 * For candidate i (bins kept: [0, i)), with N = total count, O = counts of
 * bins >= i, p'_j = cnt_j (j < i-1), p'_{i-1} = cnt_{i-1} + O, chunks of
 * m = floor(i / L) bins (L = qmax + 1 levels; the last chunk runs to i),
 * Q_J = sum of cnt over chunk J, z_J = non-zero p' in chunk J, P_J = sum of
 * p' over chunk J:  P = p' / N, Q_j = (Q_J / z_J) / (N - O) on non-zero p',
 *     KL(P||Q) = [sum_j p'_j ln p'_j - sum_J P_J ln(Q_J / z_J)] / N
 *                + ln((N - O) / N).
 * Chunks 0..L-2 depend only on m, so each m costs L logs and each i O(1):
 * O(n) for the whole search. A chunk with P_J > 0 and Q_J = 0 (clipped
 * mass in an otherwise empty last chunk) makes KL infinite. Exact zeros
 * (n_zero) are left out of cnt_0: they are quantized exactly whatever the
 * threshold.
 */
nq_status nq_clip_kl(const nq_histogram *h, int n_bits, int is_signed, float *clip,
                     nq_error *err)
{
    int trivial;
    double qmax;
    nq_status s = check_hist(h, clip, "kl", &trivial, err);
    if (s != NQ_OK) return s;
    s = check_bits(n_bits, is_signed, "kl", &qmax, err);
    if (s != NQ_OK || trivial) return s;
    const int n = h->n_bins;
    if (qmax + 1.0 > (double)n) { /* too few bins to compare with the quantizer */
        *clip = h->range;
        return NQ_OK;
    }
    const int levels = (int)qmax + 1;
    double *buf = malloc(((size_t)n + 1) * 3 * sizeof *buf);
    if (buf == NULL)
        return nq_error_set(err, NQ_ERR_NOMEM, "clip kl: cannot allocate %d bins", n);
    double *C = buf, *Z = buf + n + 1, *L = buf + 2 * ((size_t)n + 1);
    C[0] = Z[0] = L[0] = 0.0; /* prefix sums of cnt, [cnt > 0], cnt ln cnt */
    for (int j = 0; j < n; j++) {
        /* exact zeros (values a Relu cut) quantize exactly at any threshold:
         * left in, their spike in bin 0 would pull the threshold down */
        double v = (double)h->bins[j] - (j == 0 ? (double)h->n_zero : 0.0);
        C[j + 1] = C[j] + v;
        Z[j + 1] = Z[j] + (v > 0.0);
        L[j + 1] = L[j] + (v > 0.0 ? v * log(v) : 0.0);
    }
    const double N = C[n];
    double best = INFINITY;
    int best_i = n;
    for (int m = 1; m * levels <= n; m++) {
        double S = 0.0; /* sum_J Q_J ln(Q_J / z_J) over chunks 0..L-2 */
        for (int J = 0; J < levels - 1; J++) {
            double q = C[(J + 1) * m] - C[J * m];
            if (q > 0.0) S += q * log(q / (Z[(J + 1) * m] - Z[J * m]));
        }
        const int a = (levels - 1) * m; /* first bin of the last chunk */
        const int i_end = (m + 1) * levels - 1 < n ? (m + 1) * levels - 1 : n;
        for (int i = m * levels; i <= i_end; i++) {
            if (C[i] <= 0.0) continue; /* Q would be empty */
            double O = N - C[i];
            double pf = C[i] - C[i - 1] + O; /* folded last bin */
            double q_last = C[i] - C[a];
            double p_last = q_last + O;
            double z_last = Z[i - 1] - Z[a] + (pf > 0.0);
            double plogp = L[i - 1] + (pf > 0.0 ? pf * log(pf) : 0.0);
            double t_last = 0.0;
            if (p_last > 0.0) {
                if (q_last <= 0.0) continue; /* infinite divergence */
                t_last = p_last * log(q_last / z_last);
            }
            double kl = (plogp - S - t_last) / N + log(C[i] / N);
            if (kl <= best) best = kl, best_i = i; /* ties: the larger i */
        }
    }
    free(buf);
    double c = (double)best_i * ((double)h->range / n);
    *clip = c > (double)h->range ? h->range : (float)c;
    return NQ_OK;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

typedef nq_status (*clip_fn)(const nq_histogram *, int, int, float *, nq_error *);

static nq_status clip_max_bits(const nq_histogram *h, int n_bits, int is_signed, float *clip,
                               nq_error *err)
{
    (void)n_bits, (void)is_signed;
    return nq_clip_max(h, clip, err);
}

static const clip_fn clip_fns[] = {
    [NQ_CLIP_MAX] = clip_max_bits,
    [NQ_CLIP_MSE] = nq_clip_mse,
    [NQ_CLIP_AA] = nq_clip_aa,
    [NQ_CLIP_KL] = nq_clip_kl,
};

nq_status nq_clip_threshold(const nq_histogram *h, nq_clip_mode mode, int n_bits,
                            int is_signed, float *clip, nq_error *err)
{
    if ((int)mode < 0 || (int)mode >= (int)(sizeof clip_fns / sizeof clip_fns[0]) ||
        clip_fns[mode] == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "clip: unknown clipping mode %d",
                            (int)mode);
    return clip_fns[mode](h, n_bits, is_signed, clip, err);
}
