/* QAT starting from a PTQ result (qat.h: nq_qat_from_quantized,
 * nq_qat_init_from_ranges):
 *  - a W4A4 PTQ model (per-tensor, MSE, optimize_signs) of the ConvNet and
 *    the ResNet turns into a float graph without quantization nodes, its
 *    output keeping its name;
 *  - LSQ inserted at the same bit widths and started on PTQ's ranges has
 *    every quantizer set, computes the PTQ model's function (top-1 equal
 *    on >= 99% of test images, where the data-initialized LSQ graph is
 *    printed for contrast), and its post-training transform without any
 *    training gives back the PTQ model (>= 99% top-1 agreement);
 *  - SAT's CG-PACT alphas start on PTQ's ranges;
 *  - a fake-quantized PTQ graph is refused with an error. */
#include "nnquant/ptq.h"
#include "nnquant/qat.h"
#include "qat_testutil.h"

static nq_graph *ptq(const char *model, const nq_dataset *calib, int bits, int fake)
{
    nq_graph *g = qt_model(model);
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    o.act_dtype = bits == 4 ? NQ_DTYPE_INT4 : NQ_DTYPE_INT8;
    o.weight_dtype = o.act_dtype;
    o.clipping = NQ_CLIP_MSE;
    o.optimize_signs = 1;
    o.fake_quantize = fake;
    nq_error e = {0};
    if (nq_quantize_network(g, calib, &o, &e) != NQ_OK) {
        fprintf(stderr, "%s: %s\n", model, e.msg);
        exit(1);
    }
    return g;
}

/* The float graph of a PTQ model q and its ranges. */
static nq_graph *start(nq_graph *q, nq_qat_ranges **r, const char *model)
{
    nq_error e = {0};
    nq_graph *f = NULL;
    if (nq_qat_from_quantized(q, &f, r, &e) != NQ_OK) fprintf(stderr, "%s: %s\n", model, e.msg);
    REQUIRE(f != NULL);
    return f;
}

static void release(nq_graph *q, nq_graph *f, nq_qat_ranges *r)
{
    nq_graph_free(f);
    nq_graph_free(q);
    nq_qat_ranges_free(r);
}

static void check_lsq(const char *model, int bits, const nq_dataset *calib, const nq_dataset *test)
{
    nq_error e = {0};
    nq_qat_ranges *r = NULL;
    nq_graph *q = ptq(model, calib, bits, 0), *f = start(q, &r, model);
    CHECK(qt_count_op(f, "Quantizer") == 0 && qt_count_op(f, "QuantizeLinear") == 0 &&
          qt_count_op(f, "DequantizeLinear") == 0 && qt_count_op(f, "Clip") == 0);
    CHECK(strcmp(f->values[f->outputs[0]]->name, q->values[q->outputs[0]]->name) == 0);
    for (int i = 0; i < f->n_values; i++)
        if (f->values[i]->init != NULL && f->values[i]->producer == NULL)
            CHECK(f->values[i]->init->dtype != NQ_DTYPE_INT8 && f->values[i]->init->dtype != NQ_DTYPE_UINT8 &&
                  f->values[i]->init->dtype != NQ_DTYPE_INT32);
    int set = 0, total = 0;
    REQUIRE(nq_lsq_setup_quantizers(f, bits, &e) == NQ_OK);
    REQUIRE(nq_qat_init_from_ranges(f, r, &set, &total, &e) == NQ_OK);
    CHECK(total > 0 && set == total);

    int64_t *pq = qt_predict(q, test), *pl = qt_predict(f, test);
    double a_fake = qt_agreement(pq, pl, test->n);

    nq_graph *d = qt_model(model); /* contrast: LSQ started from data */
    REQUIRE(nq_lsq_setup_quantizers(d, bits, &e) == NQ_OK);
    qt_init_steps(d, calib, "LSQ");
    int64_t *pd = qt_predict(d, test);
    double a_data = qt_agreement(pq, pd, test->n);

    REQUIRE(nq_lsq_post_training_transform(f, 1, &e) == NQ_OK);
    int64_t *pi = qt_predict(f, test);
    double a_int = qt_agreement(pq, pi, test->n), a_cast = qt_agreement(pl, pi, test->n);
    printf("%s: PTQ W%dA%d top-1 %.4f; LSQ on PTQ ranges %.4f (agrees %.4f), back to integers %.4f (agrees %.4f); "
           "LSQ from data %.4f (agrees %.4f); %d/%d quantizers set\n",
           model, bits, bits, qt_accuracy(pq, test), qt_accuracy(pl, test), a_fake, qt_accuracy(pi, test), a_int,
           qt_accuracy(pd, test), a_data, set, total);
    CHECK(a_cast >= 0.999); /* the integer cast keeps the trained function */
    if (bits == 8) { /* LSQ's grids are PTQ's (8-bit I/O, unsigned post-ReLU): the same model */
        CHECK(a_fake >= 0.99);
        CHECK(a_int >= 0.99);
    } else { /* finer grids than PTQ's at the input, output and post-ReLU: no worse */
        CHECK(qt_accuracy(pl, test) >= qt_accuracy(pq, test) - 0.005);
    }
    free(pq), free(pl), free(pd), free(pi);
    nq_graph_free(d);
    release(q, f, r);
}

static void check_sat(const nq_dataset *calib)
{
    nq_error e = {0};
    nq_qat_ranges *r = NULL;
    nq_graph *q = ptq("models/convnet.onnx", calib, 4, 0), *f = start(q, &r, "convnet");
    REQUIRE(nq_sat_insert_sat_nodes(f, 1, &e) == NQ_OK);
    REQUIRE(nq_sat_insert_param_quantizers(f, 4, NQ_DOREFA_SYMMETRIC, &e) == NQ_OK);
    REQUIRE(nq_sat_insert_activ_quantizers(f, 4, 8.0f, &e) == NQ_OK);
    int set = 0, total = 0;
    REQUIRE(nq_qat_init_from_ranges(f, r, &set, &total, &e) == NQ_OK);
    int pacts = qt_count_op(f, "CGPACT"), moved = 0;
    for (int i = 0; i < f->n_nodes; i++)
        if (strcmp(f->nodes[i]->op_type, "CGPACT") == 0)
            moved += *(const float *)f->values[f->nodes[i]->inputs[1]]->init->data != 8.0f;
    printf("SAT: %d of %d CG-PACT alphas on PTQ ranges (%d/%d quantizers set)\n", moved, pacts, set, total);
    CHECK(pacts > 0 && moved == pacts);
    release(q, f, r);
}

static void check_errors(const nq_dataset *calib)
{
    nq_error e = {0};
    nq_graph *q = ptq("models/mlp.onnx", calib, 8, 1), *f = NULL;
    nq_qat_ranges *r = NULL;
    CHECK(nq_qat_from_quantized(q, &f, &r, &e) != NQ_OK && f == NULL && r == NULL);
    CHECK(strstr(e.msg, "quantized model") != NULL);
    printf("fake-quantized: %s\n", e.msg);
    nq_graph_free(q);
}

int main(void)
{
    nq_dataset *calib = qt_load(QT_FM "train-images-idx3-ubyte.gz", NULL, 256);
    nq_dataset *test = qt_load(QT_FM "t10k-images-idx3-ubyte.gz", QT_FM "t10k-labels-idx1-ubyte.gz", N_IMAGES);
    check_lsq("models/convnet.onnx", 8, calib, test);
    check_lsq("models/convnet.onnx", 4, calib, test);
#ifndef NQ_SANITIZED /* the ResNet runs take minutes at -O0 with sanitizers */
    check_lsq("models/resnet.onnx", 8, calib, test);
    check_lsq("models/resnet.onnx", 4, calib, test);
#endif
    check_sat(calib);
    check_errors(calib);
    nq_dataset_free(calib);
    nq_dataset_free(test);
    TEST_MAIN_END();
}
