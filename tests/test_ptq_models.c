/* End-to-end PTQ on the example models: calibration on the first 1,000
 * Fashion-MNIST training images, accuracy on the 10,000 test images.
 * Asserts the targets of the PTQ issue that the implemented steps cover:
 *   - W8A8 per-tensor, MSE clipping, true integers: drop <= 0.3 pt
 *   - W8A8 per-channel + optimize_signs, true integers: drop <= 0.15 pt
 *   - W8A8 with single shift, true integers: drop <= 0.5 pt
 *   - fake-quantized and true-integer runs of the same model agree on
 *     >= 99.9% of the top-1 predictions
 *   - the quantized model saved as ONNX and reloaded gives bit-identical outputs
 * and prints W4A8 per-channel MSE figures.
 * Sanitizer builds (NQ_SANITIZED) run the same pipeline with 100
 * calibration and 300 test images to check memory safety only: accuracy
 * is asserted on the full set in the release build.
 * Usage: test_ptq_models [MODEL] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/onnx.h"
#include "nnquant/ptq.h"
#include "nnquant/run.h"
#include "nqtest.h"

#define FM "/usr/share/datasets/fashion-mnist/"

#ifdef NQ_SANITIZED
#define TEST_LIMIT 300
#define CALIB_COUNT 100
#else
#define TEST_LIMIT 0
#define CALIB_COUNT 1000
#endif

typedef struct config {
    const char *name;
    nq_dtype weights;
    nq_clip_mode clipping;
    int per_channel, signs, single_shift;
    double max_drop; /* in points; < 0: report only */
} config;

static const config configs[] = {
    {"W8A8 per-tensor MSE", NQ_DTYPE_INT8, NQ_CLIP_MSE, 0, 0, 0, 0.3},
    {"W8A8 per-channel MSE signs", NQ_DTYPE_INT8, NQ_CLIP_MSE, 1, 1, 0, 0.15},
    {"W8A8 single shift", NQ_DTYPE_INT8, NQ_CLIP_MAX, 0, 0, 1, 0.5},
    {"W4A8 per-channel MSE", NQ_DTYPE_INT4, NQ_CLIP_MSE, 1, 0, 0, -1},
};

static nq_graph *quantize(const char *path, const config *c, const nq_dataset *calib, int fake)
{
    nq_graph *g = NULL;
    nq_error err = {0};
    if (nq_onnx_load(path, &g, &err) != NQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    o.weight_dtype = c->weights;
    o.clipping = c->clipping;
    o.channel_wise = c->per_channel;
    o.optimize_signs = c->signs;
    o.single_shift = c->single_shift;
    o.fake_quantize = fake;
    o.dequantize = 1;
    if (nq_quantize_network(g, calib, &o, &err) != NQ_OK) {
        fprintf(stderr, "%s (%s): %s\n", path, c->name, err.msg);
        nq_graph_free(g);
        return NULL;
    }
    return g;
}

/* Top-1 predictions of g on d. */
static int predict(const nq_graph *g, const nq_dataset *d, int64_t *pred, int64_t *correct)
{
    nq_session *s = NULL;
    nq_error err = {0};
    if (nq_session_create(g, NULL, &s, &err) != NQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    const nq_value *in = g->values[g->inputs[0]];
    *correct = 0;
    int ok = 1;
    for (int64_t start = 0; ok && start < d->n; start += 100) {
        int64_t count = d->n - start < 100 ? d->n - start : 100;
        nq_tensor x = {0}, y = {0};
        ok = nq_dataset_batch(d, start, count, in->ndim, in->dims, &x, &err) == NQ_OK &&
             nq_session_run(s, &x, 1, &y, 1, &err) == NQ_OK;
        for (int64_t i = 0; ok && i < count; i++) {
            pred[start + i] = nq_argmax(&y, i * y.dims[1], y.dims[1]);
            *correct += pred[start + i] == d->labels[start + i];
        }
        nq_tensor_free(&x);
        nq_tensor_free(&y);
    }
    if (!ok) fprintf(stderr, "%s\n", err.msg);
    nq_session_free(s);
    return ok;
}

/* The quantized graph saved as ONNX and loaded again gives bit-identical
 * outputs on a batch of test images. */
static void check_reload(const nq_graph *g, const nq_dataset *d)
{
    void *buf = NULL;
    size_t size = 0;
    nq_graph *back = NULL;
    nq_error err = {0};
    REQUIRE(nq_onnx_save_buffer(g, &buf, &size, &err) == NQ_OK);
    REQUIRE(nq_onnx_load_buffer(buf, size, NULL, &back, &err) == NQ_OK);
    free(buf);
    const nq_value *in = g->values[g->inputs[0]];
    nq_tensor x = {0}, y1 = {0}, y2 = {0};
    nq_session *s1 = NULL, *s2 = NULL;
    CHECK_OK(nq_dataset_batch(d, 0, d->n < 200 ? d->n : 200, in->ndim, in->dims, &x, &err));
    CHECK_OK(nq_session_create(g, NULL, &s1, &err));
    CHECK_OK(nq_session_create(back, NULL, &s2, &err));
    CHECK_OK(nq_session_run(s1, &x, 1, &y1, 1, &err));
    CHECK_OK(nq_session_run(s2, &x, 1, &y2, 1, &err));
    CHECK(nq_tensor_equal(&y1, &y2));
    nq_tensor_free(&x);
    nq_tensor_free(&y1);
    nq_tensor_free(&y2);
    nq_session_free(s1);
    nq_session_free(s2);
    nq_graph_free(back);
}

static void check_model(const char *name, const nq_dataset *calib, const nq_dataset *test)
{
    static int64_t pf[10000], pq[10000], pi[10000];
    char path[128];
    snprintf(path, sizeof path, "models/%s.onnx", name);
    nq_graph *g = NULL;
    REQUIRE(nq_onnx_load(path, &g, NULL) == NQ_OK);
    int64_t float_ok = 0;
    REQUIRE(predict(g, test, pf, &float_ok));
    nq_graph_free(g);
    double base = 100.0 * (double)float_ok / (double)test->n;
    for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) {
        const config *c = &configs[k];
        nq_graph *fq = quantize(path, c, calib, 1), *iq = quantize(path, c, calib, 0);
        CHECK(fq != NULL && iq != NULL);
        if (iq != NULL) check_reload(iq, test);
        int64_t fq_ok = 0, iq_ok = 0, agree = 0;
        if (fq && iq && predict(fq, test, pq, &fq_ok) && predict(iq, test, pi, &iq_ok)) {
            for (int64_t i = 0; i < test->n; i++) agree += pq[i] == pi[i];
            double acc = 100.0 * (double)iq_ok / (double)test->n;
            printf("%-10s %-28s float %.2f%%  fake-quant %.2f%%  integer %.2f%%  drop %+.2f pt  agreement %.2f%%\n",
                   name, c->name, base, 100.0 * (double)fq_ok / (double)test->n, acc, base - acc,
                   100.0 * (double)agree / (double)test->n);
            CHECK((double)agree >= 0.999 * (double)test->n);
            if (c->max_drop >= 0 && TEST_LIMIT == 0) CHECK(base - acc <= c->max_drop + 1e-9);
        } else {
            CHECK(0);
        }
        nq_graph_free(fq);
        nq_graph_free(iq);
    }
}

int main(int argc, char **argv)
{
    const char *all[] = {"convnet", "resnet", "mobilenet", "mlp"};
    nq_preprocess prep;
    nq_preprocess_default(&prep);
    prep.scale = 1.0f / 255.0f;
    nq_dataset *calib = NULL, *test = NULL;
    REQUIRE(nq_dataset_load(FM "train-images-idx3-ubyte.gz", NULL, &prep, CALIB_COUNT, &calib, NULL) == NQ_OK);
    REQUIRE(nq_dataset_load(FM "t10k-images-idx3-ubyte.gz", FM "t10k-labels-idx1-ubyte.gz", &prep, TEST_LIMIT,
                            &test, NULL) == NQ_OK);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (argc < 2 || strcmp(argv[1], all[i]) == 0) check_model(all[i], calib, test);
    nq_dataset_free(calib);
    nq_dataset_free(test);
    TEST_MAIN_END();
}
