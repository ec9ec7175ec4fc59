/* End-to-end on the example models (models/NAME.onnx, trained by
 * scripts/train_examples.py): nnquant's logits match PyTorch's
 * (models/ref/<name>_logits.npy, within 1e-4) and its top-1 on the 10,000
 * Fashion-MNIST test images matches PyTorch's (models/accuracy.json,
 * within 0.05 pt). Usage: test_models [NAME] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/data.h"
#include "nnquant/onnx.h"
#include "nnquant/run.h"
#include "nqtest.h"

#define FM "/usr/share/datasets/fashion-mnist/"

/* Sanitizer builds check memory safety on 500 images; the accuracy is
 * asserted on the full test set in the release build. */
#ifdef NQ_SANITIZED
#define TEST_LIMIT 500
#else
#define TEST_LIMIT 0
#endif

/* Reads models.<name>.top1 from models/accuracy.json (a flat lookup: the
 * first "top1" after the model's key). Returns -1 if absent. */
static double pytorch_top1(const char *name)
{
    unsigned char *buf = NULL;
    size_t size = 0;
    if (nq_read_file("models/accuracy.json", &buf, &size, NULL) != NQ_OK) return -1;
    char *text = malloc(size + 1);
    memcpy(text, buf, size);
    text[size] = '\0';
    free(buf);
    char key[64];
    snprintf(key, sizeof key, "\"%s\": {", name);
    double v = -1;
    char *at = strstr(text, key);
    if (at != NULL && (at = strstr(at, "\"top1\":")) != NULL) v = atof(at + 7);
    free(text);
    return v;
}

static void check_model(const char *name, const nq_dataset *test)
{
    char path[256];
    snprintf(path, sizeof path, "models/%s.onnx", name);
    nq_graph *g = NULL;
    nq_error err = {0};
    if (nq_onnx_load(path, &g, &err) != NQ_OK) {
        fprintf(stderr, "%s: %s\n", name, err.msg);
        CHECK(0);
        return;
    }
    nq_session *s = NULL;
    CHECK_OK(nq_session_create(g, NULL, &s, &err));
    REQUIRE(s != NULL);

    /* logits vs PyTorch */
    nq_tensor x = {0}, want = {0}, got = {0};
    char ref[256];
    snprintf(ref, sizeof ref, "models/ref/%s_logits.npy", name);
    REQUIRE(nq_npy_load("models/ref/input.npy", &x, &err) == NQ_OK);
    REQUIRE(nq_npy_load(ref, &want, &err) == NQ_OK);
    CHECK_OK(nq_session_run(s, &x, 1, &got, 1, &err));
    CHECK(nq_tensor_same_shape(&got, &want));
    double worst = 0;
    for (int64_t i = 0; i < nq_tensor_numel(&want); i++) {
        double d = fabs(((float *)got.data)[i] - ((float *)want.data)[i]);
        if (d > worst) worst = d;
    }
    printf("%-10s logits max |nnquant - pytorch| = %.3g\n", name, worst);
    CHECK(worst <= 1e-4);
    nq_tensor_free(&x);
    nq_tensor_free(&want);
    nq_tensor_free(&got);

    /* accuracy vs PyTorch */
    nq_eval_result r;
    CHECK_OK(nq_evaluate(s, g, test, 100, NULL, NULL, &r, &err));
    double expected = pytorch_top1(name);
    printf("%-10s top-1 nnquant %.4f, pytorch %.4f (%lld images, %.0f images/s)\n", name, r.top1,
           expected, (long long)r.samples, r.seconds > 0 ? (double)r.samples / r.seconds : 0.0);
    CHECK(expected > 0);
    if (TEST_LIMIT == 0) {
        CHECK(r.samples == 10000);
        CHECK_NEAR(r.top1, expected, 0.0005);
    }
    nq_session_free(s);
    nq_graph_free(g);
}

int main(int argc, char **argv)
{
    const char *all[] = {"convnet", "resnet", "mobilenet", "mlp"};
    nq_preprocess prep;
    nq_preprocess_default(&prep);
    prep.scale = 1.0f / 255.0f;
    nq_dataset *test = NULL;
    nq_error err = {0};
    if (nq_dataset_load(FM "t10k-images-idx3-ubyte.gz", FM "t10k-labels-idx1-ubyte.gz", &prep, TEST_LIMIT,
                        &test, &err) != NQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (argc < 2 || strcmp(argv[1], all[i]) == 0) check_model(all[i], test);
    nq_dataset_free(test);
    TEST_MAIN_END();
}
