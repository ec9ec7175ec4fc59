/* LSQ transforms (include/nnquant/qat.h):
 *  - setup_quantizers on models/convnet.onnx and models/resnet.onnx: one
 *    weight LSQ per Conv/Gemm (symmetric range), activation LSQs at the
 *    input (8 bits), after each affine node (unsigned before a Relu), at
 *    the output (8 bits), biases on the accumulator grid, BatchNorm folded,
 *    and the inputs of every Add sharing one step;
 *  - post_training_transform gives an integer graph (int4 weights, no LSQ
 *    left) whose top-1 equals the fake-quantized LSQ graph's on >= 99.9%
 *    of test images: with steps set from data, and after a short training
 *    (the trainer's first forward initializes the steps);
 *  - errors: bad nb_bits, a second setup, uninitialized activation steps. */
#include "nnquant/ops.h"
#include "nnquant/ptq.h"
#include "nnquant/qat.h"
#include "nnquant/train.h"
#include "qat_testutil.h"


static void range_of(const nq_node *q, int64_t *lo, int64_t *hi)
{
    const int64_t *r = NULL;
    REQUIRE(nq_node_attr_ints(q, "range", &r) == 2);
    *lo = r[0];
    *hi = r[1];
}

static void check_structure_convnet(void)
{
    nq_graph *g = qt_model("models/convnet.onnx");
    nq_error e = {0};
    CHECK(nq_lsq_setup_quantizers(g, 1, &e) == NQ_ERR_INVALID_ARG);
    CHECK_OK(nq_lsq_setup_quantizers(g, 4, &e));
    CHECK(nq_lsq_setup_quantizers(g, 4, &e) == NQ_ERR_INVALID_ARG); /* twice */
    /* 6 affine nodes: 6 weight + 6 bias + 6 output-point + 1 input quantizers */
    CHECK(qt_count_op(g, "LSQ") == 19);
    int weights = 0, uns = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        if (n->op == NQ_OP_Conv || n->op == NQ_OP_Gemm) {
            const nq_node *wq = producer(g, n->inputs[1]);
            REQUIRE(wq != NULL && strcmp(wq->op_type, "LSQ") == 0);
            int64_t lo, hi;
            range_of(wq, &lo, &hi);
            CHECK(lo == -7 && hi == 7 && nq_node_attr_int(wq, "weight", 0) == 1);
            weights++;
            /* the bias on the accumulator grid: step = Mul(input step, weight step) */
            const nq_node *bq = producer(g, n->inputs[2]);
            REQUIRE(bq != NULL && strcmp(bq->op_type, "LSQ") == 0);
            const nq_node *m = producer(g, bq->inputs[1]);
            CHECK(m != NULL && strcmp(m->op_type, "Mul") == 0 && m->inputs[1] == wq->inputs[1]);
            const nq_node *xq = producer(g, n->inputs[0]);
            while (xq && strcmp(xq->op_type, "LSQ") != 0) xq = producer(g, xq->inputs[0]);
            CHECK(xq != NULL); /* every affine input comes from a quantizer */
        }
        if (n->op == NQ_OP_Relu) {
            const nq_node *q = producer(g, n->inputs[0]);
            REQUIRE(q != NULL && strcmp(q->op_type, "LSQ") == 0);
            int64_t lo, hi;
            range_of(q, &lo, &hi);
            CHECK(lo == 0 && hi == 15);
            uns++;
        }
    }
    CHECK(weights == 6 && uns == 5);
    const nq_node *out = producer(g, g->outputs[0]);
    REQUIRE(out != NULL && strcmp(out->op_type, "LSQ") == 0);
    int64_t lo, hi;
    range_of(out, &lo, &hi);
    CHECK(lo == -127 && hi == 127);
    /* not trained: activation steps are 0 -> the transform refuses */
    nq_graph *c = NULL;
    CHECK_OK(nq_graph_clone(g, &c, &e));
    CHECK(nq_lsq_post_training_transform(c, 1, &e) == NQ_ERR_INVALID_ARG);
    CHECK(strstr(e.msg, "not initialized") != NULL);
    nq_graph_free(c);
    nq_graph_free(g);
}

static void check_joins_resnet(void)
{
    nq_graph *g = qt_model("models/resnet.onnx");
    nq_error e = {0};
    CHECK_OK(nq_lsq_setup_quantizers(g, 4, &e));
    int adds = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        if (n->op != NQ_OP_Add) continue;
        adds++;
        const nq_node *a = producer(g, n->inputs[0]), *b = producer(g, n->inputs[1]);
        REQUIRE(a && b && strcmp(a->op_type, "LSQ") == 0 && strcmp(b->op_type, "LSQ") == 0);
        CHECK(a->inputs[1] == b->inputs[1]); /* one shared step */
        int64_t lo, hi;
        range_of(a, &lo, &hi);
        CHECK(lo == -7 && hi == 7);
    }
    CHECK(adds == 3);
    /* BatchNormalization folded first; the 1/(H*W) of the pooling is
     * followed by its quantizer */
    CHECK(qt_count_op(g, "BatchNormalization") == 0);
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i]->op_type, "Quantizer") == 0) {
            nq_node *c[4];
            CHECK(nq_graph_consumers(g, g->nodes[i]->outputs[0], c, 4) == 1 && strcmp(c[0]->op_type, "LSQ") == 0);
        }
    nq_graph_free(g);
}

/* Integer graph vs the fake-quantized LSQ graph (trained on `train` when
 * given, else with steps set from data). */
static void check_equivalence(const char *model, const nq_dataset *calib, const nq_dataset *train,
                              const nq_dataset *test)
{
    nq_graph *g = qt_model(model);
    nq_error e = {0};
    CHECK_OK(nq_lsq_setup_quantizers(g, 4, &e));
    if (train != NULL) {
        nq_train_opts o;
        nq_train_opts_default(&o);
        o.optimizer = NQ_OPT_ADAM;
        o.lr = 1e-4f;
        nq_trainer *t = NULL;
        nq_train_stats st;
        CHECK_OK(nq_trainer_create(g, &o, &t, &e));
        REQUIRE(t != NULL);
        CHECK_OK(nq_train_epoch(t, train, NULL, NULL, &st, &e));
        CHECK(st.samples == train->n && st.loss > 0);
        nq_trainer_free(t);
        for (int i = 0; i < g->n_nodes; i++) /* every stored step initialized by the first forward */
            if (strcmp(g->nodes[i]->op_type, "LSQ") == 0 && g->values[g->nodes[i]->inputs[1]]->init != NULL)
                CHECK(nq_tensor_get(g->values[g->nodes[i]->inputs[1]]->init, 0) > 0);
    } else {
        qt_init_steps(g, calib, "LSQ");
    }
    int64_t *fake = qt_predict(g, test);
    nq_graph *q = NULL;
    CHECK_OK(nq_graph_clone(g, &q, &e));
    nq_status s = nq_lsq_post_training_transform(q, 1, &e);
    if (s != NQ_OK) fprintf(stderr, "%s: %s\n", model, e.msg);
    REQUIRE(s == NQ_OK);
    CHECK(qt_count_op(q, "LSQ") == 0 && qt_count_op(q, "BatchNormalization") == 0);
    int int4 = 0, int32 = 0;
    for (int v = 0; v < q->n_values; v++) {
        const nq_tensor *t = q->values[v]->init;
        if (t && t->dtype == NQ_DTYPE_INT4) int4++;
        if (t && t->dtype == NQ_DTYPE_INT32) int32++;
    }
    CHECK(int4 >= 6 && int32 >= 6); /* integer weights, int32 biases */
    int64_t *integ = qt_predict(q, test);
    double agree = qt_agreement(fake, integ, test->n);
    printf("%s: LSQ W4A4 (%s): fake %.4f integer %.4f agreement %.4f\n", model, train ? "short training" : "untrained",
           qt_accuracy(fake, test), qt_accuracy(integ, test), agree);
    CHECK(agree >= 0.999);
    /* a fake-quantized (not cast) transform agrees too */
    nq_graph *f = NULL;
    CHECK_OK(nq_graph_clone(g, &f, &e));
    CHECK_OK(nq_lsq_post_training_transform(f, 0, &e));
    int64_t *ff = qt_predict(f, test);
    CHECK(qt_agreement(fake, ff, test->n) >= 0.999);
    free(ff);
    nq_graph_free(f);
    free(fake);
    free(integ);
    nq_graph_free(q);
    nq_graph_free(g);
}

int main(void)
{
    check_structure_convnet();
    check_joins_resnet();
    nq_dataset *calib = qt_load(QT_FM "train-images-idx3-ubyte.gz", NULL, 256);
    nq_dataset *test = qt_load(QT_FM "t10k-images-idx3-ubyte.gz", QT_FM "t10k-labels-idx1-ubyte.gz", N_IMAGES);
    nq_dataset *train = qt_load(QT_FM "train-images-idx3-ubyte.gz", QT_FM "train-labels-idx1-ubyte.gz", N_TRAIN);
    check_equivalence("models/convnet.onnx", calib, NULL, test);
    check_equivalence("models/resnet.onnx", calib, NULL, test);
    check_equivalence("models/resnet.onnx", NULL, train, test);
    nq_dataset_free(train);
    nq_dataset_free(calib);
    nq_dataset_free(test);
    TEST_MAIN_END();
}
