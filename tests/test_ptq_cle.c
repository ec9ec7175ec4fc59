/* Cross-layer equalization: per-channel ranges become equal across each
 * layer pair and the network computes the same function. */
#include <stdint.h>
#include <string.h>

#include "nnquant/data.h"
#include "nnquant/onnx.h"
#include "nnquant/ptq.h"
#include "nnquant/run.h"
#include "nqtest.h"
#include "ptq_testutil.h"

static nq_node *conv(nq_graph *g, const char *name, int x, int w, int b, int y, int64_t pad, int64_t group)
{
    int ins[3] = {x, w, b};
    nq_node *n = node(g, "Conv", name, 3, ins, y);
    int64_t pads[4] = {pad, pad, pad, pad};
    REQUIRE(nq_node_set_ints(n, "pads", 4, pads) == NQ_OK);
    if (group != 1) REQUIRE(nq_node_set_int(n, "group", group) == NQ_OK);
    return n;
}

/* The weights (input k) of the node called `name`. */
static const nq_tensor *param(const nq_graph *g, const char *name, int k)
{
    const nq_node *n = nq_graph_find_node(g, name);
    REQUIRE(n != NULL && n->n_inputs > k && n->inputs[k] >= 0 && g->values[n->inputs[k]]->init != NULL);
    return g->values[n->inputs[k]]->init;
}

/* max |W| of output row o of a 2-D [rows, cols] tensor, or of column c. */
static double row_max(const nq_tensor *t, int64_t o)
{
    double m = 0;
    int64_t per = nq_tensor_numel(t) / t->dims[0];
    for (int64_t k = 0; k < per; k++) m = fmax(m, fabs(((const float *)t->data)[o * per + k]));
    return m;
}
static double col_max(const nq_tensor *t, int64_t c0, int64_t n_cols)
{
    double m = 0;
    int64_t cols = t->dims[1];
    for (int64_t r = 0; r < t->dims[0]; r++)
        for (int64_t c = c0; c < c0 + n_cols; c++) m = fmax(m, fabs(((const float *)t->data)[r * cols + c]));
    return m;
}
/* Conv [Cout, Cin, k...]: max |W[:, c]|. */
static double conv_in_max(const nq_tensor *t, int64_t c)
{
    double m = 0;
    int64_t per = nq_tensor_numel(t) / t->dims[0], ksz = per / t->dims[1];
    for (int64_t o = 0; o < t->dims[0]; o++)
        for (int64_t k = 0; k < ksz; k++) m = fmax(m, fabs(((const float *)t->data)[o * per + c * ksz + k]));
    return m;
}

static int rel_close(double a, double b, double tol) { return fabs(a - b) <= tol * fmax(fabs(a), fabs(b)); }

/* Runs g on `in` (one input, one output). */
static void run1(const nq_graph *g, const nq_tensor *in, nq_tensor *out)
{
    nq_error err = {0};
    nq_session *s = NULL;
    nq_session_opts opts = {.num_threads = 1};
    nq_status st = nq_session_create(g, &opts, &s, &err);
    if (st == NQ_OK) st = nq_session_run(s, in, 1, out, 1, &err);
    if (st != NQ_OK) fprintf(stderr, "run: %s\n", err.msg);
    REQUIRE(st == NQ_OK);
    nq_session_free(s);
}

static void rand_input(nq_tensor *t, int ndim, const int64_t *dims, rng *r)
{
    REQUIRE(nq_tensor_alloc(t, NQ_DTYPE_FLOAT32, ndim, dims, NULL) == NQ_OK);
    for (int64_t i = 0; i < nq_tensor_numel(t); i++) ((float *)t->data)[i] = rng_sym(r);
}

/* max |a - b| / max(1, max |b|) */
static double max_rel_diff(const nq_tensor *a, const nq_tensor *b)
{
    REQUIRE(nq_tensor_numel(a) == nq_tensor_numel(b));
    double d = 0, m = 1;
    for (int64_t i = 0; i < nq_tensor_numel(a); i++) {
        double x = ((const float *)a->data)[i], y = ((const float *)b->data)[i];
        d = fmax(d, fabs(x - y));
        m = fmax(m, fabs(y));
    }
    return d / m;
}

/* Runs `in` through g, applies CLE, runs again: returns the pairs, checks the outputs. */
static int cle_keeps_outputs(nq_graph *g, const nq_tensor *in, double delta, double tol)
{
    nq_tensor before = {0}, after = {0};
    run1(g, in, &before);
    int pairs = -1;
    nq_error err = {0};
    nq_status st = nq_cross_layer_equalization(g, delta, &pairs, &err);
    if (st != NQ_OK) fprintf(stderr, "cle: %s\n", err.msg);
    CHECK(st == NQ_OK);
    run1(g, in, &after);
    double d = max_rel_diff(&after, &before);
    if (!(d <= tol)) fprintf(stderr, "outputs changed by %g (relative), tolerance %g\n", d, tol);
    CHECK(d <= tol);
    nq_tensor_free(&before);
    nq_tensor_free(&after);
    return pairs;
}

/* ---- (1) Gemm -> Relu -> Gemm, and a 3-layer Gemm/MatMul chain ---- */

static void test_gemm_pair(void)
{
    rng r = {1};
    static const float gain[5] = {40.0f, 0.02f, 1.0f, 7.0f, 0.3f};
    nq_graph *g = nq_graph_create("gemm2");
    int64_t xd[2] = {8, 6}, w1d[2] = {5, 6}, b1d[1] = {5}, w2d[2] = {5, 4}, b2d[1] = {4};
    int x = add_input(g, "x", 2, xd);
    int w1 = rand_init(g, "w1", 2, w1d, &r, gain, NULL, 5), b1 = rand_init(g, "b1", 1, b1d, &r, gain, NULL, 5);
    int w2 = rand_init(g, "w2", 2, w2d, &r, NULL, NULL, 1), b2 = rand_init(g, "b2", 1, b2d, &r, NULL, NULL, 1);
    int h = val(g, "h"), a = val(g, "a"), y = val(g, "y");
    gemm(g, "fc1", x, w1, b1, h, 1); /* [out 5, in 6] */
    node(g, "Relu", "relu", 1, &h, a);
    gemm(g, "fc2", a, w2, b2, y, 0); /* [in 5, out 4] */
    REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);

    const nq_tensor *W1 = param(g, "fc1", 1), *W2 = param(g, "fc2", 1);
    double spread = 0;
    for (int64_t c = 0; c < 5; c++) spread = fmax(spread, row_max(W1, c) / (row_max(W2, c) + 1e-30));
    CHECK(spread > 10); /* deliberately unbalanced */

    nq_tensor in;
    rand_input(&in, 2, xd, &r);
    CHECK(cle_keeps_outputs(g, &in, 0.01, 1e-5) == 1);
    W1 = param(g, "fc1", 1);
    W2 = param(g, "fc2", 1);
    for (int64_t c = 0; c < 5; c++) {
        double r1 = row_max(W1, c), r2 = row_max(W2, c); /* W2 [in, out]: input channel c is row c */
        if (!rel_close(r1, r2, 1e-5)) fprintf(stderr, "channel %lld: %g vs %g\n", (long long)c, r1, r2);
        CHECK(rel_close(r1, r2, 1e-5));
    }
    nq_tensor_free(&in);
    nq_graph_free(g);
}

static void test_gemm_matmul_chain(void)
{
    rng r = {2};
    static const float gain[4] = {50.0f, 0.01f, 3.0f, 0.5f};
    nq_graph *g = nq_graph_create("chain3");
    int64_t xd[2] = {7, 5}, w1d[2] = {8, 5}, b1d[1] = {8}, w2d[2] = {8, 6}, w3d[2] = {6, 3}, b3d[1] = {3};
    int x = add_input(g, "x", 2, xd);
    int w1 = rand_init(g, "w1", 2, w1d, &r, gain, NULL, 4), b1 = rand_init(g, "b1", 1, b1d, &r, NULL, NULL, 1);
    int w2 = rand_init(g, "w2", 2, w2d, &r, NULL, gain, 4);
    int w3 = rand_init(g, "w3", 2, w3d, &r, NULL, gain, 3), b3 = rand_init(g, "b3", 1, b3d, &r, NULL, NULL, 1);
    int h1 = val(g, "h1"), a1 = val(g, "a1"), h2 = val(g, "h2"), a2 = val(g, "a2"), y = val(g, "y");
    gemm(g, "fc1", x, w1, b1, h1, 1);
    node(g, "Relu", "relu1", 1, &h1, a1);
    int mm_in[2] = {a1, w2};
    node(g, "MatMul", "mm", 2, mm_in, h2);
    node(g, "Relu", "relu2", 1, &h2, a2);
    gemm(g, "fc3", a2, w3, b3, y, 0);
    REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);

    nq_tensor in;
    rand_input(&in, 2, xd, &r);
    CHECK(cle_keeps_outputs(g, &in, 1e-7, 1e-5) == 2);
    const nq_tensor *W1 = param(g, "fc1", 1), *W2 = param(g, "mm", 1), *W3 = param(g, "fc3", 1);
    for (int64_t c = 0; c < 8; c++) CHECK(rel_close(row_max(W1, c), row_max(W2, c), 1e-4));
    for (int64_t c = 0; c < 6; c++) CHECK(rel_close(col_max(W2, c, 1), row_max(W3, c), 1e-4));
    nq_tensor_free(&in);
    nq_graph_free(g);
}

/* ---- (2) what CLE leaves alone ---- */

/* Snapshot of every initializer, to check that nothing changed. */
static int same_inits(const nq_graph *a, const nq_graph *b)
{
    if (a->n_values != b->n_values) return 0;
    for (int v = 0; v < a->n_values; v++) {
        const nq_tensor *x = a->values[v]->init, *y = b->values[v]->init;
        if ((x == NULL) != (y == NULL) || (x && !nq_tensor_equal(x, y))) return 0;
    }
    return 1;
}

/* fc1 -> (relu | clip) -> fc2 [-> Add(x)]. */
static nq_graph *small_net(int with_add, int with_clip)
{
    rng r = {3};
    static const float gain[4] = {30.0f, 0.05f, 2.0f, 1.0f};
    nq_graph *g = nq_graph_create("small");
    int64_t xd[2] = {4, 4}, wd[2] = {4, 4}, bd[1] = {4};
    int x = add_input(g, "x", 2, xd);
    int w1 = rand_init(g, "w1", 2, wd, &r, gain, NULL, 4), b1 = rand_init(g, "b1", 1, bd, &r, NULL, NULL, 1);
    int w2 = rand_init(g, "w2", 2, wd, &r, NULL, NULL, 1), b2 = rand_init(g, "b2", 1, bd, &r, NULL, NULL, 1);
    int h = val(g, "h"), a = val(g, "a"), y = val(g, "y");
    gemm(g, "fc1", x, w1, b1, h, 1);
    if (with_clip) {
        nq_tensor lo, hi;
        REQUIRE(nq_tensor_alloc(&lo, NQ_DTYPE_FLOAT32, 0, NULL, NULL) == NQ_OK);
        REQUIRE(nq_tensor_alloc(&hi, NQ_DTYPE_FLOAT32, 0, NULL, NULL) == NQ_OK);
        *(float *)hi.data = 6.0f;
        int ins[3] = {h, nq_graph_add_initializer(g, "lo", &lo, NULL), nq_graph_add_initializer(g, "hi", &hi, NULL)};
        node(g, "Clip", "relu6", 3, ins, a);
    } else {
        node(g, "Relu", "relu", 1, &h, a);
    }
    gemm(g, "fc2", a, w2, b2, y, 1);
    if (with_add) {
        int z = val(g, "z"), ins[2] = {y, x};
        node(g, "Add", "add", 2, ins, z);
        REQUIRE(nq_graph_add_output(g, z, NULL) == NQ_OK);
    } else {
        REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);
    }
    return g;
}

static void check_untouched(nq_graph *g)
{
    nq_graph *copy = NULL;
    REQUIRE(nq_graph_clone(g, &copy, NULL) == NQ_OK);
    int pairs = -1;
    CHECK_OK(nq_cross_layer_equalization(g, 0.01, &pairs, NULL));
    CHECK(pairs == 0);
    CHECK(same_inits(g, copy));
    nq_graph_free(copy);
}

static void test_untouched(void)
{
    nq_graph *g = small_net(1, 0); /* joining node: not a single-branch network */
    check_untouched(g);
    nq_graph_free(g);
    g = small_net(0, 1); /* ReLU6 is not positive-homogeneous */
    check_untouched(g);
    nq_graph_free(g);
    g = small_net(0, 0); /* the control: equalized */
    int pairs = -1;
    CHECK_OK(nq_cross_layer_equalization(g, 0.01, &pairs, NULL));
    CHECK(pairs == 1);
    nq_graph_free(g);
    /* bad target */
    g = small_net(0, 0);
    nq_error err = {0};
    CHECK(nq_cross_layer_equalization(g, -1.0, &pairs, &err) == NQ_ERR_INVALID_ARG);
    CHECK(nq_cross_layer_equalization(g, NAN, &pairs, &err) == NQ_ERR_INVALID_ARG);
    nq_graph_free(g);
}

/* ---- (3) Conv -> Relu -> Conv -> Relu -> MaxPool -> Flatten -> Gemm ---- */

static nq_graph *conv_net(int64_t group2)
{
    rng r = {4};
    static const float gain[4] = {25.0f, 0.04f, 1.0f, 5.0f};
    nq_graph *g = nq_graph_create("convnet");
    int64_t xd[4] = {2, 3, 8, 8}, w1d[4] = {4, 3, 3, 3}, b1d[1] = {4}, w2d[4] = {6, 4 / group2, 3, 3}, b2d[1] = {6};
    int64_t w3d[2] = {5, 6 * 4 * 4}, b3d[1] = {5};
    int x = add_input(g, "x", 4, xd);
    int w1 = rand_init(g, "w1", 4, w1d, &r, gain, NULL, 4), b1 = rand_init(g, "b1", 1, b1d, &r, gain, NULL, 4);
    int w2 = rand_init(g, "w2", 4, w2d, &r, gain, NULL, 3), b2 = rand_init(g, "b2", 1, b2d, &r, NULL, NULL, 1);
    int w3 = rand_init(g, "w3", 2, w3d, &r, NULL, NULL, 1), b3 = rand_init(g, "b3", 1, b3d, &r, NULL, NULL, 1);
    int h1 = val(g, "h1"), a1 = val(g, "a1"), h2 = val(g, "h2"), a2 = val(g, "a2"), p2 = val(g, "p2");
    int f = val(g, "f"), y = val(g, "y");
    conv(g, "conv1", x, w1, b1, h1, 1, 1);
    node(g, "Relu", "relu1", 1, &h1, a1);
    conv(g, "conv2", a1, w2, b2, h2, 1, group2);
    node(g, "Relu", "relu2", 1, &h2, a2);
    nq_node *mp = node(g, "MaxPool", "pool", 1, &a2, p2);
    int64_t k2[2] = {2, 2};
    REQUIRE(nq_node_set_ints(mp, "kernel_shape", 2, k2) == NQ_OK);
    REQUIRE(nq_node_set_ints(mp, "strides", 2, k2) == NQ_OK);
    node(g, "Flatten", "flat", 1, &p2, f);
    gemm(g, "fc", f, w3, b3, y, 1);
    REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);
    nq_error err = {0};
    nq_status st = nq_prepare_network(g, &err); /* records the shapes Flatten needs */
    if (st != NQ_OK) fprintf(stderr, "prepare: %s\n", err.msg);
    REQUIRE(st == NQ_OK);
    return g;
}

static void test_conv_chain(void)
{
    rng r = {5};
    nq_graph *g = conv_net(1);
    int64_t xd[4] = {2, 3, 8, 8};
    nq_tensor in;
    rand_input(&in, 4, xd, &r);
    CHECK(cle_keeps_outputs(g, &in, 1e-7, 1e-5) == 2);
    const nq_tensor *W1 = param(g, "conv1", 1), *W2 = param(g, "conv2", 1), *W3 = param(g, "fc", 1);
    for (int64_t c = 0; c < 4; c++) CHECK(rel_close(row_max(W1, c), conv_in_max(W2, c), 1e-4));
    for (int64_t c = 0; c < 6; c++) CHECK(rel_close(row_max(W2, c), col_max(W3, c * 16, 16), 1e-4));
    nq_tensor_free(&in);
    nq_graph_free(g);

    /* conv2 grouped: the conv1 -> conv2 pair is skipped, conv2 -> fc is kept */
    g = conv_net(2);
    rand_input(&in, 4, xd, &r);
    CHECK(cle_keeps_outputs(g, &in, 0.01, 1e-5) == 1);
    nq_tensor_free(&in);
    nq_graph_free(g);
}

/* ---- (4) the example models ---- */

static void test_model(const char *path, int expect_pairs)
{
    nq_graph *g = NULL;
    nq_error err = {0};
    nq_status st = nq_onnx_load(path, &g, &err);
    if (st != NQ_OK) fprintf(stderr, "%s: %s\n", path, err.msg);
    REQUIRE(st == NQ_OK);
    REQUIRE(nq_prepare_network(g, &err) == NQ_OK);
    nq_tensor in;
    REQUIRE(nq_npy_load("models/ref/input.npy", &in, &err) == NQ_OK);
    nq_graph *copy = NULL;
    REQUIRE(nq_graph_clone(g, &copy, NULL) == NQ_OK);
    int pairs = cle_keeps_outputs(g, &in, 0.01, 1e-4);
    printf("%s: %d layer pairs equalized\n", path, pairs);
    CHECK(pairs == expect_pairs);
    CHECK(same_inits(g, copy) == (pairs == 0));
    nq_graph_free(copy);
    nq_tensor_free(&in);
    nq_graph_free(g);
}

int main(void)
{
    test_gemm_pair();
    test_gemm_matmul_chain();
    test_untouched();
    test_conv_chain();
    /* convnet: conv1-conv2, conv2-conv3 (across MaxPool), conv3-conv4,
     * conv4-fc1 (across MaxPool and Flatten), fc1-fc2 */
    test_model("models/convnet.onnx", 5);
    test_model("models/mlp.onnx", 2);
    test_model("models/resnet.onnx", 0); /* residual Add: multi-branch */
    TEST_MAIN_END();
}
