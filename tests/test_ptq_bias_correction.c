/* Empirical bias correction (nq_bias_correction):
 *  - known answer: Gemm "fc" with unbalanced rows on inputs of nonzero
 *    mean that the input Quantizer represents exactly; per tensor and per
 *    channel, the corrected bias is the one computed here from the weights,
 *    the scales and the data:
 *      b'_c = b_c - (sum_k (Wq - W s_w)[c,k] E[x_int,k]
 *                    + sum_k W s_w[c,k] (E[x_int,k] - E[x s_in,k])
 *                    + round(b_c sb_c) - b_c sb_c) / sb_c
 *    and the mean output error on the calibration data, which before is
 *    several accumulator units, is at most the bias rounding (0.5) after;
 *  - on a residual graph of two layers, the single pass (whole set as one
 *    batch, each output corrected in place) moves every bias exactly as
 *    the fallback of one pass per layer does;
 *  - the whole pipeline with bias_correction on a residual graph runs and
 *    stays close to the float outputs; an empty calibration set fails. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nnquant/data.h"
#include "nnquant/ptq.h"
#include "nnquant/run.h"
#include "nqtest.h"
#include "ptq/ptq_internal.h"
#include "ptq_testutil.h"

#define NF 4 /* features */
#define NO 3 /* outputs */
/* unbalanced rows of the residual graph's W1: coarse rounding on the small ones */
static const float w1_gain[NF] = {1.0f, 0.5f, 0.1f, 0.03f};

/* x[N,4] -> Gemm "fc" (3 outputs, rows of gain 1, 0.3, 0.05) -> y */
static nq_graph *gemm_graph(uint64_t seed)
{
    rng r = {seed};
    nq_graph *g = nq_graph_create("bc_gemm");
    REQUIRE(g != NULL);
    int64_t xd[2] = {-1, NF};
    int x = add_input(g, "x", 2, xd);
    const float gain[NO] = {1.0f, 0.3f, 0.05f};
    int64_t wd[2] = {NO, NF}, bd[1] = {NO};
    int w = rand_init(g, "W", 2, wd, &r, gain, NULL, NO), b = rand_init(g, "b", 1, bd, &r, NULL, NULL, 0);
    int y = val(g, "y");
    gemm(g, "fc", x, w, b, y, 1);
    REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);
    return g;
}

/* n samples k/127 (k in 0..127, mean about 0.5), the first one 1 so that
 * the range is exactly [0, 1]: the input Quantizer (scale 127) is exact. */
static void make_dataset(nq_dataset *d, int64_t n, int nf, uint64_t seed)
{
    rng r = {seed};
    int64_t dims[2] = {n, nf};
    memset(d, 0, sizeof *d);
    REQUIRE(nq_tensor_alloc(&d->samples, NQ_DTYPE_FLOAT32, 2, dims, NULL) == NQ_OK);
    float *x = d->samples.data;
    for (int64_t i = 0; i < n * nf; i++) x[i] = (float)floor((rng_sym(&r) * 0.5 + 0.5) * 128.0) / 127.0f;
    for (int64_t i = 0; i < n * nf; i++) x[i] = x[i] > 1.0f ? 1.0f : x[i];
    x[0] = 1.0f;
    d->n = n;
}

/* The steps up to quantize_normalized_network; *ref: a copy taken just
 * before it. */
static void quantize_steps(nq_graph *g, const nq_dataset *d, int channel_wise, nq_graph **ref)
{
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    nq_ranges ranges = {0};
    nq_error err = {0};
    nq_status s = nq_ops_resolve(g, &err);
    if (s == NQ_OK) s = nq_insert_scaling_nodes(g, channel_wise, &err);
    if (s == NQ_OK) s = nq_auto_assign_node_precision(g, NQ_DTYPE_INT8, NQ_DTYPE_INT8, NQ_DTYPE_INT32, &err);
    if (s == NQ_OK) s = nq_normalize_parameters(g, channel_wise, &err);
    if (s == NQ_OK) s = nq_compute_ranges(g, d, 1, &o, &ranges, &err);
    if (s == NQ_OK) s = nq_normalize_activations(g, &ranges, &err);
    if (s == NQ_OK) s = nq_graph_clone(g, ref, &err);
    if (s == NQ_OK) s = nq_quantize_normalized_network(g, &ranges, 0, 0, &err);
    if (s != NQ_OK) fprintf(stderr, "quantize: %s\n", err.msg);
    REQUIRE(s == NQ_OK);
    nq_ranges_free(&ranges);
}

static double at(const nq_tensor *t, int64_t i) { return nq_tensor_get(t, nq_tensor_numel(t) > 1 ? i : 0); }

static const nq_tensor *param_of(const nq_graph *g, const nq_node *q)
{
    REQUIRE(q != NULL && g->values[q->inputs[0]]->init != NULL);
    return g->values[q->inputs[0]]->init;
}

static void test_known_answer(int channel_wise)
{
    const int64_t n = 256;
    nq_dataset d;
    make_dataset(&d, n, NF, 3 + (uint64_t)channel_wise);
    nq_graph *g = gemm_graph(21 + (uint64_t)channel_wise), *ref = NULL;
    quantize_steps(g, &d, channel_wise, &ref);

    nq_node *fc = nq_graph_find_node(g, "fc");
    REQUIRE(fc != NULL);
    const nq_node *wq = nq_ptq_param_quantizer(g, fc, 1), *bq = nq_ptq_param_quantizer(g, fc, 2);
    const nq_node *iq = g->values[fc->inputs[0]]->producer;
    REQUIRE(wq != NULL && bq != NULL && iq != NULL);
    const nq_tensor *w = param_of(g, wq), *sw = nq_ptq_scale(g, wq), *sb = nq_ptq_scale(g, bq);
    double s_in = at(nq_ptq_scale(g, iq), 0), qw = nq_node_attr_float(wq, "clip_max", 0);
    CHECK_NEAR(s_in, 127.0, 1e-3); /* the input is exact in integers */
    double b[NO], ex_int[NF] = {0}, ex[NF] = {0};
    for (int c = 0; c < NO; c++) b[c] = nq_tensor_get(param_of(g, bq), c);
    const float *x = d.samples.data;
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < NF; k++) {
            ex_int[k] += nearbyint(x[i * NF + k] * s_in) / (double)n;
            ex[k] += x[i * NF + k] * s_in / (double)n;
        }
    double expect[NO], before_max = 0;
    for (int c = 0; c < NO; c++) {
        double shift = nearbyint(b[c] * at(sb, c)) - b[c] * at(sb, c);
        for (int k = 0; k < NF; k++) {
            double ws = nq_tensor_get(w, c * NF + k) * at(sw, c), wi = fmin(fmax(nearbyint(ws), -qw), qw);
            shift += (wi - ws) * ex_int[k] + ws * (ex_int[k] - ex[k]);
        }
        before_max = fmax(before_max, fabs(shift));
        expect[c] = b[c] - shift / at(sb, c);
    }
    CHECK(before_max > 1.0); /* the weights' rounding moves the mean output */

    int corrected = -1;
    CHECK_OK(nq_bias_correction(g, ref, &d, NULL, &corrected, &e_));
    CHECK(corrected == 1);
    fc = nq_graph_find_node(g, "fc");
    bq = nq_ptq_param_quantizer(g, fc, 2);
    REQUIRE(bq != NULL);
    for (int c = 0; c < NO; c++) {
        double got = nq_tensor_get(param_of(g, bq), c), s = at(sb, c);
        CHECK_NEAR(got * s, expect[c] * s, 2e-2); /* accumulator units */
        /* mean output error after: only the bias rounding is left */
        double after = nearbyint(got * s) - expect[c] * s;
        CHECK(fabs(after) <= 0.5 + 2e-2);
    }
    printf("%s: largest mean output error before %.2f accumulator units, after <= 0.5\n",
           channel_wise ? "per channel" : "per tensor", before_max);
    nq_graph_free(ref);
    nq_graph_free(g);
    nq_tensor_free(&d.samples);
}

/* The single pass and the per-layer passes (activation bound 0) agree. */
static void test_one_pass(int channel_wise)
{
    nq_dataset d;
    make_dataset(&d, 200, NF, 11);
    nq_graph *g[2], *ref[2];
    int corrected[2] = {-1, -1};
    for (int k = 0; k < 2; k++) {
        g[k] = residual_graph("bc_residual", 7, w1_gain);
        quantize_steps(g[k], &d, channel_wise, &ref[k]);
        CHECK_OK(nq_ptq_bias_correction_within(g[k], ref[k], &d, NULL, k == 0 ? 1e18 : 0.0, &corrected[k], &e_));
    }
    CHECK(corrected[0] == 2 && corrected[1] == 2);
    const char *layers[2] = {"fc1", "fc2"};
    double moved = 0;
    for (int l = 0; l < 2; l++) {
        const nq_node *q0 = nq_ptq_param_quantizer(g[0], nq_graph_find_node(g[0], layers[l]), 2);
        const nq_node *q1 = nq_ptq_param_quantizer(g[1], nq_graph_find_node(g[1], layers[l]), 2);
        const nq_node *qr = nq_ptq_param_quantizer(ref[0], nq_graph_find_node(ref[0], layers[l]), 2);
        REQUIRE(q0 != NULL && q1 != NULL && qr != NULL);
        const nq_tensor *b0 = param_of(g[0], q0), *b1 = param_of(g[1], q1), *br = param_of(ref[0], qr);
        for (int64_t c = 0; c < nq_tensor_numel(b0); c++) {
            double s = at(nq_ptq_scale(g[0], q0), c);
            CHECK_NEAR(nq_tensor_get(b0, c) * s, nq_tensor_get(b1, c) * s, 1e-6);
            moved = fmax(moved, fabs(nq_tensor_get(b0, c) - nq_tensor_get(br, c)) * s);
        }
    }
    CHECK(moved > 0.5); /* the correction did something, in accumulator units */
    printf("%s: one pass = a pass per layer on 2 layers (largest bias move %.2f accumulator units)\n",
           channel_wise ? "per channel" : "per tensor", moved);
    for (int k = 0; k < 2; k++) {
        nq_graph_free(g[k]);
        nq_graph_free(ref[k]);
    }
    nq_tensor_free(&d.samples);
}

static void test_pipeline(int channel_wise)
{
    nq_dataset d;
    make_dataset(&d, 128, NF, 9);
    nq_graph *f = residual_graph("bc_residual", 5, w1_gain), *q = residual_graph("bc_residual", 5, w1_gain);
    nq_tensor yf = {0}, yq = {0};
    REQUIRE(nq_ops_resolve(f, NULL) == NQ_OK);
    run_graph(f, &d, &yf);
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    o.bias_correction = 1;
    o.dequantize = 1;
    o.channel_wise = channel_wise;
    CHECK_OK(nq_quantize_network(q, &d, &o, &e_));
    run_graph(q, &d, &yq);
    double sqnr = sqnr_db(&yf, &yq);
    printf("residual graph, %s, bias correction: output SQNR %.1f dB\n", channel_wise ? "per channel" : "per tensor",
           sqnr);
    CHECK(sqnr > 25.0);

    /* an empty calibration set is refused */
    nq_graph *g = residual_graph("bc_residual", 5, w1_gain);
    nq_dataset empty = {0};
    nq_error err = {0};
    CHECK(nq_bias_correction(g, f, &empty, NULL, NULL, &err) != NQ_OK);
    CHECK(strstr(err.msg, "calibration") != NULL);
    nq_graph_free(g);
    nq_tensor_free(&yf);
    nq_tensor_free(&yq);
    nq_graph_free(f);
    nq_graph_free(q);
    nq_tensor_free(&d.samples);
}

int main(void)
{
    test_known_answer(0);
    test_known_answer(1);
    test_one_pass(0);
    test_one_pass(1);
    test_pipeline(0);
    test_pipeline(1);
    TEST_MAIN_END();
}
