/* Histograms and clipping thresholds (MAX, MSE, MAE, AA, KL) against known
 * answers: closed forms, brute force on the raw samples, ACIQ's table. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "nnquant/clipping.h"
#include "nqtest.h"

/* ---- fixed-seed generators (state in the caller, none global) ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) /* splitmix64 */
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* uniform in (0, 1) */
static double rng_uniform(rng *r) { return ((double)(rng_next(r) >> 11) + 0.5) * 0x1p-53; }
static double rng_laplace(rng *r, double b)
{
    double u = rng_uniform(r) - 0.5;
    return -b * copysign(log(1.0 - 2.0 * fabs(u)), u);
}
static double rng_gauss(rng *r)
{
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- helpers ---- */

static float max_abs_of(const float *x, int64_t n)
{
    float m = 0.0f;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

/* histogram of x over [0, max |x|] (the two calibration passes) */
static void hist_of(nq_histogram *h, const float *x, int64_t n, int n_bins)
{
    REQUIRE(nq_histogram_init(h, n_bins, max_abs_of(x, n), NULL) == NQ_OK);
    REQUIRE(nq_histogram_add(h, x, n, NULL) == NQ_OK);
}

/* the real quantizer on the raw samples: mean |Q_c(x) - x|^p,
 * step c/qmax, round half to even, saturate at +-qmax */
static double quant_err(const float *x, int64_t n, double c, double qmax, int p)
{
    double s = c / qmax, sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs((double)x[i]), q = nearbyint(a / s);
        if (q > qmax) q = qmax;
        double e = fabs(q * s - a);
        sum += p == 2 ? e * e : e;
    }
    return sum / (double)n;
}

/* brute-force argmin of quant_err over c in [lo, hi]: a grid of 100 then a
 * grid of 50 over +-2 coarse steps */
static double brute_best(const float *x, int64_t n, double qmax, int p, double lo, double hi)
{
    double step = (hi - lo) / 100, best_c = hi, best = INFINITY;
    for (int i = 0; i <= 100; i++) {
        double c = lo + step * i, v = quant_err(x, n, c, qmax, p);
        if (v < best) best = v, best_c = c;
    }
    double a = best_c - 2 * step, fine = 4 * step / 50;
    for (int i = 0; i <= 50; i++) {
        double c = a + fine * i;
        if (c <= 0) continue;
        double v = quant_err(x, n, c, qmax, p);
        if (v < best) best = v, best_c = c;
    }
    return best_c;
}

/* TensorRT's KL calibration written out directly (O(n^2)): returns the
 * number of bins kept. */
static int kl_reference(const uint64_t *bins, int n, int levels)
{
    double *p = malloc(2 * (size_t)n * sizeof *p), *q = p + n, best = INFINITY;
    REQUIRE(p != NULL);
    int best_i = n;
    for (int i = levels; i <= n; i++) {
        double outliers = 0.0, sp = 0.0, sq = 0.0, kl = 0.0;
        for (int j = i; j < n; j++) outliers += (double)bins[j];
        for (int j = 0; j < i; j++) p[j] = (double)bins[j];
        p[i - 1] += outliers;
        int m = i / levels, finite = 1;
        for (int J = 0; J < levels; J++) {
            int a = J * m, b = J == levels - 1 ? i : a + m, z = 0;
            double s = 0.0;
            for (int j = a; j < b; j++) s += (double)bins[j], z += p[j] > 0.0;
            for (int j = a; j < b; j++) q[j] = p[j] > 0.0 ? s / z : 0.0;
        }
        for (int j = 0; j < i; j++) sp += p[j], sq += q[j];
        for (int j = 0; j < i && finite; j++) {
            if (p[j] <= 0.0) continue;
            if (q[j] <= 0.0) finite = 0;
            else kl += p[j] / sp * log((p[j] / sp) / (q[j] / sq));
        }
        if (finite && kl <= best) best = kl, best_i = i;
    }
    free(p);
    return best_i;
}

/* minimum over alpha of the uniform-noise model for N(0, 1):
 * alpha^2 / (12 q^2) + 2 [(1 + alpha^2) Q(alpha) - alpha phi(alpha)] */
static double gauss_model_best(double q)
{
    double best = INFINITY, best_a = 0.0;
    for (double a = 0.5; a < 8.0; a += 1e-4) {
        double tail = 0.5 * erfc(a / sqrt(2.0)), phi = exp(-0.5 * a * a) / sqrt(6.283185307179586);
        double e = a * a / (12 * q * q) + 2 * ((1 + a * a) * tail - a * phi);
        if (e < best) best = e, best_a = a;
    }
    return best_a;
}

static double ms_since(clock_t t0) { return 1000.0 * (double)(clock() - t0) / CLOCKS_PER_SEC; }

/* ---- tests ---- */

static void test_modes(void)
{
    CHECK(strcmp(nq_clip_mode_name(NQ_CLIP_MAX), "max") == 0);
    CHECK(strcmp(nq_clip_mode_name(NQ_CLIP_KL), "kl") == 0);
    CHECK(strcmp(nq_clip_mode_name((nq_clip_mode)9), "unknown") == 0);
    CHECK(nq_clip_mode_from_name("MSE") == NQ_CLIP_MSE);
    CHECK(nq_clip_mode_from_name("aa") == NQ_CLIP_AA);
    CHECK(nq_clip_mode_from_name("Kl") == NQ_CLIP_KL);
    CHECK(nq_clip_mode_from_name("ms") == 0);
    CHECK(nq_clip_mode_from_name("msee") == 0);
    CHECK(nq_clip_mode_from_name(NULL) == 0);
    CHECK(NQ_CLIP_MAX == 1 && NQ_CLIP_MSE == 2 && NQ_CLIP_AA == 3 && NQ_CLIP_KL == 4);
    CHECK(nq_clip_qmax(8, 1) == 127.0);
    CHECK(nq_clip_qmax(8, 0) == 255.0);
    CHECK(nq_clip_qmax(2, 1) == 1.0);
    CHECK(nq_clip_qmax(4, 1) == 7.0);
    CHECK(nq_clip_qmax(1, 0) == 1.0);
    CHECK(nq_clip_qmax(1, 1) == 0.0);
    CHECK(nq_clip_qmax(33, 0) == 0.0);
}

static void test_histogram_basic(void)
{
    nq_histogram h;
    nq_error err = {0};
    CHECK(nq_histogram_init(&h, 0, 1.0f, &err) == NQ_ERR_INVALID_ARG);
    nq_histogram_free(&h);
    CHECK(nq_histogram_init(&h, 16, -1.0f, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_histogram_init(&h, 16, NAN, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_histogram_init(&h, 16, INFINITY, &err) == NQ_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "range") != NULL);
    CHECK(nq_histogram_init(NULL, 16, 1.0f, &err) == NQ_ERR_INVALID_ARG);

    REQUIRE(nq_histogram_init(&h, 4, 1.0f, &err) == NQ_OK);
    const float x[] = {0.0f, -0.0f, 0.5f, -1.0f, 1.0f, 2.0f, 0.2499f, -0.25f};
    CHECK_OK(nq_histogram_add(&h, x, 8, &err));
    CHECK(h.bins[0] == 3 && h.bins[1] == 1 && h.bins[2] == 1 && h.bins[3] == 3);
    CHECK(h.count == 8 && h.n_zero == 2 && h.n_over == 1);
    CHECK(h.max_abs == 2.0f);
    CHECK_NEAR(h.sum_abs, 5.0 - 0.0001, 1e-6);
    CHECK_OK(nq_histogram_add(&h, x, 0, &err)); /* empty batch is fine */
    CHECK(nq_histogram_add(&h, NULL, 3, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_histogram_add(&h, x, -1, &err) == NQ_ERR_INVALID_ARG);
    nq_histogram_reset(&h);
    CHECK(h.count == 0 && h.bins[3] == 0 && h.max_abs == 0.0f && h.n_bins == 4);
    nq_histogram_free(&h);
    CHECK(h.bins == NULL && h.n_bins == 0);
    nq_histogram_free(&h); /* twice is harmless */
    nq_histogram_free(NULL);
    CHECK(nq_histogram_add(&h, x, 1, &err) == NQ_ERR_INVALID_ARG);

    /* range 0: an activation that is always zero */
    REQUIRE(nq_histogram_init(&h, 8, 0.0f, &err) == NQ_OK);
    CHECK_OK(nq_histogram_add(&h, x, 2, &err));
    CHECK(h.bins[0] == 2 && h.n_over == 0);
    float c = -1.0f;
    for (int m = NQ_CLIP_MAX; m <= NQ_CLIP_KL; m++) {
        c = -1.0f;
        CHECK_OK(nq_clip_threshold(&h, (nq_clip_mode)m, 8, 1, &c, &err));
        CHECK(c == 0.0f);
    }
    nq_histogram_free(&h);
}

static void test_histogram_bad_values(void)
{
    nq_histogram h;
    nq_error err = {0};
    REQUIRE(nq_histogram_init(&h, 64, 4.0f, &err) == NQ_OK);
    float good[5] = {1.0f, -2.0f, 3.5f, 0.0f, 4.0f};
    CHECK_OK(nq_histogram_add(&h, good, 5, &err));
    uint64_t before[64];
    memcpy(before, h.bins, sizeof before);
    nq_histogram saved = h;

    float bad[6] = {0.5f, -1.5f, 2.5f, NAN, 1.0f, 3.0f};
    CHECK(nq_histogram_add(&h, bad, 6, &err) == NQ_ERR_DATA);
    CHECK(strstr(err.msg, "3") != NULL && strstr(err.msg, "NaN") != NULL);
    CHECK(memcmp(before, h.bins, sizeof before) == 0);
    CHECK(h.count == saved.count && h.sum_abs == saved.sum_abs && h.max_abs == saved.max_abs);
    CHECK(h.n_zero == saved.n_zero && h.n_over == saved.n_over);

    bad[3] = 1.0f;
    bad[5] = -INFINITY;
    CHECK(nq_histogram_add(&h, bad, 6, &err) == NQ_ERR_DATA);
    CHECK(strstr(err.msg, "infinite") != NULL);
    CHECK(memcmp(before, h.bins, sizeof before) == 0 && h.count == saved.count);
    bad[0] = NAN; /* first element */
    CHECK(nq_histogram_add(&h, bad, 1, &err) == NQ_ERR_DATA);
    CHECK(h.count == saved.count);
    nq_histogram_free(&h);
}

static void test_histogram_split(void)
{
    enum { N = 100003 };
    static float x[N];
    rng r = {42};
    for (int i = 0; i < N; i++) x[i] = (float)rng_gauss(&r);
    x[17] = 0.0f;
    float range = max_abs_of(x, N) * 0.9f; /* some values over the range */
    nq_histogram one, parts, a, b;
    REQUIRE(nq_histogram_init(&one, 1000, range, NULL) == NQ_OK);
    REQUIRE(nq_histogram_init(&parts, 1000, range, NULL) == NQ_OK);
    REQUIRE(nq_histogram_init(&a, 1000, range, NULL) == NQ_OK);
    REQUIRE(nq_histogram_init(&b, 1000, range, NULL) == NQ_OK);
    CHECK_OK(nq_histogram_add(&one, x, N, NULL));
    int64_t cuts[] = {0, 1, 8, 1000, 1001, 50000, N};
    for (int k = 0; k + 1 < (int)(sizeof cuts / sizeof cuts[0]); k++)
        CHECK_OK(nq_histogram_add(&parts, x + cuts[k], cuts[k + 1] - cuts[k], NULL));
    CHECK(memcmp(one.bins, parts.bins, 1000 * sizeof one.bins[0]) == 0);
    CHECK(one.count == parts.count && one.count == N);
    CHECK(one.n_zero == parts.n_zero && one.n_zero >= 1);
    CHECK(one.n_over == parts.n_over && one.n_over > 0);
    CHECK(one.max_abs == parts.max_abs);
    CHECK_NEAR(one.sum_abs, parts.sum_abs, 1e-9 * one.sum_abs);
    uint64_t total = 0;
    for (int i = 0; i < 1000; i++) total += one.bins[i];
    CHECK(total == N);

    /* merge of two halves == one */
    CHECK_OK(nq_histogram_add(&a, x, 40000, NULL));
    CHECK_OK(nq_histogram_add(&b, x + 40000, N - 40000, NULL));
    CHECK_OK(nq_histogram_merge(&a, &b, NULL));
    CHECK(memcmp(one.bins, a.bins, 1000 * sizeof one.bins[0]) == 0);
    CHECK(a.count == one.count && a.n_zero == one.n_zero && a.n_over == one.n_over);
    CHECK(a.max_abs == one.max_abs);
    CHECK_NEAR(a.sum_abs, one.sum_abs, 1e-9 * one.sum_abs);
    /* the same search on both gives the same threshold */
    float c1, c2;
    CHECK_OK(nq_clip_mse(&one, 8, 1, &c1, NULL));
    CHECK_OK(nq_clip_mse(&parts, 8, 1, &c2, NULL));
    CHECK(c1 == c2);
    nq_histogram other;
    REQUIRE(nq_histogram_init(&other, 999, range, NULL) == NQ_OK);
    nq_error err = {0};
    CHECK(nq_histogram_merge(&a, &other, &err) == NQ_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "999") != NULL);
    nq_histogram_free(&other);
    nq_histogram_free(&one);
    nq_histogram_free(&parts);
    nq_histogram_free(&a);
    nq_histogram_free(&b);
}

/* nq_histogram_grow merges bins pairwise as the range doubles; a fine
 * histogram grown over one pass and rebinned onto [0, max |x|] is the
 * directly filled one up to the fine bins that straddle an edge, and gives
 * the same MSE threshold within a fine bin. */
static void test_histogram_grow_rebin(void)
{
    /* exact merge: values at bin centers of 8 bins over [0, 1] */
    nq_histogram h, fin, direct;
    nq_error err = {0};
    REQUIRE(nq_histogram_init(&h, 8, 1.0f, NULL) == NQ_OK);
    const float v[] = {0.0625f, 0.1875f, 0.1875f, 0.4375f, 0.9375f, -0.6875f};
    CHECK_OK(nq_histogram_add(&h, v, 6, NULL));
    CHECK_OK(nq_histogram_grow(&h, 3.0f, NULL)); /* range 4: bins of 0.5 */
    CHECK(h.range == 4.0f && h.n_bins == 8 && h.count == 6 && h.n_over == 0);
    const uint64_t want[8] = {4, 2, 0, 0, 0, 0, 0, 0};
    CHECK(memcmp(h.bins, want, sizeof want) == 0);
    const float big = 3.0f;
    CHECK_OK(nq_histogram_add(&h, &big, 1, NULL));
    CHECK(h.bins[6] == 1);
    CHECK(nq_histogram_grow(&h, INFINITY, &err) == NQ_ERR_INVALID_ARG);
    nq_histogram_free(&h);
    /* range 0 (zeros only) takes the new range at once */
    REQUIRE(nq_histogram_init(&h, 8, 0.0f, NULL) == NQ_OK);
    const float zeros[3] = {0};
    CHECK_OK(nq_histogram_add(&h, zeros, 3, NULL));
    CHECK_OK(nq_histogram_grow(&h, 5.0f, NULL));
    CHECK(h.range == 5.0f && h.bins[0] == 3);
    nq_histogram_free(&h);

    /* one pass over Gaussian data in chunks whose max grows */
    enum { N = 100003, FINE = 16 * NQ_HISTOGRAM_BINS };
    static float x[N];
    rng r = {7};
    for (int i = 0; i < N; i++) x[i] = (float)rng_gauss(&r) * (i < 1000 ? 0.3f : 1.0f);
    x[5] = 0.0f;
    REQUIRE(nq_histogram_init(&h, FINE, 0.0f, NULL) == NQ_OK);
    for (int64_t k = 0; k < N; k += 1000) {
        int64_t m = N - k < 1000 ? N - k : 1000;
        CHECK_OK(nq_histogram_grow(&h, max_abs_of(x + k, m), NULL));
        CHECK_OK(nq_histogram_add(&h, x + k, m, NULL));
    }
    const float mx = max_abs_of(x, N);
    CHECK(h.range >= mx && h.range < 2 * mx + 1e-6f && h.n_over == 0);
    CHECK_OK(nq_histogram_rebin(&h, NQ_HISTOGRAM_BINS, mx, &fin, &err));
    hist_of(&direct, x, N, NQ_HISTOGRAM_BINS);
    CHECK(fin.count == direct.count && fin.n_zero == direct.n_zero && fin.max_abs == direct.max_abs);
    CHECK_NEAR(fin.sum_abs, direct.sum_abs, 1e-9 * direct.sum_abs);
    /* cumulative counts up to each edge: off by at most the fine bin across it */
    const double wf = (double)h.range / FINE, wd = (double)mx / NQ_HISTOGRAM_BINS;
    uint64_t cf = 0, cd = 0, worst = 0;
    int bad = 0;
    for (int j = 0; j < NQ_HISTOGRAM_BINS; j++) {
        cf += fin.bins[j];
        cd += direct.bins[j];
        int64_t fi = (int64_t)((j + 1) * wd / wf);
        uint64_t slack = fi < FINE ? h.bins[fi] : 0, diff = cf > cd ? cf - cd : cd - cf;
        bad += diff > slack + 1;
        worst = diff > worst ? diff : worst;
    }
    CHECK(bad == 0 && cf == cd);
    float c_fin, c_direct;
    CHECK_OK(nq_clip_mse(&fin, 8, 1, &c_fin, NULL));
    CHECK_OK(nq_clip_mse(&direct, 8, 1, &c_direct, NULL));
    CHECK(fabs(c_fin - c_direct) <= 2.0 * wf);
    printf("grown + rebinned: MSE threshold %.5f vs %.5f filled directly (largest cumulative gap %llu of %d)\n",
           (double)c_fin, (double)c_direct, (unsigned long long)worst, N);
    /* rebinning onto bins narrower than the source, or below its largest value, is refused */
    nq_histogram no;
    CHECK(nq_histogram_rebin(&h, FINE * 2, mx, &no, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_histogram_rebin(&h, 16, mx * 0.5f, &no, &err) == NQ_ERR_INVALID_ARG);
    nq_histogram_free(&h);
    nq_histogram_free(&fin);
    nq_histogram_free(&direct);
}

static void test_errors(void)
{
    nq_histogram h;
    nq_error err = {0};
    float c = 0.0f;
    REQUIRE(nq_histogram_init(&h, 256, 1.0f, &err) == NQ_OK);
    for (int m = NQ_CLIP_MAX; m <= NQ_CLIP_KL; m++) {
        CHECK(nq_clip_threshold(&h, (nq_clip_mode)m, 8, 1, &c, &err) == NQ_ERR_DATA);
        CHECK(strstr(err.msg, "empty") != NULL);
    }
    const float x[3] = {0.1f, -0.7f, 1.0f};
    CHECK_OK(nq_histogram_add(&h, x, 3, &err));
    CHECK(nq_clip_mse(&h, 1, 1, &c, &err) == NQ_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "1 bits") != NULL);
    CHECK(nq_clip_kl(&h, 0, 0, &c, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_clip_aa(&h, 33, 0, &c, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_clip_mae(&h, 40, 1, &c, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_clip_mse(NULL, 8, 1, &c, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_clip_mse(&h, 8, 1, NULL, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_clip_threshold(&h, (nq_clip_mode)0, 8, 1, &c, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_clip_threshold(&h, (nq_clip_mode)7, 8, 1, &c, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_clip_threshold(&h, (nq_clip_mode)-1, 8, 1, &c, &err) == NQ_ERR_INVALID_ARG);
    /* the max is the max, whatever the bits */
    CHECK_OK(nq_clip_threshold(&h, NQ_CLIP_MAX, 0, 0, &c, &err));
    CHECK(c == 1.0f);
    /* 16 bits, 256 bins: KL cannot resolve the quantizer -> the range */
    CHECK_OK(nq_clip_kl(&h, 16, 1, &c, &err));
    CHECK(c == 1.0f);
    /* all thresholds within [0, range] */
    for (int m = NQ_CLIP_MAX; m <= NQ_CLIP_KL; m++) {
        CHECK_OK(nq_clip_threshold(&h, (nq_clip_mode)m, 4, 0, &c, &err));
        CHECK(c > 0.0f && c <= 1.0f);
    }
    nq_histogram_free(&h);
}

static void test_max(void)
{
    enum { N = 5000 };
    static float x[N];
    rng r = {7};
    for (int i = 0; i < N; i++) x[i] = (float)rng_laplace(&r, 0.3);
    x[1234] = -9.75f;
    nq_histogram h;
    /* range from a first pass that saw more (e.g. another subset) */
    REQUIRE(nq_histogram_init(&h, 512, 12.0f, NULL) == NQ_OK);
    CHECK_OK(nq_histogram_add(&h, x, N, NULL));
    float c = 0.0f;
    CHECK_OK(nq_clip_max(&h, &c, NULL));
    CHECK(c == 9.75f);
    nq_histogram_free(&h);
}

/* Uniform density on [0, 1]: the exact squared error is E(c) = c^3/(12 q^2)
 * + (1 - c)^3 / 3, minimal at c = 2q / (2q + 1) (the last cell ends at 1). */
static void test_mse_uniform(void)
{
    enum { K = 1 << 20 };
    static float x[K];
    for (int k = 0; k < K; k++) x[k] = (float)((k + 0.5) / K);
    nq_histogram h;
    REQUIRE(nq_histogram_init(&h, 2048, 1.0f, NULL) == NQ_OK);
    CHECK_OK(nq_histogram_add(&h, x, K, NULL));
    const struct { int bits, is_signed; } cfg[] = {{2, 1}, {3, 1}, {4, 1}, {8, 1}, {8, 0}, {4, 0}};
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        double q = nq_clip_qmax(cfg[i].bits, cfg[i].is_signed), want = 2 * q / (2 * q + 1);
        float c = 0.0f;
        CHECK_OK(nq_clip_mse(&h, cfg[i].bits, cfg[i].is_signed, &c, NULL));
        CHECK_NEAR(c, want, 1e-4);
        /* MAE: c^2 / (4 q) + (1 - c)^2 / 2, the same minimum */
        CHECK_OK(nq_clip_mae(&h, cfg[i].bits, cfg[i].is_signed, &c, NULL));
        CHECK_NEAR(c, want, 1e-4);
    }
    float c8 = 0.0f;
    CHECK_OK(nq_clip_mse(&h, 8, 1, &c8, NULL));
    CHECK(c8 > 0.995f); /* no clipping benefit at 8 bits */
    /* wide quantizers (the fine-step branch past 2^40 steps): no clipping */
    const int wide[][2] = {{16, 1}, {24, 1}, {31, 0}, {32, 1}, {32, 0}};
    for (int i = 0; i < 5; i++) {
        CHECK_OK(nq_clip_mse(&h, wide[i][0], wide[i][1], &c8, NULL));
        CHECK(c8 >= 0.9995f);
        CHECK_OK(nq_clip_mae(&h, wide[i][0], wide[i][1], &c8, NULL));
        CHECK(c8 >= 0.9995f);
    }
    nq_histogram_free(&h);

    /* a random sample: same answer within the sampling noise */
    rng r = {2024};
    for (int k = 0; k < K; k++) x[k] = (float)rng_uniform(&r);
    hist_of(&h, x, K, 2048);
    float c = 0.0f;
    CHECK_OK(nq_clip_mse(&h, 8, 1, &c, NULL));
    CHECK_NEAR(c, 254.0 / 255.0, 1e-3);
    CHECK_OK(nq_clip_mse(&h, 4, 1, &c, NULL));
    CHECK_NEAR(c, 14.0 / 15.0, 2e-3);
    nq_histogram_free(&h);
}

/* MSE (or MAE, p = 1) against brute force on the raw samples with the real
 * quantizer, over c in [lo, hi]; returns the threshold. */
static float check_vs_brute(const char *what, const float *x, int64_t n, int bits, int p,
                            double lo, double hi)
{
    nq_histogram h;
    hist_of(&h, x, n, 4096);
    double q = nq_clip_qmax(bits, 1);
    float c = 0.0f;
    CHECK_OK(p == 2 ? nq_clip_mse(&h, bits, 1, &c, NULL) : nq_clip_mae(&h, bits, 1, &c, NULL));
    double cb = brute_best(x, n, q, p, lo, hi);
    double eh = quant_err(x, n, c, q, p), eb = quant_err(x, n, cb, q, p);
    if (!(fabs(c - cb) <= 0.01 * cb && eh <= 1.0005 * eb))
        fprintf(stderr, "%s %d bits p=%d: clip %.4f, brute force %.4f (err %.6g vs %.6g)\n",
                what, bits, p, c, cb, eh, eb);
    CHECK(fabs(c - cb) <= 0.01 * cb);
    CHECK(eh <= 1.0005 * eb);
    nq_histogram_free(&h);
    return c;
}

/* Heavy-tailed random samples plus far outliers: MSE clips far below the
 * outliers when that pays, at the threshold brute force finds. */
static void test_mse_outliers(void)
{
    enum { N = 200000 };
    static float x[N];
    rng r = {99};
    for (int i = 0; i < N; i++) x[i] = (float)rng_laplace(&r, 1.0);
    double b = 0.0; /* sample b, without the outliers about to replace x[0], x[1] */
    for (int i = 2; i < N; i++) b += fabs(x[i]);
    b /= N - 2;
    x[0] = 100.0f, x[1] = -100.0f;
    float c = check_vs_brute("laplace", x, N, 2, 2, 0.2, 6.0);
    CHECK(c < 0.05f * 100.0f);
    c = check_vs_brute("laplace", x, N, 4, 2, 1.0, 12.0);
    CHECK(c < 0.1f * 100.0f);
    /* ACIQ says 4.807 b; this sample's few tail values move it ~3% */
    CHECK_NEAR(c / b, nq_clip_laplace_ratio(7.0), 0.05 * nq_clip_laplace_ratio(7.0));
    c = check_vs_brute("laplace", x, N, 4, 1, 1.0, 12.0);
    CHECK(c < 0.1f * 100.0f);
    /* 8 bits: 2 outliers in 2e5 are not rare enough to be clipped to the
     * bulk. Noise c^2 / (12 q^2) for all values + 2 (100 - c)^2 / N is least
     * at c = (4 * 100 / N) / (1 / (6 q^2) + 4 / N) = 65.9 */
    c = check_vs_brute("laplace", x, N, 8, 2, 20.0, 100.0);
    CHECK_NEAR(c, 65.93, 0.05 * 65.93);

    for (int i = 0; i < N; i++) x[i] = (float)rng_gauss(&r);
    x[5] = 30.0f, x[6] = -30.0f;
    c = check_vs_brute("gauss", x, N, 4, 2, 0.5, 6.0);
    CHECK(c < 0.1f * 30.0f);
    x[5] = 12.0f, x[6] = (float)rng_gauss(&r); /* here 5.9 by the same balance */
    c = check_vs_brute("gauss", x, N, 8, 2, 2.0, 12.0);
    CHECK(c < 0.6f * 12.0f);
}

/* inverse of the standard normal CDF for p in (0.5, 1) (Newton on erfc) */
static double norm_quantile(double p)
{
    double z = sqrt(-2.0 * log(1.0 - p)) * 0.8;
    for (int it = 0; it < 60; it++) {
        double f = 1.0 - 0.5 * erfc(z / sqrt(2.0)) - p;
        double dz = f / (exp(-0.5 * z * z) / sqrt(6.283185307179586));
        z -= dz;
        if (fabs(dz) < 1e-13) break;
    }
    return z;
}

/* Noise-free samples (the N quantiles of |x|): MSE lands on the analytical
 * optimum of the uniform-noise model at 8 bits (where that model holds). */
static void test_mse_analytic(void)
{
    enum { N = 1 << 20 };
    static float x[N];
    nq_histogram h;
    float c = 0.0f;
    for (int k = 0; k < N; k++) x[k] = (float)(-log(1.0 - (k + 0.5) / N)); /* Exp(1) = |Laplace(1)| */
    hist_of(&h, x, N, 4096);
    CHECK_OK(nq_clip_mse(&h, 8, 1, &c, NULL));
    CHECK_NEAR(c, nq_clip_laplace_ratio(127.0), 0.01 * nq_clip_laplace_ratio(127.0));
    CHECK_OK(nq_clip_mse(&h, 8, 0, &c, NULL));
    CHECK_NEAR(c, nq_clip_laplace_ratio(255.0), 0.01 * nq_clip_laplace_ratio(255.0));
    CHECK_OK(nq_clip_mse(&h, 4, 1, &c, NULL)); /* exact model vs uniform noise: 0.3% */
    CHECK_NEAR(c, nq_clip_laplace_ratio(7.0), 0.03 * nq_clip_laplace_ratio(7.0));
    nq_histogram_free(&h);

    for (int k = 0; k < N; k++) x[k] = (float)norm_quantile(0.5 + 0.5 * (k + 0.5) / N);
    hist_of(&h, x, N, 4096);
    CHECK_OK(nq_clip_mse(&h, 8, 1, &c, NULL));
    CHECK_NEAR(c, gauss_model_best(127.0), 0.01 * gauss_model_best(127.0));
    CHECK_OK(nq_clip_mse(&h, 4, 1, &c, NULL));
    CHECK_NEAR(c, gauss_model_best(7.0), 0.03 * gauss_model_best(7.0));
    nq_histogram_free(&h);
}

/* ACIQ: t e^t = 12 qmax^2; with ACIQ's own level count (qmax = 2^(M-1))
 * the published 2.83 / 3.89 / 5.03 / 9.89 for M = 2 / 3 / 4 / 8 bits. */
static void test_aa(void)
{
    const double table[][2] = {{2, 2.83}, {3, 3.89}, {4, 5.03}, {8, 9.89}};
    for (int i = 0; i < 4; i++) {
        double q = ldexp(1.0, (int)table[i][0] - 1), t = nq_clip_laplace_ratio(q);
        CHECK_NEAR(t, table[i][1], 0.01); /* the paper rounds or truncates */
        CHECK_NEAR(t * exp(t), 12 * q * q, 1e-9 * 12 * q * q);
    }
    /* nnquant's signed 4 bits: qmax = 7, t e^t = 588, t = 4.807 */
    CHECK_NEAR(nq_clip_laplace_ratio(7.0), 4.807, 0.001);
    CHECK(nq_clip_laplace_ratio(0.0) == 0.0 && nq_clip_laplace_ratio(NAN) == 0.0);

    enum { N = 200000 };
    static float x[2 * N];
    rng r = {5};
    for (int i = 0; i < N; i++) x[i] = (float)rng_laplace(&r, 1.0);
    nq_histogram h;
    hist_of(&h, x, N, 2048);
    float c = 0.0f;
    CHECK_OK(nq_clip_aa(&h, 4, 1, &c, NULL));
    CHECK_NEAR(c, 4.807, 0.015 * 4.807); /* b estimated within ~0.3% */
    CHECK_NEAR(c, 5.03, 0.06 * 5.03);    /* ACIQ's 4-bit entry (16 levels) */
    CHECK_OK(nq_clip_aa(&h, 8, 1, &c, NULL));
    CHECK_NEAR(c, nq_clip_laplace_ratio(127.0), 0.015 * 9.88);
    CHECK_OK(nq_clip_aa(&h, 2, 1, &c, NULL));
    CHECK_NEAR(c, nq_clip_laplace_ratio(1.0), 0.015 * 1.87);
    CHECK_OK(nq_clip_threshold(&h, NQ_CLIP_AA, 4, 1, &c, NULL));
    CHECK_NEAR(c, 4.807, 0.015 * 4.807);
    nq_histogram_free(&h);

    /* half the values exactly zero (dead ReLU): same Laplace fit */
    memset(x + N, 0, N * sizeof x[0]);
    hist_of(&h, x, 2 * N, 2048);
    float c0 = 0.0f;
    CHECK_OK(nq_clip_aa(&h, 4, 1, &c0, NULL));
    CHECK_NEAR(c0, 4.807, 0.015 * 4.807);
    nq_histogram_free(&h);

    /* never above the largest value */
    const float ones[4] = {1.0f, -1.0f, 1.0f, 0.5f};
    hist_of(&h, ones, 4, 64);
    CHECK_OK(nq_clip_aa(&h, 8, 1, &c, NULL));
    CHECK(c == 1.0f);
    nq_histogram_free(&h);
}

/* KL: identical to TensorRT's procedure written out directly; on N(0, 1)
 * at 8 bits it keeps ~4.1 to 4.9 sigma (measured over sample sizes 1e5 to
 * 4e6, 2048 and 4096 bins): the merge loss of 128 chunks, ~(c/128)^2 / 24,
 * only balances the fold-in penalty of the clipped tail, ~Q(c) ln(1 / (c w)),
 * when the tail mass is ~1e-5, i.e. past 4 sigma. */
static void test_kl(void)
{
    enum { N = 1000000 };
    static float x[N];
    rng r = {31337};
    for (int i = 0; i < N; i++) x[i] = (float)rng_gauss(&r);
    nq_histogram h;
    hist_of(&h, x, N, 2048);
    const double w = h.range / 2048.0;
    float c = 0.0f;
    CHECK_OK(nq_clip_kl(&h, 8, 1, &c, NULL));
    CHECK_NEAR(c, kl_reference(h.bins, 2048, 128) * w, 1e-5);
    CHECK(c > 4.0f && c < 5.0f);
    CHECK(c < h.max_abs);
    CHECK_OK(nq_clip_kl(&h, 8, 0, &c, NULL));
    CHECK_NEAR(c, kl_reference(h.bins, 2048, 256) * w, 1e-5);
    CHECK(c > 4.0f && c <= h.max_abs);
    /* 4 bits (8 levels): ~3.4 to 3.7 sigma by the same balance */
    CHECK_OK(nq_clip_kl(&h, 4, 1, &c, NULL));
    CHECK_NEAR(c, kl_reference(h.bins, 2048, 8) * w, 1e-5);
    CHECK(c > 3.2f && c < 3.8f);
    nq_histogram_free(&h);

    /* heavy tail: Laplace with outliers, 4096 bins, against the reference */
    for (int i = 0; i < N / 4; i++) x[i] = (float)rng_laplace(&r, 1.0);
    x[0] = 40.0f;
    hist_of(&h, x, N / 4, 4096);
    CHECK_OK(nq_clip_kl(&h, 8, 1, &c, NULL));
    CHECK_NEAR(c, kl_reference(h.bins, 4096, 128) * (h.range / 4096.0), 1e-5);
    CHECK(c < 0.5f * 40.0f);
    nq_histogram_free(&h);

    /* sparse data (empty chunks, infinite candidates): still the reference */
    const float edge[3] = {0.25f, 1.0f, -4.0f};
    hist_of(&h, edge, 3, 256);
    CHECK_OK(nq_clip_kl(&h, 4, 1, &c, NULL));
    CHECK_NEAR(c, kl_reference(h.bins, 256, 8) * (4.0 / 256), 1e-6);
    nq_histogram_free(&h);
}

/* max(x, 0): what a following Relu passes on; negative values are zeros */
static void test_histogram_relu(void)
{
    nq_histogram h;
    nq_error err = {0};
    REQUIRE(nq_histogram_init(&h, 4, 1.0f, &err) == NQ_OK);
    const float x[] = {-3.0f, -0.5f, 0.0f, 0.5f, 1.0f, 2.0f, 0.2499f, -0.25f};
    CHECK_OK(nq_histogram_add_relu(&h, x, 8, &err));
    CHECK(h.bins[0] == 5 && h.bins[1] == 0 && h.bins[2] == 1 && h.bins[3] == 2);
    CHECK(h.count == 8 && h.n_zero == 4 && h.n_over == 1);
    CHECK(h.max_abs == 2.0f); /* not 3: the -3 is cut by the Relu */
    CHECK_NEAR(h.sum_abs, 3.7499, 1e-6);
    nq_histogram saved = h;
    const float bad[3] = {-1.0f, 0.5f, NAN}; /* a NaN is no zero to the Relu pass */
    CHECK(nq_histogram_add_relu(&h, bad, 3, &err) == NQ_ERR_DATA);
    CHECK(strstr(err.msg, "NaN") != NULL);
    CHECK(h.count == saved.count && h.bins[0] == 5 && h.bins[2] == 1 && h.n_zero == saved.n_zero);
    nq_histogram_free(&h);
}

/* Exact zeros (what a Relu cut) do not move the KL threshold: they are
 * quantized exactly whatever it is. */
static void test_kl_zeros(void)
{
    enum { N = 200000 };
    static float x[2 * N];
    rng r = {77};
    for (int i = 0; i < N; i++) x[i] = (float)fabs(rng_gauss(&r));
    nq_histogram a, b;
    nq_error err = {0};
    float range = max_abs_of(x, N);
    REQUIRE(nq_histogram_init(&a, 2048, range, &err) == NQ_OK);
    REQUIRE(nq_histogram_init(&b, 2048, range, &err) == NQ_OK);
    CHECK_OK(nq_histogram_add(&a, x, N, &err));
    for (int i = N; i < 2 * N; i++) x[i] = -x[i - N]; /* as many negatives, zeros after the Relu */
    CHECK_OK(nq_histogram_add_relu(&b, x, 2 * N, &err));
    CHECK(b.n_zero == N);
    for (int bits = 4; bits <= 8; bits += 4)
        for (int sgn = 0; sgn <= 1; sgn++) {
            float ca = 0, cb = 0;
            CHECK_OK(nq_clip_kl(&a, bits, sgn, &ca, &err));
            CHECK_OK(nq_clip_kl(&b, bits, sgn, &cb, &err));
            CHECK(ca == cb && ca > 0.5f);
        }
    nq_histogram_free(&a);
    nq_histogram_free(&b);
}

/* One search per mode on a 4096-bin histogram: milliseconds each. */
static void test_timing(void)
{
    enum { N = 200000 };
    static float x[N];
    rng r = {11};
    for (int i = 0; i < N; i++) x[i] = (float)rng_laplace(&r, 1.0);
    x[3] = 100.0f;
    nq_histogram h;
    hist_of(&h, x, N, 4096);
    const struct { nq_clip_mode m; int bits, is_signed; } cfg[] = {
        {NQ_CLIP_MSE, 8, 1}, {NQ_CLIP_MSE, 8, 0}, {NQ_CLIP_MSE, 4, 1}, {NQ_CLIP_MSE, 2, 1},
        {NQ_CLIP_KL, 8, 1},  {NQ_CLIP_KL, 8, 0},  {NQ_CLIP_AA, 8, 1},  {NQ_CLIP_MAX, 8, 1}};
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        float c = 0.0f;
        clock_t t0 = clock();
        int reps = 5;
        for (int i = 0; i < reps; i++)
            CHECK_OK(nq_clip_threshold(&h, cfg[k].m, cfg[k].bits, cfg[k].is_signed, &c, NULL));
        double ms = ms_since(t0) / reps;
        printf("%-3s %d bits %-8s 4096 bins: %.3f ms, clip %.4f\n", nq_clip_mode_name(cfg[k].m),
               cfg[k].bits, cfg[k].is_signed ? "signed" : "unsigned", ms, c);
        CHECK(ms < 100.0); /* ~10x above the budget: a sanity bound even in Debug builds */
    }
    nq_histogram_free(&h);
}

int main(void)
{
    test_modes();
    test_histogram_basic();
    test_histogram_bad_values();
    test_histogram_relu();
    test_histogram_split();
    test_histogram_grow_rebin();
    test_errors();
    test_max();
    test_mse_uniform();
    test_mse_outliers();
    test_mse_analytic();
    test_aa();
    test_kl();
    test_kl_zeros();
    test_timing();
    TEST_MAIN_END();
}
