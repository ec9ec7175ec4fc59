/* SAT transforms (include/nnquant/qat.h):
 *  - insert_param_clamping / insert_param_scaling_adjust (with and without
 *    use_batchnorms) / insert_sat_nodes put TanhClamp and ScaleAdjust (two
 *    outputs each) on the weight edge of every Conv/Gemm;
 *  - insert_param_quantizers: a DoReFa after every TanhClamp (range
 *    2^b - 1, mode); insert_activ_quantizers: a CG-PACT after every Relu,
 *    LSQs at the signed quantization points, biases on their grid;
 *  - post_training_transform gives an integer graph whose top-1 equals the
 *    fake-quantized SAT graph's on >= 99.9% of test images, untrained
 *    (alphas and steps as initialized) and after a short training (which
 *    must not move the fixed constants of the bias grids);
 *  - errors: bad bits or alpha, phase 1 only. */
#include "nnquant/ops.h"
#include "nnquant/ptq.h"
#include "nnquant/qat.h"
#include "nnquant/train.h"
#include "qat_testutil.h"


static void check_phase1(void)
{
    nq_graph *g = qt_model("models/resnet.onnx");
    nq_error e = {0};
    CHECK_OK(nq_sat_insert_param_clamping(g, &e));
    CHECK(qt_count_op(g, "TanhClamp") == 10); /* 9 Conv + 1 Gemm */
    CHECK_OK(nq_sat_insert_param_scaling_adjust(g, 1, &e));
    CHECK(qt_count_op(g, "ScaleAdjust") == 1); /* every Conv is followed by a BatchNormalization */
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        if (strcmp(n->op_type, "TanhClamp") == 0 || strcmp(n->op_type, "ScaleAdjust") == 0)
            CHECK(n->n_outputs == 2 && n->outputs[1] >= 0 && strcmp(n->domain, NQ_DOMAIN) == 0);
        if (n->op == NQ_OP_Conv) {
            const nq_node *p = producer(g, n->inputs[1]);
            CHECK(p != NULL && strcmp(p->op_type, "TanhClamp") == 0);
        }
    }
    nq_graph_free(g);
    g = qt_model("models/resnet.onnx");
    CHECK_OK(nq_sat_insert_sat_nodes(g, 0, &e));
    CHECK(qt_count_op(g, "TanhClamp") == 10 && qt_count_op(g, "ScaleAdjust") == 10);
    CHECK(nq_sat_insert_param_quantizers(g, 9, NQ_DOREFA_DEFAULT, &e) == NQ_ERR_INVALID_ARG);
    CHECK(nq_sat_insert_activ_quantizers(g, 4, 0.0f, &e) == NQ_ERR_INVALID_ARG);
    nq_graph *c = NULL;
    CHECK_OK(nq_graph_clone(g, &c, &e));
    CHECK(nq_sat_post_training_transform(c, 1, &e) == NQ_ERR_INVALID_ARG); /* no DoReFa yet */
    CHECK(strstr(e.msg, "insert_param_quantizers") != NULL);
    nq_graph_free(c);
    CHECK_OK(nq_sat_insert_param_quantizers(g, 4, NQ_DOREFA_DEFAULT, &e));
    CHECK(qt_count_op(g, "DoReFa") == 10);
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        if (strcmp(n->op_type, "DoReFa") != 0) continue;
        const nq_node *p = producer(g, n->inputs[0]);
        CHECK(p != NULL && strcmp(p->op_type, "TanhClamp") == 0);
        CHECK(nq_node_attr_int(n, "range", 0) == 15 && strcmp(nq_node_attr_string(n, "mode", ""), "default") == 0);
    }
    nq_graph_free(g);
}

/* A SAT graph (BN folded, all phases, gains kept) vs its integer form. */
static void check_equivalence(const char *model, nq_dorefa_mode mode, const nq_dataset *calib,
                              const nq_dataset *train, const nq_dataset *test)
{
    nq_graph *g = qt_model(model);
    nq_error e = {0};
    CHECK_OK(nq_prepare_network(g, &e));
    CHECK_OK(nq_sat_insert_sat_nodes(g, 1, &e));
    CHECK_OK(nq_sat_insert_param_quantizers(g, 4, mode, &e));
    CHECK_OK(nq_sat_preserve_gains(g, &e));
    CHECK_OK(nq_sat_insert_activ_quantizers(g, 4, 4.0f, &e));
    int relus = qt_count_op(g, "Relu");
    CHECK(qt_count_op(g, "CGPACT") == relus && qt_count_op(g, "LSQ") > 0);
    for (int i = 0; i < g->n_nodes; i++) { /* every CG-PACT follows a Relu */
        const nq_node *n = g->nodes[i];
        if (strcmp(n->op_type, "CGPACT") != 0) continue;
        const nq_node *p = producer(g, n->inputs[0]);
        CHECK(p != NULL && p->op == NQ_OP_Relu && nq_node_attr_int(n, "range", 0) == 15);
        CHECK_NEAR(nq_tensor_get(g->values[n->inputs[1]]->init, 0), 4.0, 0);
    }
    if (train != NULL) {
        nq_train_opts o;
        nq_train_opts_default(&o);
        o.optimizer = NQ_OPT_ADAM;
        o.lr = 1e-3f;
        nq_trainer *t = NULL;
        nq_train_stats st;
        CHECK_OK(nq_trainer_create(g, &o, &t, &e));
        REQUIRE(t != NULL);
        for (int i = 0; i < nq_trainer_num_params(t); i++) /* parameters: no fixed constant among them */
            CHECK(strncmp(nq_trainer_param_name(t, i), "sat_const", 9) != 0);
        CHECK_OK(nq_train_epoch(t, train, NULL, NULL, &st, &e));
        nq_trainer_free(t);
    } else {
        qt_init_steps(g, calib, "LSQ");
    }
    int64_t *fake = qt_predict(g, test);
    nq_graph *q = NULL;
    CHECK_OK(nq_graph_clone(g, &q, &e));
    nq_status s = nq_sat_post_training_transform(q, 1, &e);
    if (s != NQ_OK) fprintf(stderr, "%s: %s\n", model, e.msg);
    REQUIRE(s == NQ_OK);
    static const char *const gone[] = {"TanhClamp", "DoReFa", "ScaleAdjust", "CGPACT", "LSQ", "Mul"};
    for (int k = 0; k < 6; k++) CHECK(qt_count_op(q, gone[k]) == 0);
    int64_t *integ = qt_predict(q, test);
    double agree = qt_agreement(fake, integ, test->n);
    printf("%s: SAT W4A4 %s (%s): fake %.4f integer %.4f agreement %.4f\n", model,
           mode == NQ_DOREFA_DEFAULT ? "default" : "symmetric", train ? "short training" : "untrained",
           qt_accuracy(fake, test), qt_accuracy(integ, test), agree);
    CHECK(agree >= 0.999);
    free(fake);
    free(integ);
    nq_graph_free(q);
    nq_graph_free(g);
}

int main(void)
{
    check_phase1();
    nq_dataset *calib = qt_load(QT_FM "train-images-idx3-ubyte.gz", NULL, 256);
    nq_dataset *test = qt_load(QT_FM "t10k-images-idx3-ubyte.gz", QT_FM "t10k-labels-idx1-ubyte.gz", N_IMAGES);
    nq_dataset *train = qt_load(QT_FM "train-images-idx3-ubyte.gz", QT_FM "train-labels-idx1-ubyte.gz", N_TRAIN);
    check_equivalence("models/convnet.onnx", NQ_DOREFA_SYMMETRIC, calib, NULL, test);
    check_equivalence("models/resnet.onnx", NQ_DOREFA_DEFAULT, calib, NULL, test);
    check_equivalence("models/resnet.onnx", NQ_DOREFA_SYMMETRIC, calib, train, test);
    nq_dataset_free(train);
    nq_dataset_free(calib);
    nq_dataset_free(test);
    TEST_MAIN_END();
}
