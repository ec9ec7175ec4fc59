/* Single-shift quantization (insert_compensation_nodes,
 * perform_single_shift_approximation, cast with single_shift):
 *  - Gemm -> scaling node, per tensor and per channel: the scale becomes
 *    the power of two p = 2^ceil(log2 s), single_shift=1, and the integer
 *    weights and bias are exactly round(W_int * r), r = s / p (known answer
 *    from the weights the weight Quantizer produced before);
 *    W' * p differs from W_int * s only by the rounding of W';
 *  - a residual graph (Gemm + Add + Relu + Gemm) through the whole pipeline,
 *    fake-quantized and cast: compensation Muls where no affine node
 *    precedes a scaling node, every Quantizer rescaling integers has
 *    power-of-two scales and single_shift=1, and the outputs stay close to
 *    those without single shift; with no_quant the function is unchanged;
 *  - the steps fail with a message when run out of order;
 *  - models/mlp.onnx on Fashion-MNIST: top-1 with single shift within 1 pt
 *    of the same quantization without it. */
#include <stdint.h>
#include <string.h>

#include "nnquant/data.h"
#include "nnquant/onnx.h"
#include "nnquant/ptq.h"
#include "nnquant/run.h"
#include "nqtest.h"
#include "ptq_testutil.h"

#define FM "/usr/share/datasets/fashion-mnist/"

/* x[N,4] -> Gemm "fc" (3 outputs, unbalanced rows) -> y */
static nq_graph *gemm_graph(uint64_t seed)
{
    rng r = {seed};
    nq_graph *g = nq_graph_create("ss_gemm");
    REQUIRE(g != NULL);
    int64_t xd[2] = {-1, 4};
    int x = add_input(g, "x", 2, xd);
    const float gain[3] = {1.0f, 0.3f, 0.05f};
    int64_t wd[2] = {3, 4}, bd[1] = {3};
    int w = rand_init(g, "W", 2, wd, &r, gain, NULL, 3), b = rand_init(g, "b", 1, bd, &r, NULL, NULL, 0);
    int y = val(g, "y");
    gemm(g, "fc", x, w, b, y, 1);
    REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);
    return g;
}

/* n random samples of 4 features in [-1, 1). */
static void make_dataset(nq_dataset *d, int64_t n, uint64_t seed)
{
    rng r = {seed};
    int64_t dims[2] = {n, 4};
    memset(d, 0, sizeof *d);
    REQUIRE(nq_tensor_alloc(&d->samples, NQ_DTYPE_FLOAT32, 2, dims, NULL) == NQ_OK);
    for (int64_t i = 0; i < n * 4; i++) ((float *)d->samples.data)[i] = rng_sym(&r);
    d->n = n;
}

/* ---- inspection ---- */

static const char *role_of(const nq_node *n)
{
    return strcmp(n->op_type, "Quantizer") == 0 ? nq_node_attr_string(n, NQ_ATTR_ROLE, NULL) : NULL;
}

static const nq_tensor *input_init(const nq_graph *g, const nq_node *n, int k)
{
    REQUIRE(n->n_inputs > k && n->inputs[k] >= 0 && g->values[n->inputs[k]]->init != NULL);
    return g->values[n->inputs[k]]->init;
}

/* The node reading value v (the first one). */
static nq_node *consumer(const nq_graph *g, int v)
{
    nq_node *c[4];
    REQUIRE(nq_graph_consumers(g, v, c, 4) >= 1);
    return c[0];
}

static int is_pow2(float v)
{
    int e;
    return v > 0 && frexpf(v, &e) == 0.5f;
}

static int count_op(const nq_graph *g, const char *op, const char *role)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        if (strcmp(n->op_type, op) != 0) continue;
        const char *r = nq_node_attr_string(n, NQ_ATTR_ROLE, NULL);
        c += role == NULL || (r != NULL && strcmp(r, role) == 0);
    }
    return c;
}

/* Weights and bias of Gemm "fc" as integers: a clone with its weight and
 * bias Quantizers folded into constants (the Quantizer op computes them). */
static void folded_params(const nq_graph *g, const char *gemm_name, float *w, int64_t nw, float *b, int64_t nb)
{
    nq_graph *c = NULL;
    REQUIRE(nq_graph_clone(g, &c, NULL) == NQ_OK);
    nq_error err = {0};
    if (nq_fold_producer_quantizers(c, &err) != NQ_OK) fprintf(stderr, "%s\n", err.msg);
    const nq_node *n = nq_graph_find_node(c, gemm_name);
    REQUIRE(n != NULL);
    const nq_tensor *tw = input_init(c, n, 1), *tb = input_init(c, n, 2);
    REQUIRE(nq_tensor_numel(tw) == nw && nq_tensor_numel(tb) == nb);
    for (int64_t i = 0; i < nw; i++) w[i] = (float)nq_tensor_get(tw, i);
    for (int64_t i = 0; i < nb; i++) b[i] = (float)nq_tensor_get(tb, i);
    nq_graph_free(c);
}

/* ---- 1. Gemm -> scaling node: the known answer ---- */

static void quantize_steps(nq_graph *g, const nq_dataset *d, int channel_wise)
{
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    nq_ranges ranges = {0};
    nq_error err = {0};
    nq_status s = nq_insert_scaling_nodes(g, channel_wise, &err);
    if (s == NQ_OK) s = nq_auto_assign_node_precision(g, NQ_DTYPE_INT8, NQ_DTYPE_INT8, NQ_DTYPE_INT32, &err);
    if (s == NQ_OK) s = nq_normalize_parameters(g, channel_wise, &err);
    if (s == NQ_OK) s = nq_compute_ranges(g, d, 1, &o, &ranges, &err);
    if (s == NQ_OK) s = nq_normalize_activations(g, &ranges, &err);
    if (s == NQ_OK) s = nq_quantize_normalized_network(g, &ranges, 0, 0, &err);
    if (s != NQ_OK) fprintf(stderr, "quantize: %s\n", err.msg);
    REQUIRE(s == NQ_OK);
    nq_ranges_free(&ranges);
}

static void test_gemm_known_answer(int channel_wise)
{
    nq_dataset d;
    make_dataset(&d, 64, 7);
    nq_graph *g = gemm_graph(11 + (uint64_t)channel_wise);
    quantize_steps(g, &d, channel_wise);

    nq_node *fc = nq_graph_find_node(g, "fc");
    REQUIRE(fc != NULL);
    nq_node *sc = consumer(g, fc->outputs[0]);
    REQUIRE(role_of(sc) != NULL && strcmp(role_of(sc), "scaling") == 0);
    const nq_tensor *st = input_init(g, sc, 1);
    int64_t ns = nq_tensor_numel(st);
    CHECK(ns == (channel_wise ? 3 : 1));
    float s_before[3], w_int[12], b_int[3];
    for (int64_t c = 0; c < ns; c++) s_before[c] = ((const float *)st->data)[c];
    folded_params(g, "fc", w_int, 12, b_int, 3);
    nq_tensor y_before = {0};
    run_graph(g, &d, &y_before);

    CHECK_OK(nq_insert_compensation_nodes(g, 0, &e_));
    CHECK(count_op(g, "Mul", NULL) == 0); /* an affine node precedes the only scaling node */
    nq_error err = {0};
    if (nq_perform_single_shift_approximation(g, &err) != NQ_OK) fprintf(stderr, "ssa: %s\n", err.msg);

    sc = consumer(g, fc->outputs[0]);
    st = input_init(g, sc, 1);
    REQUIRE(nq_tensor_numel(st) == ns);
    CHECK(nq_node_attr_int(sc, "single_shift", 0) == 1);
    double p[3], r[3];
    for (int64_t c = 0; c < ns; c++) {
        p[c] = ((const float *)st->data)[c];
        double expect = exp2(ceil(log2((double)s_before[c])));
        CHECK(is_pow2((float)p[c]));
        CHECK(p[c] == expect);
        r[c] = (double)s_before[c] / expect;
        CHECK(r[c] > 0.5 && r[c] <= 1.0);
    }
    float w_ss[12], b_ss[3];
    folded_params(g, "fc", w_ss, 12, b_ss, 3);
    int exact = 1, preserved = 1, moved = 0;
    for (int64_t c = 0; c < 3; c++) {
        double rc = r[ns == 1 ? 0 : c], pc = p[ns == 1 ? 0 : c], sc_ = s_before[ns == 1 ? 0 : c];
        for (int64_t k = 0; k < 4; k++) {
            double wi = w_int[c * 4 + k], ws = w_ss[c * 4 + k];
            exact &= ws == nearbyint(wi * rc);
            preserved &= fabs(ws * pc - wi * sc_) <= 0.5 * pc + 1e-12;
            moved += ws != wi;
            CHECK(fabs(ws) <= 127);
        }
        exact &= b_ss[c] == (float)nearbyint((double)b_int[c] * rc);
        preserved &= fabs((double)b_ss[c] * pc - (double)b_int[c] * sc_) <= 0.5 * pc + 1e-9 * fabs(b_int[c] * sc_);
    }
    CHECK(exact);
    CHECK(preserved);
    CHECK(moved > 0); /* the test is not vacuous: some ratio r < 1 changed weights */
    printf("gemm %-11s: scale %.6g -> 2^%d, r = %.4f; W[0][0] %g -> %g\n",
           channel_wise ? "per-channel" : "per-tensor", (double)s_before[0], (int)log2(p[0]), r[0],
           (double)w_int[0], (double)w_ss[0]);

    /* the layer computes the same function up to the rounding of W' and b':
     * |acc' p - acc s| <= p/2 (sum |x_q| + 1), x_q the int8 input */
    nq_tensor y_after = {0};
    run_graph(g, &d, &y_after);
    REQUIRE(nq_tensor_numel(&y_after) == nq_tensor_numel(&y_before));
    double worst = 0, bound = 1 + 0.5 * fmax(fmax(p[0], ns > 1 ? p[1] : 0), ns > 1 ? p[2] : 0) * (4 * 127 + 1);
    for (int64_t i = 0; i < nq_tensor_numel(&y_after); i++)
        worst = fmax(worst, fabs(nq_tensor_get(&y_after, i) - nq_tensor_get(&y_before, i)));
    CHECK(worst <= bound);
    printf("gemm %-11s: outputs move by at most %g steps (bound %.3g)\n", channel_wise ? "per-channel" : "per-tensor",
           worst, bound);
    /* idempotent: a second approximation changes nothing */
    CHECK_OK(nq_perform_single_shift_approximation(g, &e_));
    float w_again[12], b_again[3];
    folded_params(g, "fc", w_again, 12, b_again, 3);
    CHECK(memcmp(w_again, w_ss, sizeof w_ss) == 0 && memcmp(b_again, b_ss, sizeof b_ss) == 0);
    nq_tensor_free(&y_before);
    nq_tensor_free(&y_after);
    nq_graph_free(g);
    nq_tensor_free(&d.samples);
}

/* ---- 2. the pipeline on a residual graph ---- */

static nq_graph *quantize_residual(const nq_dataset *d, int single_shift, int fake, int no_quant, int channel_wise)
{
    nq_graph *g = residual_graph("ss_residual", 5, NULL);
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    o.single_shift = single_shift;
    o.fake_quantize = fake;
    o.no_quant = no_quant;
    o.dequantize = 1;
    o.channel_wise = channel_wise;
    o.equalize = 0;
    nq_error err = {0};
    if (nq_quantize_network(g, d, &o, &err) != NQ_OK) {
        fprintf(stderr, "quantize (ss %d fake %d no_quant %d): %s\n", single_shift, fake, no_quant, err.msg);
        nq_graph_free(g);
        return NULL;
    }
    return g;
}

/* Every Quantizer with integer input and output has power-of-two scales
 * and single_shift=1; counts the requantizing ones. */
static int check_shifts_only(const nq_graph *g)
{
    int n_rq = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        if (strcmp(n->op_type, "Quantizer") != 0) continue;
        nq_dtype tin = g->values[n->inputs[0]]->dtype;
        nq_dtype tout = nq_dtype_from_name(nq_node_attr_string(n, "to", "float32"));
        if (nq_dtype_is_float(tin) || nq_dtype_is_float(tout)) continue;
        n_rq++;
        const nq_tensor *s = input_init(g, n, 1);
        int ok = nq_node_attr_int(n, "single_shift", 0) == 1;
        for (int64_t k = 0; k < nq_tensor_numel(s); k++) ok &= is_pow2(((const float *)s->data)[k]);
        if (!ok) fprintf(stderr, "quantizer '%s' (%s -> %s) is not a single shift\n", n->name, nq_dtype_name(tin),
                         nq_dtype_name(tout));
        CHECK(ok);
    }
    return n_rq;
}

static double max_abs_diff(const nq_tensor *a, const nq_tensor *b)
{
    double m = 0;
    REQUIRE(nq_tensor_numel(a) == nq_tensor_numel(b));
    for (int64_t i = 0; i < nq_tensor_numel(a); i++) m = fmax(m, fabs(nq_tensor_get(a, i) - nq_tensor_get(b, i)));
    return m;
}

static double rms_diff(const nq_tensor *a, const nq_tensor *b)
{
    double s = 0;
    for (int64_t i = 0; i < nq_tensor_numel(a); i++) {
        double e = nq_tensor_get(a, i) - nq_tensor_get(b, i);
        s += e * e;
    }
    return sqrt(s / (double)nq_tensor_numel(a));
}

static void test_residual_pipeline(int channel_wise)
{
    nq_dataset d;
    make_dataset(&d, 128, 3);
    nq_graph *flt = residual_graph("ss_residual", 5, NULL);
    nq_tensor yf = {0}, yq = {0}, yss_fake = {0}, yss_int = {0};
    run_graph(flt, &d, &yf);
    nq_graph *q = quantize_residual(&d, 0, 1, 0, channel_wise);
    nq_graph *sf = quantize_residual(&d, 1, 1, 0, channel_wise);
    nq_graph *si = quantize_residual(&d, 1, 0, 0, channel_wise);
    REQUIRE(q != NULL && sf != NULL && si != NULL);

    /* fake-quantized: two compensation Muls (the branch of x into Add, the
     * scaling node after Add), integer coefficients in [64, 127] */
    CHECK(count_op(sf, "Mul", "compensation") == 2);
    for (int i = 0; i < sf->n_nodes; i++) {
        const nq_node *n = sf->nodes[i];
        const char *r = nq_node_attr_string(n, NQ_ATTR_ROLE, NULL);
        if (strcmp(n->op_type, "Mul") == 0 && r && strcmp(r, "compensation") == 0) {
            double c = nq_tensor_get(input_init(sf, n, 1), 0);
            CHECK(c == nearbyint(c) && c >= 64 && c <= 127);
        }
        if (role_of(n) && (strcmp(role_of(n), "scaling") == 0 || strcmp(role_of(n), "branch") == 0)) {
            CHECK(nq_node_attr_int(n, "single_shift", 0) == 1);
            CHECK(is_pow2((float)nq_tensor_get(input_init(sf, n, 1), 0)));
        }
    }
    /* cast: the compensation Muls run in int32, the int8 branch is widened
     * by a Quantizer of scale 1; every rescaling of integers is a shift */
    CHECK(count_op(si, "Mul", "compensation") == 2);
    CHECK(count_op(si, "Quantizer", "widen") == 1);
    for (int i = 0; i < si->n_nodes; i++) {
        const nq_node *n = si->nodes[i];
        if (strcmp(n->op_type, "Mul") != 0) continue;
        CHECK(si->values[n->inputs[0]]->dtype == NQ_DTYPE_INT32);
        CHECK(input_init(si, n, 1)->dtype == NQ_DTYPE_INT32);
    }
    int n_rq = check_shifts_only(si);
    CHECK(n_rq == 5); /* fc1, fc2, branch, add (+ the widening) */

    run_graph(q, &d, &yq);
    run_graph(sf, &d, &yss_fake);
    run_graph(si, &d, &yss_int);
    double e_q = rms_diff(&yq, &yf), e_ss = rms_diff(&yss_fake, &yf), e_int = rms_diff(&yss_int, &yf);
    double fake_vs_int = max_abs_diff(&yss_fake, &yss_int), ymax = 0;
    for (int64_t i = 0; i < nq_tensor_numel(&yf); i++) ymax = fmax(ymax, fabs(nq_tensor_get(&yf, i)));
    printf("residual %-11s: rms error vs float: without single shift %.4g, single shift fake %.4g, integer %.4g "
           "(outputs up to %.3g); fake vs integer max %.3g\n",
           channel_wise ? "per-channel" : "per-tensor", e_q, e_ss, e_int, ymax, fake_vs_int);
    CHECK(e_ss <= 2.0 * e_q + 0.01 * ymax);
    CHECK(e_int <= 2.0 * e_q + 0.01 * ymax);
    CHECK(fake_vs_int <= 0.05 * ymax); /* ties round half up in integers, half to even in float */

    /* the ONNX file round trip keeps the graph runnable */
    void *buf = NULL;
    size_t size = 0;
    nq_graph *back = NULL;
    CHECK_OK(nq_onnx_save_buffer(si, &buf, &size, &e_));
    CHECK_OK(nq_onnx_load_buffer(buf, size, ".", &back, &e_));
    free(buf);
    if (back != NULL) {
        nq_tensor yb = {0};
        run_graph(back, &d, &yb);
        CHECK(max_abs_diff(&yb, &yss_int) == 0);
        nq_tensor_free(&yb);
        nq_graph_free(back);
    }

    nq_tensor_free(&yf);
    nq_tensor_free(&yq);
    nq_tensor_free(&yss_fake);
    nq_tensor_free(&yss_int);
    nq_graph_free(flt);
    nq_graph_free(q);
    nq_graph_free(sf);
    nq_graph_free(si);
    nq_tensor_free(&d.samples);
}

/* no_quant: nothing is rounded, so single shift and its compensation
 * compute exactly the same function (up to float rounding). */
static void test_no_quant_exact(void)
{
    nq_dataset d;
    make_dataset(&d, 64, 9);
    nq_graph *a = quantize_residual(&d, 0, 1, 1, 1), *b = quantize_residual(&d, 1, 1, 1, 1);
    REQUIRE(a != NULL && b != NULL);
    CHECK(count_op(b, "Mul", "compensation") == 2);
    nq_tensor ya = {0}, yb = {0};
    run_graph(a, &d, &ya);
    run_graph(b, &d, &yb);
    double ymax = 0;
    for (int64_t i = 0; i < nq_tensor_numel(&ya); i++) ymax = fmax(ymax, fabs(nq_tensor_get(&ya, i)));
    double diff = max_abs_diff(&ya, &yb);
    printf("no_quant: single shift changes outputs by %.3g (outputs up to %.3g)\n", diff, ymax);
    CHECK(diff <= 1e-5 * ymax);
    nq_tensor_free(&ya);
    nq_tensor_free(&yb);
    nq_graph_free(a);
    nq_graph_free(b);
    nq_tensor_free(&d.samples);
}

/* Steps out of order fail with a message. */
static void test_errors(void)
{
    nq_dataset d;
    make_dataset(&d, 32, 4);
    nq_graph *g = residual_graph("ss_residual", 5, NULL);
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    o.fake_quantize = 1;
    o.equalize = 0;
    o.fold_graph = 0;
    REQUIRE(nq_quantize_network(g, &d, &o, NULL) == NQ_OK);
    nq_graph *c = NULL;
    REQUIRE(nq_graph_clone(g, &c, NULL) == NQ_OK);
    nq_error err = {0};
    /* no compensation node before the scaling node after Add */
    CHECK(nq_perform_single_shift_approximation(g, &err) == NQ_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "insert_compensation_nodes") != NULL);
    /* casting with single_shift needs power-of-two scales */
    memset(&err, 0, sizeof err);
    CHECK(nq_cast_quantized_network(c, 1, &err) == NQ_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "power of two") != NULL);
    nq_graph_free(c);
    /* folded weights have no Quantizer left to compensate through */
    CHECK(nq_insert_compensation_nodes(g, 0, NULL) == NQ_OK);
    CHECK(nq_fold_producer_quantizers(g, NULL) == NQ_OK);
    memset(&err, 0, sizeof err);
    CHECK(nq_perform_single_shift_approximation(g, &err) == NQ_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "fold_producer_quantizers") != NULL);
    nq_graph_free(g);
    nq_tensor_free(&d.samples);
}

/* ---- 3. models/mlp.onnx on Fashion-MNIST ---- */

static double mlp_top1(const nq_dataset *calib, const nq_dataset *test, int single_shift, int fake)
{
    nq_graph *g = NULL;
    nq_error err = {0};
    REQUIRE(nq_onnx_load("models/mlp.onnx", &g, &err) == NQ_OK);
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    o.single_shift = single_shift;
    o.fake_quantize = fake;
    o.dequantize = 1;
    nq_status s = nq_quantize_network(g, calib, &o, &err);
    if (s != NQ_OK) fprintf(stderr, "mlp: %s\n", err.msg);
    CHECK(s == NQ_OK);
    if (s == NQ_OK && single_shift && !fake) CHECK(check_shifts_only(g) == 3);
    nq_session *se = NULL;
    nq_eval_result r;
    memset(&r, 0, sizeof r);
    if (s == NQ_OK) s = nq_session_create(g, NULL, &se, &err);
    if (s == NQ_OK) s = nq_evaluate(se, g, test, 100, NULL, NULL, &r, &err);
    if (s != NQ_OK) fprintf(stderr, "mlp eval: %s\n", err.msg);
    CHECK(s == NQ_OK);
    nq_session_free(se);
    nq_graph_free(g);
    return 100.0 * r.top1;
}

static void test_mlp(void)
{
    nq_preprocess prep;
    nq_preprocess_default(&prep);
    prep.scale = 1.0f / 255.0f;
    nq_dataset *calib = NULL, *test = NULL;
    nq_error err = {0};
    if (nq_dataset_load(FM "train-images-idx3-ubyte.gz", NULL, &prep, 200, &calib, &err) != NQ_OK ||
        nq_dataset_load(FM "t10k-images-idx3-ubyte.gz", FM "t10k-labels-idx1-ubyte.gz", &prep, 2000, &test, &err) !=
            NQ_OK) {
        fprintf(stderr, "Fashion-MNIST not available (%s): mlp check skipped\n", err.msg);
        nq_dataset_free(calib);
        return;
    }
    double base = mlp_top1(calib, test, 0, 1), ss = mlp_top1(calib, test, 1, 1), ss_int = mlp_top1(calib, test, 1, 0);
    printf("mlp, first 2000 test images: W8A8 fake-quantized %.2f%%, single shift fake-quantized %.2f%%, "
           "single shift integer %.2f%%\n",
           base, ss, ss_int);
    CHECK(fabs(ss - base) <= 1.0);
    CHECK(fabs(ss_int - base) <= 1.0);
    nq_dataset_free(calib);
    nq_dataset_free(test);
}

int main(void)
{
    test_gemm_known_answer(0);
    test_gemm_known_answer(1);
    test_residual_pipeline(0);
    test_residual_pipeline(1);
    test_no_quant_exact();
    test_errors();
    test_mlp();
    TEST_MAIN_END();
}
