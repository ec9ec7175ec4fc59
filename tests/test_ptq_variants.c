/* PTQ variants on the example ConvNet (200 calibration and 200 test images):
 * - float islands: a Conv tagged float32 keeps float weights and bias and
 *   float sums, reads its integer input through a Quantizer into float, and
 *   its output is quantized again at the activation precision; tagging a
 *   node that is not affine float is refused;
 * - W16A16 with int64 biases and accumulators;
 * each time the true-integer graph gives the fake-quantized graph's outputs. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nnquant/onnx.h"
#include "nnquant/ops.h"
#include "nnquant/ptq.h"
#include "nnquant/run.h"
#include "nqtest.h"
#include "ptq_testutil.h"

#define ISLAND "/conv2/Conv"

/* node != NULL: keep it in float; bits16: W16A16 with int64 biases */
static nq_graph *quantize(const nq_dataset *calib, const char *node, int bits16, int fake,
                          nq_status *st, nq_error *err)
{
    nq_graph *g = NULL;
    if ((*st = nq_onnx_load("models/convnet.onnx", &g, err)) != NQ_OK) return NULL;
    nq_node *n = node ? nq_graph_find_node(g, node) : NULL;
    REQUIRE(node == NULL || n != NULL);
    if (n) REQUIRE(nq_node_set_string(n, NQ_ATTR_PRECISION, "float32") == NQ_OK);
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    if (bits16) {
        o.weight_dtype = o.act_dtype = NQ_DTYPE_INT16;
        o.bias_dtype = NQ_DTYPE_INT64;
    }
    o.fake_quantize = fake;
    o.dequantize = 1;
    *st = nq_quantize_network(g, calib, &o, err);
    if (*st != NQ_OK) {
        nq_graph_free(g);
        return NULL;
    }
    return g;
}

static void run(const nq_graph *g, const nq_dataset *d, nq_tensor *out)
{
    nq_session *s = NULL;
    nq_error err = {0};
    REQUIRE(nq_session_create(g, NULL, &s, &err) == NQ_OK);
    nq_tensor x;
    const nq_value *in = g->values[g->inputs[0]];
    REQUIRE(nq_dataset_batch(d, 0, d->n, in->ndim, in->dims, &x, &err) == NQ_OK);
    REQUIRE(nq_session_run(s, &x, 1, out, 1, &err) == NQ_OK);
    nq_tensor_free(&x);
    nq_session_free(s);
}

/* Integer and fake-quantized outputs of the same model; returns the
 * number of test images on which they pick the same class. */
static int64_t agreement(const nq_graph *q, const nq_graph *f, const nq_dataset *test,
                         const char *what)
{
    nq_tensor yq, yf;
    run(q, test, &yq);
    run(f, test, &yf);
    REQUIRE(nq_tensor_same_shape(&yq, &yf));
    int64_t same = 0, n = yq.dims[0], c = yq.dims[1];
    double maxd = 0;
    for (int64_t i = 0; i < n; i++) {
        same += nq_argmax(&yq, i * c, c) == nq_argmax(&yf, i * c, c);
        for (int64_t k = 0; k < c; k++)
            maxd = fmax(maxd, fabs(nq_tensor_get(&yq, i * c + k) - nq_tensor_get(&yf, i * c + k)));
    }
    printf("%s: integer vs fake top-1 agreement %lld/%lld, max |logit diff| %g\n", what,
           (long long)same, (long long)n, maxd);
    nq_tensor_free(&yq);
    nq_tensor_free(&yf);
    return same;
}

static void test_int16(const nq_dataset *calib, const nq_dataset *test)
{
    nq_status st;
    nq_error err = {0};
    nq_graph *q = quantize(calib, NULL, 1, 0, &st, &err), *f = quantize(calib, NULL, 1, 1, &st, &err);
    if (q == NULL || f == NULL) fprintf(stderr, "W16A16: %s\n", err.msg);
    REQUIRE(q != NULL && f != NULL);
    int convs = 0;
    for (int i = 0; i < q->n_nodes; i++) {
        const nq_node *n = q->nodes[i];
        if (n->op != NQ_OP_Conv && n->op != NQ_OP_Gemm) continue;
        CHECK(q->values[n->inputs[0]]->dtype == NQ_DTYPE_INT16);
        CHECK(q->values[n->inputs[1]]->dtype == NQ_DTYPE_INT16);
        CHECK(q->values[n->inputs[2]]->dtype == NQ_DTYPE_INT64);
        CHECK(q->values[n->outputs[0]]->dtype == NQ_DTYPE_INT64);
        convs++;
    }
    CHECK(convs == 6);
    CHECK(agreement(q, f, test, "W16A16 int64 accumulators") == test->n);
    nq_graph_free(q);
    nq_graph_free(f);
}

int main(void)
{
    nq_dataset *calib = NULL, *test = NULL;
    nq_error err = {0};
    if (!load_fmnist(200, 200, &calib, &test)) return 0;
    nq_status st;
    nq_graph *q = quantize(calib, ISLAND, 0, 0, &st, &err), *f = quantize(calib, ISLAND, 0, 1, &st, &err);
    REQUIRE(q != NULL && f != NULL);
    /* the island: float weights and bias, a float input, int8 elsewhere */
    int islands = 0, int_convs = 0;
    for (int i = 0; i < q->n_nodes; i++) {
        const nq_node *n = q->nodes[i];
        if (n->op != NQ_OP_Conv) continue;
        nq_dtype x = q->values[n->inputs[0]]->dtype, w = q->values[n->inputs[1]]->dtype;
        if (strcmp(n->name, ISLAND) == 0) {
            CHECK(x == NQ_DTYPE_FLOAT32 && w == NQ_DTYPE_FLOAT32);
            CHECK(q->values[n->inputs[2]]->dtype == NQ_DTYPE_FLOAT32);
            CHECK(q->values[n->outputs[0]]->dtype == NQ_DTYPE_FLOAT32);
            const nq_node *in = q->values[n->inputs[0]]->producer;
            CHECK(in != NULL && in->op == NQ_OP_Quantizer &&
                  q->values[in->inputs[0]]->dtype == NQ_DTYPE_INT8);
            islands++;
        } else {
            int_convs += x == NQ_DTYPE_INT8 && w == NQ_DTYPE_INT8;
        }
    }
    CHECK(islands == 1 && int_convs == 3);
    CHECK(agreement(q, f, test, "float island " ISLAND) == test->n);
    nq_graph_free(q);
    nq_graph_free(f);
    /* a Relu has no float form worth keeping: refused, naming it */
    CHECK(quantize(calib, "/Relu", 0, 0, &st, &err) == NULL && st == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "/Relu") != NULL);
    test_int16(calib, test);
    nq_dataset_free(calib);
    nq_dataset_free(test);
    TEST_MAIN_END();
}
