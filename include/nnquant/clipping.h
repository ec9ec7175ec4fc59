/*
 * nnquant clipping: activation histograms and the choice of a clipping
 * threshold for post-training quantization (the MAX / MSE / AA / KL modes
 * of the reference module's adjust_ranges). Formulas: docs/clipping.md.
 *
 * Usage (two calibration passes over the data, per activation):
 *
 *     // pass 1: range = max |x| over the calibration set
 *     nq_histogram h;
 *     nq_histogram_init(&h, NQ_HISTOGRAM_BINS, range, &err);
 *     // pass 2: for every batch
 *     nq_histogram_add(&h, batch_data, batch_numel, &err);
 *     // then
 *     float clip;
 *     nq_clip_threshold(&h, NQ_CLIP_MSE, 8, 1, &clip, &err);
 *     nq_histogram_free(&h);
 *
 * or in one pass: a fine histogram of range 0, nq_histogram_grow to each
 * batch's max |x| before adding it, then nq_histogram_rebin onto
 * NQ_HISTOGRAM_BINS over [0, max |x|] (docs/clipping.md).
 *
 * Conventions:
 *  - A histogram counts |x| (quantization is symmetric, zero point 0, see
 *    docs/numerics.md), over [0, range] cut into n_bins equal bins:
 *    bin i holds w*i <= |x| < w*(i+1), w = range / n_bins; |x| == range
 *    goes to the last bin. Counts are exact integers, so filling in several
 *    calls gives the same bins as one call.
 *  - A clipping threshold c (same unit as x, 0 <= c <= range) means the
 *    quantizer maps c to qmax: step = c / qmax, q = clamp(round(x / step),
 *    -qmax, qmax) (signed) or [0, qmax] (unsigned), with
 *    qmax = 2^(n_bits-1) - 1 for signed and 2^n_bits - 1 for unsigned.
 *    Aidge's adjust_ranges multiplies the range by c / range.
 *  - n_bits is 2..32 when signed, 1..32 when unsigned.
 *  - No function allocates except nq_histogram_init (the bins) and the
 *    MSE/MAE/KL searches (a scratch of a few arrays of n_bins doubles,
 *    freed before returning). Nothing is global; functions taking a const
 *    histogram may run concurrently on it.
 */
#ifndef NNQUANT_CLIPPING_H
#define NNQUANT_CLIPPING_H

#include <stdint.h>

#include "nnquant/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default bin count (TensorRT's 2048; Aidge uses 2^(n_bits+4), 4096 at 8 bits).
 * KL needs n_bins >= qmax + 1; MSE/MAE resolve thresholds down to one bin. */
#define NQ_HISTOGRAM_BINS 2048
#define NQ_HISTOGRAM_MAX_BINS (1 << 24)

/* Histogram of |x|. Plain struct: fields may be read freely; change it only
 * through the functions below. */
typedef struct nq_histogram {
    int n_bins;
    float range;       /* upper edge of the last bin, finite, >= 0 */
    uint64_t *bins;    /* n_bins counts (owned; freed by nq_histogram_free) */
    uint64_t count;    /* number of values added (= sum of bins) */
    uint64_t n_zero;   /* values exactly 0 (+0 or -0); also counted in bins[0] */
    uint64_t n_over;   /* values with |x| > range; also counted in the last bin */
    double sum_abs;    /* sum of |x| over the values added */
    float max_abs;     /* largest |x| added (0 when empty) */
} nq_histogram;

/* Allocates n_bins zeroed counts (1 <= n_bins <= NQ_HISTOGRAM_MAX_BINS) over
 * [0, range]. range must be finite and >= 0 (0: an activation that is
 * always 0; anything non-zero then counts as over the range).
 * Returns NQ_ERR_INVALID_ARG or NQ_ERR_NOMEM (h is then empty and may be
 * passed to nq_histogram_free). */
nq_status nq_histogram_init(nq_histogram *h, int n_bins, float range, nq_error *err);
/* Frees the bins and zeroes the struct. NULL and zeroed structs are fine. */
void nq_histogram_free(nq_histogram *h);
/* Resets counts and sums to zero; keeps n_bins and range. */
void nq_histogram_reset(nq_histogram *h);
/* Adds |x[i]| for i in [0, n). NaN or +-Inf anywhere -> NQ_ERR_DATA naming
 * the first bad index, and the histogram is left exactly as it was.
 * Values beyond the range go to the last bin and are counted in n_over. */
nq_status nq_histogram_add(nq_histogram *h, const float *x, int64_t n, nq_error *err);
/* The same for max(x[i], 0): the histogram of what a following Relu passes
 * on (negative values count as zeros). Same errors and guarantees. */
nq_status nq_histogram_add_relu(nq_histogram *h, const float *x, int64_t n, nq_error *err);
/* Widens the range to at least max_abs (finite, >= 0) without losing
 * counts, so that one pass over data whose range is not known in advance
 * can fill a histogram: a range of 0 becomes max_abs (its values are all
 * zeros, in bin 0); otherwise the range doubles, adjacent bins merging
 * pairwise, until it reaches max_abs. Call it before adding values up to
 * max_abs. n_bins must be even unless the range is 0. */
nq_status nq_histogram_grow(nq_histogram *h, float max_abs, nq_error *err);
/* *dst: src's counts redistributed over n_bins bins on [0, range] (range >
 * 0, at least src's largest value; src's bins must be narrower than dst's
 * and it must have no value beyond its range), each src bin's count split
 * between the dst bins it overlaps in proportion to the overlap, in whole
 * counts (the first takes the rounded-down share); exact zeros stay in
 * bin 0, counts and sums are kept. A histogram grown over one pass, with
 * bins a fraction of the final ones, so comes out close to one filled
 * over a known range. */
nq_status nq_histogram_rebin(const nq_histogram *src, int n_bins, float range, nq_histogram *dst,
                             nq_error *err);
/* dst += src; both must have the same n_bins and range (NQ_ERR_INVALID_ARG). */
nq_status nq_histogram_merge(nq_histogram *dst, const nq_histogram *src, nq_error *err);

/* Clipping modes, numbered as the reference module's Clipping enum. */
typedef enum nq_clip_mode {
    NQ_CLIP_MAX = 1, /* no clipping: the largest |x| */
    NQ_CLIP_MSE = 2, /* minimum mean squared quantization error */
    NQ_CLIP_AA = 3,  /* analytical (ACIQ): Laplace fit, closed-form optimum */
    NQ_CLIP_KL = 4   /* minimum KL divergence (TensorRT-style) */
} nq_clip_mode;

/* "max", "mse", "aa", "kl"; "unknown" otherwise. */
const char *nq_clip_mode_name(nq_clip_mode m);
/* Parses a name as printed above (case-insensitive); 0 if unknown. */
nq_clip_mode nq_clip_mode_from_name(const char *name);

/* Largest representable integer of the quantizer: 2^(n_bits-1)-1 signed,
 * 2^n_bits-1 unsigned; 0 if n_bits is out of range. */
double nq_clip_qmax(int n_bits, int is_signed);

/*
 * Threshold search. Each writes the clipping value into *clip and returns
 * NQ_OK, or NQ_ERR_INVALID_ARG (NULL pointer, n_bits out of range),
 * NQ_ERR_DATA (empty histogram), NQ_ERR_NOMEM. A histogram holding only
 * zeros gives *clip = 0; one with range 0 and non-zero values (nothing to
 * resolve) gives max_abs. Costs (n = n_bins): MAX and AA O(1); KL O(n);
 * MSE and MAE O(n * (32 log2(n) + 66)): about 2 ms at n = 4096.
 */
/* max_abs. */
nq_status nq_clip_max(const nq_histogram *h, float *clip, nq_error *err);
/* argmin over c of E[(Q_c(|x|) - |x|)^2], with values spread uniformly
 * inside each bin (exact zeros kept at 0) and the quantizer's exact
 * rounding and saturation. Searched on a geometric grid of 32 points per
 * octave from range down to one bin, refined twice around the best. */
nq_status nq_clip_mse(const nq_histogram *h, int n_bits, int is_signed, float *clip,
                      nq_error *err);
/* Same with the mean absolute error E|Q_c(|x|) - |x||. */
nq_status nq_clip_mae(const nq_histogram *h, int n_bits, int is_signed, float *clip,
                      nq_error *err);
/* ACIQ: b = mean |x| over non-zero values (Laplace scale), c = t * b with
 * t * e^t = 12 qmax^2 (nq_clip_laplace_ratio), capped at max_abs. */
nq_status nq_clip_aa(const nq_histogram *h, int n_bits, int is_signed, float *clip,
                     nq_error *err);
/* TensorRT-style: for every i in [qmax+1, n_bins], the reference P is
 * bins[0..i) with the counts beyond folded into bin i-1, the candidate Q is
 * bins[0..i) merged into qmax+1 chunks and spread back over the non-zero
 * bins of P; c = i * w for the i of least KL(P || Q). If n_bins < qmax+1
 * the histogram cannot resolve the quantizer: *clip = range. */
nq_status nq_clip_kl(const nq_histogram *h, int n_bits, int is_signed, float *clip,
                     nq_error *err);
/* Dispatches on mode (n_bits / is_signed unused for MAX). */
nq_status nq_clip_threshold(const nq_histogram *h, nq_clip_mode mode, int n_bits,
                            int is_signed, float *clip, nq_error *err);

/* t = alpha / b minimizing 2 b^2 e^(-alpha/b) + alpha^2 / (12 qmax^2), the
 * squared error of a Laplace(0, b) variable quantized with step alpha/qmax
 * and clipped at alpha (uniform rounding-noise model): t e^t = 12 qmax^2.
 * qmax = 2^(M-1) gives ACIQ's published table (2.83, 5.03, 9.89 for M =
 * 2, 4, 8). Returns 0 if qmax <= 0 or not finite. */
double nq_clip_laplace_ratio(double qmax);

#ifdef __cplusplus
}
#endif
#endif
