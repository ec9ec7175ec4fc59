/* compute_ranges / adjust_ranges with a Relu after the scaling node
 * (relu_ranges; off by default, when the range is max |x| as before):
 *  - x[N,4] -> fc1 -> h -> Relu -> fc2 -> y, with fc1's bias pushing h
 *    mostly negative (h in about [-6, 2]): the scaling node after fc1 is
 *    observed as after the Relu: min 0, max = the largest h, max |x| = max h
 *    (not the larger |min h|), and its MSE threshold stays <= max h;
 *  - the scaling node after fc2 (a graph output, read by no Relu) keeps its
 *    negative minimum;
 *  - quantized with optimize_signs, fc1's scaling node is unsigned and the
 *    whole pipeline stays close to the float graph. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nnquant/ops.h"
#include "nnquant/ptq.h"
#include "nqtest.h"
#include "ptq/ptq_internal.h"
#include "ptq_testutil.h"

enum { NF = 4, NH = 6, NO = 3, N = 256 };

static nq_graph *relu_graph(void)
{
    rng r = {11};
    nq_graph *g = nq_graph_create("relu_ranges");
    REQUIRE(g != NULL);
    int64_t xd[2] = {-1, NF}, w1d[2] = {NH, NF}, b1d[1] = {NH}, w2d[2] = {NO, NH}, b2d[1] = {NO};
    int x = add_input(g, "x", 2, xd);
    int w1 = rand_init(g, "W1", 2, w1d, &r, NULL, NULL, 0), b1 = rand_init(g, "b1", 1, b1d, &r, NULL, NULL, 0);
    int w2 = rand_init(g, "W2", 2, w2d, &r, NULL, NULL, 0), b2 = rand_init(g, "b2", 1, b2d, &r, NULL, NULL, 0);
    float *b = g->values[b1]->init->data;
    for (int c = 0; c < NH; c++) b[c] -= 2.0f; /* h mostly negative */
    int h = val(g, "h"), a = val(g, "a"), y = val(g, "y");
    gemm(g, "fc1", x, w1, b1, h, 1);
    node(g, "Relu", "relu", 1, &h, a);
    gemm(g, "fc2", a, w2, b2, y, 1);
    REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);
    return g;
}

static void make_dataset(nq_dataset *d)
{
    rng r = {5};
    int64_t dims[2] = {N, NF};
    memset(d, 0, sizeof *d);
    REQUIRE(nq_tensor_alloc(&d->samples, NQ_DTYPE_FLOAT32, 2, dims, NULL) == NQ_OK);
    float *x = d->samples.data;
    for (int64_t i = 0; i < N * NF; i++) x[i] = rng_sym(&r);
    d->n = N;
}

/* The output value of the scaling Quantizer after node `name`. */
static int scaled(const nq_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *q = g->nodes[i];
        const nq_node *p = q->n_inputs > 0 && q->inputs[0] >= 0 ? g->values[q->inputs[0]]->producer : NULL;
        if (nq_ptq_is_scaling(q) && p != NULL && strcmp(p->name, name) == 0) return q->outputs[0];
    }
    REQUIRE(0);
    return -1;
}

static void test_ranges(void)
{
    nq_dataset d;
    make_dataset(&d);
    nq_graph *g = relu_graph();
    /* h computed here from the weights: its extremes over the data */
    const float *w1 = g->values[nq_graph_find_value(g, "W1")]->init->data;
    const float *b1 = g->values[nq_graph_find_value(g, "b1")]->init->data;
    const float *x = d.samples.data;
    double hmin = INFINITY, hmax = -INFINITY;
    for (int i = 0; i < N; i++)
        for (int c = 0; c < NH; c++) {
            float s = b1[c];
            for (int k = 0; k < NF; k++) s += x[i * NF + k] * w1[c * NF + k];
            hmin = fmin(hmin, s);
            hmax = fmax(hmax, s);
        }
    REQUIRE(hmax > 0 && -hmin > 1.5 * hmax); /* the negative side is the wider one */

    nq_error err = {0};
    nq_ranges rg = {0};
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    CHECK(o.relu_ranges == 0); /* off by default: the range is max |x| */
    CHECK_OK(nq_ops_resolve(g, &err));
    CHECK_OK(nq_insert_scaling_nodes(g, 0, &err));
    int vh = scaled(g, "fc1"), vy = scaled(g, "fc2");
    CHECK_OK(nq_compute_ranges(g, &d, 1, &o, &rg, &err));
    CHECK_NEAR(rg.min[vh], hmin, 1e-5 * -hmin);
    CHECK_NEAR(rg.max_abs[vh], -hmin, 1e-5 * -hmin);
    nq_ranges_free(&rg);
    o.relu_ranges = 1;
    CHECK_OK(nq_compute_ranges(g, &d, 1, &o, &rg, &err));
    REQUIRE(rg.valid[vh] && rg.valid[vy]);
    CHECK(rg.min[vh] == 0.0);
    CHECK_NEAR(rg.max[vh], hmax, 1e-5 * hmax);
    CHECK(rg.max_abs[vh] == rg.max[vh]);
    CHECK(rg.min[vy] < 0.0); /* no Relu after fc2 */
    CHECK(rg.max_abs[vy] == fmax(-rg.min[vy], rg.max[vy]));
    printf("h in [%.3f, %.3f]: range after the Relu [0, %.3f]\n", hmin, hmax, rg.max_abs[vh]);

    o.optimize_signs = 1;
    CHECK(rg.hist == NULL); /* clipping MAX: no histograms gathered */
    CHECK_OK(nq_adjust_ranges(g, NQ_CLIP_MSE, &rg, &d, &o, &err));
    CHECK(rg.max_abs[vh] > 0.25 * hmax && rg.max_abs[vh] <= hmax * (1 + 1e-6));
    /* with MSE clipping, compute_ranges fills the histograms in its own pass
     * (grown, then rebinned): adjust_ranges uses them and lands within a
     * fine bin of its own second pass */
    nq_ranges one = {0};
    o.clipping = NQ_CLIP_MSE;
    CHECK_OK(nq_compute_ranges(g, &d, 1, &o, &one, &err));
    REQUIRE(one.hist != NULL);
    CHECK(one.hist[vh].count == (uint64_t)N * NH && one.hist[vy].count == (uint64_t)N * NO);
    CHECK(one.hist[vh].n_bins == NQ_HISTOGRAM_BINS && one.hist[vh].range == (float)one.max_abs[vh]);
    CHECK_OK(nq_adjust_ranges(g, NQ_CLIP_MSE, &one, &d, &o, &err));
    for (int k = 0; k < 2; k++) {
        int v = k ? vy : vh;
        CHECK_NEAR(one.max_abs[v], rg.max_abs[v], 2.0 * fmax(-one.min[v], one.max[v]) / NQ_HISTOGRAM_BINS);
    }
    nq_ranges_free(&one);
    nq_ranges_free(&rg);
    nq_graph_free(g);
    nq_tensor_free(&d.samples);
}

static void test_pipeline(void)
{
    nq_dataset d;
    make_dataset(&d);
    nq_graph *f = relu_graph(), *q = relu_graph();
    nq_error err = {0};
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    o.optimize_signs = 1;
    o.relu_ranges = 1;
    o.dequantize = 1;
    CHECK_OK(nq_ops_resolve(f, &err));
    CHECK_OK(nq_quantize_network(q, &d, &o, &err));
    const nq_node *relu = nq_graph_find_node(q, "relu");
    REQUIRE(relu != NULL);
    const nq_node *qh = q->values[relu->inputs[0]]->producer; /* fc1's scaling node */
    REQUIRE(qh != NULL);
    CHECK(nq_node_attr_float(qh, "clip_min", -1.0f) == 0.0f); /* unsigned: [0, 255] */
    CHECK(nq_node_attr_float(qh, "clip_max", 0.0f) == 255.0f);
    nq_tensor yf = {0}, yq = {0};
    run_graph(f, &d, &yf);
    run_graph(q, &d, &yq);
    double sqnr = sqnr_db(&yf, &yq);
    printf("W8A8 with the Relu-folded range: output SQNR %.1f dB\n", sqnr);
    CHECK(sqnr > 30.0);
    nq_tensor_free(&yf);
    nq_tensor_free(&yq);
    nq_graph_free(f);
    nq_graph_free(q);
    nq_tensor_free(&d.samples);
}

/* Ranges too far apart for float32: weights of 1e-30 make h about 1e-30
 * and y about 1e-60, which is 0 in float32 (a zero range); y's rescaling,
 * about 1e-60, cannot be a float32 either. The pipeline says so, naming
 * the layer, instead of saving a model that fails when run. */
static void test_scale_underflow(void)
{
    nq_dataset d;
    make_dataset(&d);
    nq_graph *g = relu_graph();
    static const char *const params[] = {"W1", "W2", "b1", "b2"};
    for (int k = 0; k < 4; k++) {
        nq_tensor *t = g->values[nq_graph_find_value(g, params[k])]->init;
        for (int64_t i = 0; i < nq_tensor_numel(t); i++)
            ((float *)t->data)[i] = k < 2 ? ((float *)t->data)[i] * 1e-30f : 0.0f;
    }
    nq_error err = {0};
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    CHECK(nq_quantize_network(g, &d, &o, &err) == NQ_ERR_DATA);
    CHECK(strstr(err.msg, "after 'fc2'") != NULL && strstr(err.msg, "outside float32") != NULL);
    nq_graph_free(g);
    nq_tensor_free(&d.samples);
}

int main(void)
{
    test_ranges();
    test_pipeline();
    test_scale_underflow();
    TEST_MAIN_END();
}
