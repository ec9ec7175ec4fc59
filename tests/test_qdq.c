/* QDQ ONNX export and import (include/nnquant/qdq.h, docs/qdq.md):
 *  1. convnet quantized (W8A8 per-tensor and per-channel) -> QDQ: structure
 *     (no Quantizer, no ai.nnquant opset, no quantization.* attribute, int8
 *     weights and int32 biases behind DequantizeLinear), file round trip;
 *  2. the QDQ file imported back runs in integers and agrees with the
 *     original integer graph on top-1 for >= 99.9% of the test images;
 *  3. a fake-quantized and a float model are refused;
 *  4. hand-built QDQ models (tests/make_qdq_fixture.py, run here with
 *     /usr/bin/python3 + onnx; skipped without them) import and give
 *     numpy's reference output exactly, and so do they unconverted (float
 *     QuantizeLinear/DequantizeLinear ops); malformed variants (zero point 3,
 *     non-constant scale, missing scale, unsupported op) fail naming the node.
 * Run from the repository root (ctest does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nnquant/data.h"
#include "nnquant/onnx.h"
#include "nnquant/ops.h"
#include "nnquant/ptq.h"
#include "nnquant/qdq.h"
#include "nnquant/run.h"
#include "nqtest.h"

#define FM "/usr/share/datasets/fashion-mnist/"
#ifdef NQ_SANITIZED
enum { N_CALIB = 50, N_TEST = 100 };
#else
enum { N_CALIB = 200, N_TEST = 1000 };
#endif

static nq_graph *quantized(const char *model, const nq_dataset *calib, int per_channel, int fake)
{
    nq_graph *g = NULL;
    nq_error err = {0};
    REQUIRE(nq_onnx_load(model, &g, &err) == NQ_OK);
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    o.channel_wise = per_channel;
    o.fake_quantize = fake;
    if (nq_quantize_network(g, calib, &o, &err) != NQ_OK) {
        fprintf(stderr, "quantize %s: %s\n", model, err.msg);
        REQUIRE(0);
    }
    return g;
}

static void check_structure(const nq_graph *q)
{
    int nq = 0, ndq = 0;
    CHECK(nq_graph_opset(q, NQ_DOMAIN) == 0);
    CHECK(nq_graph_opset(q, "") >= 13);
    for (int i = 0; i < q->n_nodes; i++) {
        const nq_node *n = q->nodes[i];
        CHECK(strcmp(n->op_type, "Quantizer") != 0);
        CHECK(n->domain[0] == '\0');
        for (int a = 0; a < n->n_attrs; a++) CHECK(strncmp(n->attrs[a].name, "quantization.", 13) != 0);
        nq += strcmp(n->op_type, "QuantizeLinear") == 0;
        ndq += strcmp(n->op_type, "DequantizeLinear") == 0;
        if (strcmp(n->op_type, "Conv") == 0 || strcmp(n->op_type, "Gemm") == 0) {
            const nq_node *w = q->values[n->inputs[1]]->producer, *b = q->values[n->inputs[2]]->producer;
            REQUIRE(w != NULL && b != NULL);
            CHECK(strcmp(w->op_type, "DequantizeLinear") == 0 && strcmp(b->op_type, "DequantizeLinear") == 0);
            CHECK(q->values[w->inputs[0]]->init && q->values[w->inputs[0]]->init->dtype == NQ_DTYPE_INT8);
            CHECK(q->values[b->inputs[0]]->init && q->values[b->inputs[0]]->init->dtype == NQ_DTYPE_INT32);
        }
    }
    CHECK(nq > 0 && ndq > nq);
}

/* Top-1 agreement of two graphs over the first `n` samples of d. */
static int64_t agreement(const nq_graph *a, const nq_graph *b, const nq_dataset *d, int64_t n, int64_t *exact)
{
    nq_session *sa = NULL, *sb = NULL;
    nq_error err = {0};
    REQUIRE(nq_session_create(a, NULL, &sa, &err) == NQ_OK);
    if (nq_session_create(b, NULL, &sb, &err) != NQ_OK) {
        fprintf(stderr, "session: %s\n", err.msg);
        REQUIRE(0);
    }
    const nq_value *in = a->values[a->inputs[0]];
    int64_t same = 0;
    *exact = 0;
    for (int64_t s = 0; s < n; s += 100) {
        int64_t cnt = n - s < 100 ? n - s : 100;
        nq_tensor x = {0}, ya = {0}, yb = {0};
        REQUIRE(nq_dataset_batch(d, s, cnt, in->ndim, in->dims, &x, &err) == NQ_OK);
        REQUIRE(nq_session_run(sa, &x, 1, &ya, 1, &err) == NQ_OK);
        if (nq_session_run(sb, &x, 1, &yb, 1, &err) != NQ_OK) {
            fprintf(stderr, "run: %s\n", err.msg);
            REQUIRE(0);
        }
        int64_t k = nq_tensor_numel(&ya) / cnt;
        CHECK(ya.dtype == yb.dtype && nq_tensor_numel(&yb) == nq_tensor_numel(&ya));
        for (int64_t i = 0; i < cnt; i++) {
            same += nq_argmax(&ya, i * k, k) == nq_argmax(&yb, i * k, k);
            int eq = 1;
            for (int64_t j = 0; j < k; j++) eq &= nq_tensor_get(&ya, i * k + j) == nq_tensor_get(&yb, i * k + j);
            *exact += eq;
        }
        nq_tensor_free(&x);
        nq_tensor_free(&ya);
        nq_tensor_free(&yb);
    }
    nq_session_free(sa);
    nq_session_free(sb);
    return same;
}

static void test_roundtrip(const nq_dataset *calib, const nq_dataset *test, int per_channel)
{
    nq_graph *g = quantized("models/convnet.onnx", calib, per_channel, 0), *q = NULL, *back = NULL;
    nq_error err = {0};
    if (nq_graph_to_qdq(g, &q, &err) != NQ_OK) fprintf(stderr, "to_qdq: %s\n", err.msg);
    REQUIRE(q != NULL);
    check_structure(q);
    CHECK(nq_graph_is_qdq(q) && !nq_graph_is_qdq(g));
    char path[64];
    snprintf(path, sizeof path, "/tmp/nq_test_qdq_%d.onnx", (int)getpid());
    CHECK_OK(nq_export_qdq(g, path, &err));
    REQUIRE(nq_onnx_load(path, &back, &err) == NQ_OK);
    remove(path);
    CHECK(back->n_nodes == q->n_nodes);
    if (nq_qdq_import(back, &err) != NQ_OK) fprintf(stderr, "import: %s\n", err.msg);
    CHECK(!nq_graph_is_qdq(back));
    int64_t n = test->n < N_TEST ? test->n : N_TEST, exact = 0;
    int64_t same = agreement(g, back, test, n, &exact);
    printf("convnet %s: QDQ export -> import vs nnquant: top-1 %lld/%lld, bit-exact %lld/%lld\n",
           per_channel ? "per-channel" : "per-tensor", (long long)same, (long long)n, (long long)exact,
           (long long)n);
    CHECK(same * 1000 >= 999 * n);
    nq_graph_free(back);
    nq_graph_free(q);
    nq_graph_free(g);
}

static void test_refused(const nq_dataset *calib)
{
    nq_graph *fq = quantized("models/mlp.onnx", calib, 0, 1), *f = NULL, *q = NULL;
    nq_error err = {0};
    CHECK(nq_graph_to_qdq(fq, &q, &err) == NQ_ERR_UNSUPPORTED && q == NULL);
    CHECK(strstr(err.msg, "fake") != NULL);
    REQUIRE(nq_onnx_load("models/mlp.onnx", &f, &err) == NQ_OK);
    CHECK(nq_graph_to_qdq(f, &q, &err) != NQ_OK && q == NULL);
    nq_graph_free(fq);
    nq_graph_free(f);
}

static int make_fixture(const char *path, const char *variant)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/make_qdq_fixture.py %s --variant %s 2>/dev/null", path,
             variant);
    return system(cmd) == 0;
}

/* The fixture `variant` (ok: Conv, Relu, MaxPool, Gemm; gap: Conv, Relu,
 * GlobalAveragePool, Concat, Gemm) imports and gives numpy's output. */
static int test_fixture_run(const char *path, const char *variant)
{
    char xp[80], yp[80];
    snprintf(xp, sizeof xp, "%s.x.npy", path);
    snprintf(yp, sizeof yp, "%s.y.npy", path);
    if (access("/usr/bin/python3", X_OK) != 0 || !make_fixture(path, variant)) {
        printf("SKIP hand-built QDQ fixture: /usr/bin/python3 with onnx and numpy not available\n");
        return 0;
    }
    nq_graph *g = NULL;
    nq_error err = {0};
    nq_tensor x = {0}, y = {0}, ref = {0};
    REQUIRE(nq_onnx_load(path, &g, &err) == NQ_OK);
    REQUIRE(nq_npy_load(xp, &x, &err) == NQ_OK && nq_npy_load(yp, &ref, &err) == NQ_OK);
    CHECK(nq_graph_is_qdq(g));
    if (nq_qdq_import(g, &err) != NQ_OK) fprintf(stderr, "fixture %s import: %s\n", variant, err.msg);
    nq_session *s = NULL;
    CHECK_OK(nq_session_create(g, NULL, &s, &err));
    if (s != NULL && nq_session_run(s, &x, 1, &y, 1, &err) == NQ_OK) {
        CHECK(y.dtype == NQ_DTYPE_INT8 && nq_tensor_equal(&y, &ref));
    } else {
        fprintf(stderr, "fixture %s run: %s\n", variant, err.msg);
        CHECK(0);
    }
    nq_session_free(s);
    nq_graph_free(g);
    /* unconverted, QuantizeLinear/DequantizeLinear run as float operators */
    nq_tensor_free(&y);
    s = NULL;
    REQUIRE(nq_onnx_load(path, &g, &err) == NQ_OK);
    CHECK_OK(nq_session_create(g, NULL, &s, &err));
    CHECK(s != NULL && nq_session_run(s, &x, 1, &y, 1, &err) == NQ_OK && nq_tensor_equal(&y, &ref));
    nq_session_free(s);
    nq_graph_free(g);
    nq_tensor_free(&x);
    nq_tensor_free(&y);
    nq_tensor_free(&ref);
    remove(xp);
    remove(yp);
    return 1;
}

static void test_fixture(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/nq_test_qdq_fix_%d.onnx", (int)getpid());
    if (!test_fixture_run(path, "ok") || !test_fixture_run(path, "gap")) return;
    nq_graph *g = NULL;
    nq_error err = {0};
    static const char *const bad[][2] = {
        {"zero-point", "'q_input'"}, {"dynamic-scale", "'q_input'"},
        {"missing-scale", "'q_input'"}, {"unsupported-op", "'pool'"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REQUIRE(make_fixture(path, bad[i][0]));
        REQUIRE(nq_onnx_load(path, &g, &err) == NQ_OK);
        nq_status st = nq_qdq_import(g, &err);
        CHECK(st != NQ_OK);
        if (strstr(err.msg, bad[i][1]) == NULL) fprintf(stderr, "%s: '%s'\n", bad[i][0], err.msg);
        CHECK(strstr(err.msg, bad[i][1]) != NULL);
        nq_graph_free(g);
    }
    remove(path);
}

int main(void)
{
    nq_preprocess prep;
    nq_preprocess_default(&prep);
    prep.scale = 0.00392156862745098f;
    nq_dataset *calib = NULL, *test = NULL;
    nq_error err = {0};
    if (nq_dataset_load(FM "train-images-idx3-ubyte.gz", NULL, &prep, N_CALIB, &calib, &err) != NQ_OK ||
        nq_dataset_load(FM "t10k-images-idx3-ubyte.gz", NULL, &prep, N_TEST, &test, &err) != NQ_OK) {
        fprintf(stderr, "Fashion-MNIST not available (%s): model checks skipped\n", err.msg);
    } else {
        test_roundtrip(calib, test, 0);
        test_roundtrip(calib, test, 1);
        test_refused(calib);
    }
    nq_dataset_free(calib);
    nq_dataset_free(test);
    test_fixture();
    TEST_MAIN_END();
}
