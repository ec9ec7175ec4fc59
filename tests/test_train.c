/* The trainer (include/nnquant/train.h) on a small residual CNN built here
 * (Conv, BatchNormalization, Relu, Clip, Add, MaxPool, Reshape, Concat,
 * GlobalAveragePool, Flatten, Gemm):
 *  - parameter gradients of the whole graph against finite differences of
 *    the batch loss (fan-out accumulation, reverse order, the fused loss);
 *  - the loss falls on a learnable synthetic task with SGD and with Adam;
 *  - checkpoint + resume gives bit-identical parameters to uninterrupted
 *    training (both optimizers);
 *  - trained, saved and reloaded: identical inference outputs;
 *  - freezing, the learning-rate schedules, and errors (an operator
 *    without a backward in the gradient path, bad labels). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/onnx.h"
#include "nnquant/run.h"
#include "nnquant/train.h"
#include "nqtest.h"

enum { H = 8, CLASSES = 3 };
static unsigned rng = 777u;
static float frand(float lo, float hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)((rng >> 8) & 0xFFFFFF) / 16777216.0f;
}

static int init(nq_graph *g, const char *name, int ndim, const int64_t *dims, float lo, float hi)
{
    nq_tensor t;
    REQUIRE(nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, ndim, dims, NULL) == NQ_OK);
    float *p = t.data;
    for (int64_t i = 0; i < nq_tensor_numel(&t); i++) p[i] = frand(lo, hi);
    int v = nq_graph_add_initializer(g, name, &t, NULL);
    REQUIRE(v >= 0);
    return v;
}

static int node(nq_graph *g, const char *op, const char *name, int n_in, const int *in)
{
    int out = nq_graph_add_value(g, NULL, NULL);
    REQUIRE(out >= 0);
    REQUIRE(nq_graph_add_node(g, op, name, n_in, in, 1, &out, NULL) != NULL);
    return out;
}

static void conv_attrs(nq_graph *g, const char *name)
{
    static const int64_t k[2] = {3, 3}, p[4] = {1, 1, 1, 1};
    nq_node *n = nq_graph_find_node(g, name);
    nq_node_set_ints(n, "kernel_shape", 2, k);
    nq_node_set_ints(n, "pads", 4, p);
}

/* x [N,1,8,8] -> conv1(4) -> bn -> relu -> conv2(4) -> add(relu) -> clip(0,6)
 * -> maxpool 2x2 -> concat(gap, reshape) -> gemm(3). */
static nq_graph *make_net(void)
{
    rng = 777u;
    nq_graph *g = nq_graph_create("tiny");
    REQUIRE(nq_graph_set_opset(g, "", 13, NULL) == NQ_OK);
    int x = nq_graph_add_value(g, "input", NULL);
    nq_value *xv = g->values[x];
    xv->dtype = NQ_DTYPE_FLOAT32;
    xv->ndim = 4;
    const int64_t xd[4] = {-1, 1, H, H};
    memcpy(xv->dims, xd, sizeof xd);
    REQUIRE(nq_graph_add_input(g, x, NULL) == NQ_OK);
    const int64_t w1d[4] = {4, 1, 3, 3}, w2d[4] = {4, 4, 3, 3}, c4[1] = {4};
    int in1[3] = {x, init(g, "w1", 4, w1d, -0.5f, 0.5f), init(g, "b1", 1, c4, -0.1f, 0.1f)};
    int c1 = node(g, "Conv", "conv1", 3, in1);
    conv_attrs(g, "conv1");
    int inb[5] = {c1, init(g, "bn_scale", 1, c4, 0.8f, 1.2f), init(g, "bn_bias", 1, c4, -0.1f, 0.1f),
                  init(g, "bn_mean", 1, c4, -0.1f, 0.1f), init(g, "bn_var", 1, c4, 0.9f, 1.1f)};
    int bn = node(g, "BatchNormalization", "bn", 5, inb);
    int r1 = node(g, "Relu", "relu1", 1, &bn);
    int in2[3] = {r1, init(g, "w2", 4, w2d, -0.3f, 0.3f), init(g, "b2", 1, c4, -0.1f, 0.1f)};
    int c2 = node(g, "Conv", "conv2", 3, in2);
    conv_attrs(g, "conv2");
    int ina[2] = {c2, r1};
    int add = node(g, "Add", "add", 2, ina);
    nq_tensor lo, hi;
    float zero = 0.0f, six = 6.0f;
    nq_tensor_alloc(&lo, NQ_DTYPE_FLOAT32, 0, NULL, NULL);
    nq_tensor_alloc(&hi, NQ_DTYPE_FLOAT32, 0, NULL, NULL);
    memcpy(lo.data, &zero, 4);
    memcpy(hi.data, &six, 4);
    int inc[3] = {add, nq_graph_add_initializer(g, "clip_lo", &lo, NULL),
                  nq_graph_add_initializer(g, "clip_hi", &hi, NULL)};
    int clip = node(g, "Clip", "relu6", 3, inc);
    int mp = node(g, "MaxPool", "pool", 1, &clip);
    static const int64_t k2[2] = {2, 2};
    nq_node_set_ints(nq_graph_find_node(g, "pool"), "kernel_shape", 2, k2);
    nq_node_set_ints(nq_graph_find_node(g, "pool"), "strides", 2, k2);
    int gap = node(g, "GlobalAveragePool", "gap", 1, &mp);
    int fl = node(g, "Flatten", "flat", 1, &gap);
    nq_tensor shp;
    const int64_t two = 2, sv[2] = {0, -1};
    nq_tensor_alloc(&shp, NQ_DTYPE_INT64, 1, &two, NULL);
    memcpy(shp.data, sv, sizeof sv);
    int inr[2] = {mp, nq_graph_add_initializer(g, "shape", &shp, NULL)};
    int rs = node(g, "Reshape", "reshape", 2, inr);
    int incat[2] = {fl, rs};
    int cat = node(g, "Concat", "concat", 2, incat);
    nq_node_set_int(nq_graph_find_node(g, "concat"), "axis", 1);
    const int64_t wfd[2] = {CLASSES, 4 + 4 * (H / 2) * (H / 2)}, bfd[1] = {CLASSES};
    int ing[3] = {cat, init(g, "wf", 2, wfd, -0.2f, 0.2f), init(g, "bf", 1, bfd, -0.1f, 0.1f)};
    int y = nq_graph_add_value(g, "logits", NULL);
    nq_node *gm = nq_graph_add_node(g, "Gemm", "fc", 3, ing, 1, &y, NULL);
    REQUIRE(gm != NULL);
    nq_node_set_int(gm, "transB", 1);
    REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);
    return g;
}

/* A synthetic task: class c puts a bright blob in region c of the image. */
static nq_dataset *make_data(int64_t n, unsigned seed)
{
    nq_dataset *d = calloc(1, sizeof *d);
    const int64_t dims[4] = {n, 1, H, H};
    REQUIRE(nq_tensor_alloc(&d->samples, NQ_DTYPE_FLOAT32, 4, dims, NULL) == NQ_OK);
    d->labels = malloc(sizeof(int64_t) * (size_t)n);
    d->n = n;
    unsigned save = rng;
    rng = seed;
    float *p = d->samples.data;
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i % CLASSES);
        d->labels[i] = c;
        for (int k = 0; k < H * H; k++) {
            int r = k / H, col = k % H;
            int in_region = c == 0 ? r < 3 : c == 1 ? r >= 5 : (col >= 3 && col < 6 && r >= 3 && r < 5);
            p[i * H * H + k] = frand(0.0f, 0.4f) + (in_region ? 0.8f : 0.0f);
        }
    }
    rng = save;
    return d;
}

static void free_data(nq_dataset *d)
{
    nq_tensor_free(&d->samples);
    free(d->labels);
    free(d);
}

static nq_tensor batch_of(const nq_dataset *d, int64_t n)
{
    nq_tensor x;
    const int64_t dims[4] = {n, 1, H, H};
    REQUIRE(nq_tensor_alloc(&x, NQ_DTYPE_FLOAT32, 4, dims, NULL) == NQ_OK);
    memcpy(x.data, d->samples.data, (size_t)(n * H * H) * sizeof(float));
    return x;
}

/* Whole-graph gradients vs central differences of the batch loss. eps 1e-3:
 * the float rounding of a ~1 loss (~1e-7) gives ~1e-4 in the difference;
 * larger steps move activations across the kinks of Relu, Clip and MaxPool
 * (with eps 1e-2 several differences are off by ~10%). Hence atol 1e-3 +
 * rtol 2e-2; a wrong gradient (a missed fan-out term, a wrong factor) is
 * off by far more. */
static void test_graph_gradients(void)
{
    nq_graph *g = make_net();
    nq_dataset *d = make_data(6, 99u);
    nq_train_opts o;
    nq_train_opts_default(&o);
    o.num_threads = 1;
    nq_trainer *t = NULL;
    nq_error err = {0};
    REQUIRE(nq_trainer_create(g, &o, &t, &err) == NQ_OK);
    CHECK(nq_trainer_num_params(t) == 8); /* w1 b1 bn_scale bn_bias w2 b2 wf bf; not bn stats, clip */
    nq_tensor x = batch_of(d, 6);
    nq_train_stats st;
    REQUIRE(nq_trainer_compute_grads(t, &x, d->labels, &st, &err) == NQ_OK);
    CHECK(st.samples == 6 && st.loss > 0);
    int bad = 0, checked = 0;
    for (int p = 0; p < nq_trainer_num_params(t); p++) {
        const char *name = nq_trainer_param_name(t, p);
        CHECK(strcmp(name, "bn_mean") && strcmp(name, "bn_var") && strcmp(name, "clip_lo"));
        nq_tensor ga;
        REQUIRE(nq_tensor_copy(&ga, nq_trainer_param_grad(t, p), NULL) == NQ_OK);
        nq_tensor *w = g->values[nq_graph_find_value(g, name)]->init;
        float *wp = w->data;
        const int64_t n = nq_tensor_numel(w), step = n > 12 ? n / 12 : 1;
        for (int64_t i = 0; i < n; i += step) {
            const float w0 = wp[i];
            const double eps = 1e-3;
            nq_train_stats sp, sm;
            wp[i] = (float)(w0 + eps);
            REQUIRE(nq_trainer_compute_grads(t, &x, d->labels, &sp, &err) == NQ_OK);
            wp[i] = (float)(w0 - eps);
            REQUIRE(nq_trainer_compute_grads(t, &x, d->labels, &sm, &err) == NQ_OK);
            wp[i] = w0;
            const double fd = (sp.loss - sm.loss) / ((double)(float)(w0 + eps) - (double)(float)(w0 - eps));
            const double a = ((const float *)ga.data)[i];
            checked++;
            if (!(fabs(a - fd) <= 1e-3 + 2e-2 * fmax(fabs(a), fabs(fd)))) {
                if (bad++ < 5) fprintf(stderr, "%s[%lld]: analytic %.6g, fd %.6g\n", name, (long long)i, a, fd);
            }
        }
        nq_tensor_free(&ga);
    }
    CHECK(bad == 0);
    CHECK(checked > 50);
    nq_tensor_free(&x);
    nq_trainer_free(t);
    free_data(d);
    nq_graph_free(g);
}

static double train_loss(nq_optimizer opt, float lr, double *first)
{
    nq_graph *g = make_net();
    nq_dataset *d = make_data(96, 5u);
    nq_train_opts o;
    nq_train_opts_default(&o);
    o.optimizer = opt;
    o.lr = lr;
    o.batch = 16;
    o.num_threads = 1;
    nq_trainer *t = NULL;
    nq_error err = {0};
    REQUIRE(nq_trainer_create(g, &o, &t, &err) == NQ_OK);
    nq_train_stats st = {0};
    for (int e = 0; e < 6; e++) {
        REQUIRE(nq_train_epoch(t, d, NULL, NULL, &st, &err) == NQ_OK);
        if (e == 0) *first = st.loss;
    }
    CHECK(nq_trainer_step_count(t) == 36 && nq_trainer_epoch_count(t) == 6);
    /* evaluation in inference mode (running BN statistics) agrees */
    nq_eval_result r;
    REQUIRE(nq_trainer_evaluate(t, d, 32, &r, &err) == NQ_OK);
    CHECK(r.top1 > 0.9);
    nq_trainer_free(t);
    free_data(d);
    nq_graph_free(g);
    return st.loss;
}

static void test_loss_decreases(void)
{
    double first, last;
    last = train_loss(NQ_OPT_SGD, 0.05f, &first);
    printf("SGD: epoch 1 loss %.4f, epoch 6 loss %.4f\n", first, last);
    CHECK(last < 0.5 * first);
    last = train_loss(NQ_OPT_ADAM, 0.01f, &first);
    printf("Adam: epoch 1 loss %.4f, epoch 6 loss %.4f\n", first, last);
    CHECK(last < 0.5 * first);
}

static int same_params(const nq_graph *a, const nq_graph *b)
{
    int diff = 0;
    for (int v = 0; v < a->n_values; v++) {
        const nq_value *va = a->values[v];
        if (va->init == NULL) continue;
        int w = nq_graph_find_value(b, va->name);
        if (w < 0 || !b->values[w]->init || !nq_tensor_equal(va->init, b->values[w]->init)) {
            fprintf(stderr, "parameter %s differs\n", va->name);
            diff++;
        }
    }
    return diff == 0;
}

static void test_checkpoint_resume(nq_optimizer opt)
{
    const char *ck = opt == NQ_OPT_ADAM ? "/tmp/nq_test_train_ck_adam.onnx" : "/tmp/nq_test_train_ck_sgd.onnx";
    nq_dataset *d = make_data(40, 11u);
    nq_train_opts o;
    nq_train_opts_default(&o);
    o.optimizer = opt;
    o.lr = opt == NQ_OPT_ADAM ? 0.01f : 0.05f;
    o.batch = 16; /* 3 batches per epoch, the last of 8 */
    o.weight_decay = 1e-3f;
    o.schedule = NQ_LR_COSINE;
    o.total_steps = 9;
    o.num_threads = 1;
    nq_error err = {0};
    /* uninterrupted: 3 epochs */
    nq_graph *ga = make_net();
    nq_trainer *ta = NULL;
    REQUIRE(nq_trainer_create(ga, &o, &ta, &err) == NQ_OK);
    for (int e = 0; e < 3; e++) REQUIRE(nq_train_epoch(ta, d, NULL, NULL, NULL, &err) == NQ_OK);
    /* interrupted after epoch 2, resumed from the files */
    nq_graph *gb = make_net();
    nq_trainer *tb = NULL;
    REQUIRE(nq_trainer_create(gb, &o, &tb, &err) == NQ_OK);
    for (int e = 0; e < 2; e++) REQUIRE(nq_train_epoch(tb, d, NULL, NULL, NULL, &err) == NQ_OK);
    CHECK_OK(nq_trainer_save_checkpoint(tb, ck, &err));
    nq_trainer_free(tb);
    nq_graph_free(gb);
    nq_graph *gc = NULL;
    REQUIRE(nq_onnx_load(ck, &gc, &err) == NQ_OK);
    nq_trainer *tc = NULL;
    nq_train_opts oc = o;
    oc.seed = 12345; /* resume restores the checkpoint's shuffling seed */
    REQUIRE(nq_trainer_create(gc, &oc, &tc, &err) == NQ_OK);
    CHECK_OK(nq_trainer_resume(tc, ck, &err));
    CHECK(nq_trainer_step_count(tc) == 6 && nq_trainer_epoch_count(tc) == 2);
    REQUIRE(nq_train_epoch(tc, d, NULL, NULL, NULL, &err) == NQ_OK);
    CHECK(same_params(ga, gc));
    /* a checkpoint of another optimizer is refused */
    nq_train_opts o2 = o;
    o2.optimizer = opt == NQ_OPT_ADAM ? NQ_OPT_SGD : NQ_OPT_ADAM;
    nq_graph *gd = NULL;
    REQUIRE(nq_onnx_load(ck, &gd, &err) == NQ_OK);
    nq_trainer *td = NULL;
    REQUIRE(nq_trainer_create(gd, &o2, &td, &err) == NQ_OK);
    CHECK(nq_trainer_resume(td, ck, &err) == NQ_ERR_INVALID_ARG);
    nq_trainer_free(td);
    nq_graph_free(gd);
    nq_trainer_free(ta);
    nq_trainer_free(tc);
    nq_graph_free(ga);
    nq_graph_free(gc);
    free_data(d);
    remove(ck);
    char side[128];
    snprintf(side, sizeof side, "%s.optim.npy", ck);
    remove(side);
}

/* Trained, saved, reloaded: the same inference outputs. */
static void test_save_reload(void)
{
    const char *path = "/tmp/nq_test_train_saved.onnx";
    nq_dataset *d = make_data(32, 3u);
    nq_graph *g = make_net();
    nq_train_opts o;
    nq_train_opts_default(&o);
    o.batch = 8;
    o.num_threads = 1;
    nq_error err = {0};
    nq_trainer *t = NULL;
    REQUIRE(nq_trainer_create(g, &o, &t, &err) == NQ_OK);
    REQUIRE(nq_train_epoch(t, d, NULL, NULL, NULL, &err) == NQ_OK);
    nq_trainer_free(t);
    CHECK_OK(nq_onnx_save(g, path, &err));
    nq_graph *g2 = NULL;
    REQUIRE(nq_onnx_load(path, &g2, &err) == NQ_OK);
    nq_tensor x = batch_of(d, 32), y1 = {0}, y2 = {0};
    nq_session *s1 = NULL, *s2 = NULL;
    nq_session_opts so = {1};
    REQUIRE(nq_session_create(g, &so, &s1, &err) == NQ_OK);
    REQUIRE(nq_session_create(g2, &so, &s2, &err) == NQ_OK);
    CHECK_OK(nq_session_run(s1, &x, 1, &y1, 1, &err));
    CHECK_OK(nq_session_run(s2, &x, 1, &y2, 1, &err));
    CHECK(nq_tensor_equal(&y1, &y2));
    nq_tensor_free(&x);
    nq_tensor_free(&y1);
    nq_tensor_free(&y2);
    nq_session_free(s1);
    nq_session_free(s2);
    nq_graph_free(g);
    nq_graph_free(g2);
    free_data(d);
    remove(path);
}

static void test_freeze_and_errors(void)
{
    nq_dataset *d = make_data(16, 4u);
    nq_graph *g = make_net();
    nq_train_opts o;
    nq_train_opts_default(&o);
    o.batch = 8;
    o.num_threads = 1;
    nq_error err = {0};
    nq_trainer *t = NULL;
    REQUIRE(nq_trainer_create(g, &o, &t, &err) == NQ_OK);
    CHECK(nq_trainer_freeze(t, "bn_mean", &err) == NQ_ERR_INVALID_ARG);
    CHECK_OK(nq_trainer_freeze(t, "w1", &err));
    nq_tensor w1;
    REQUIRE(nq_tensor_copy(&w1, g->values[nq_graph_find_value(g, "w1")]->init, NULL) == NQ_OK);
    nq_tensor wf;
    REQUIRE(nq_tensor_copy(&wf, g->values[nq_graph_find_value(g, "wf")]->init, NULL) == NQ_OK);
    REQUIRE(nq_train_epoch(t, d, NULL, NULL, NULL, &err) == NQ_OK);
    CHECK(nq_tensor_equal(&w1, g->values[nq_graph_find_value(g, "w1")]->init));
    CHECK(!nq_tensor_equal(&wf, g->values[nq_graph_find_value(g, "wf")]->init));
    /* a label out of range */
    nq_tensor x = batch_of(d, 8);
    int64_t labels[8] = {0, 1, 2, 0, 1, 7, 0, 1};
    CHECK(nq_trainer_step(t, &x, labels, NULL, &err) == NQ_ERR_DATA);
    CHECK(strstr(err.msg, "label 7") != NULL);
    nq_tensor_free(&x);
    nq_tensor_free(&w1);
    nq_tensor_free(&wf);
    nq_trainer_free(t);
    /* an operator without a backward where a gradient must pass */
    nq_node *relu = nq_graph_find_node(g, "relu1");
    char *old = relu->op_type;
    relu->op_type = (char *)"Erf";
    CHECK(nq_trainer_create(g, &o, &t, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "relu1") != NULL && strstr(err.msg, "Erf") != NULL);
    relu->op_type = old;
    nq_graph_free(g);
    free_data(d);
}

static void test_schedules(void)
{
    nq_train_opts o;
    nq_train_opts_default(&o);
    o.lr = 0.1f;
    CHECK_NEAR(nq_train_lr(&o, 1000), 0.1, 1e-7);
    o.schedule = NQ_LR_STEP;
    o.step_size = 10;
    o.gamma = 0.5f;
    CHECK_NEAR(nq_train_lr(&o, 9), 0.1, 1e-7);
    CHECK_NEAR(nq_train_lr(&o, 10), 0.05, 1e-7);
    CHECK_NEAR(nq_train_lr(&o, 25), 0.025, 1e-7);
    o.schedule = NQ_LR_COSINE;
    o.total_steps = 100;
    o.lr_min = 0.01f;
    CHECK_NEAR(nq_train_lr(&o, 0), 0.1, 1e-7);
    CHECK_NEAR(nq_train_lr(&o, 50), 0.055, 1e-6);
    CHECK_NEAR(nq_train_lr(&o, 100), 0.01, 1e-7);
    CHECK_NEAR(nq_train_lr(&o, 200), 0.01, 1e-7);
}

int main(void)
{
    test_graph_gradients();
    test_loss_decreases();
    test_checkpoint_resume(NQ_OPT_SGD);
    test_checkpoint_resume(NQ_OPT_ADAM);
    test_save_reload();
    test_freeze_and_errors();
    test_schedules();
    TEST_MAIN_END();
}
