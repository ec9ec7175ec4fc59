/* BatchNormalization (inference) against the formula, for ranks 2..5,
 * spatial = 0 (opset 7), extra outputs of old opsets, and errors. */
#include <math.h>
#include <string.h>

#include "nnquant/ops.h"
#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_BatchNormalization;
static unsigned rng = 5u;

static void bn_case(int ndim, const int64_t *xd, float eps, int64_t opset, int spatial, int n_out)
{
    tnode t;
    tn_init(&t, "BatchNormalization");
    if (eps != 1e-5f) tn_float(&t, "epsilon", eps);
    if (!spatial) tn_int(&t, "spatial", 0);
    int64_t np = spatial ? xd[1] : 1;
    if (!spatial)
        for (int i = 1; i < ndim; i++) np *= xd[i];
    nq_tensor in[5], o[5];
    memset(o, 0, sizeof o);
    tt_make(&in[0], NQ_DTYPE_FLOAT32, ndim, xd, NULL);
    for (int i = 1; i < 5; i++) tt_make(&in[i], NQ_DTYPE_FLOAT32, 1, &np, NULL);
    for (int i = 0; i < 5; i++)
        for (int64_t j = 0; j < nq_tensor_numel(&in[i]); j++)
            ((float *)in[i].data)[j] = i == 4 ? tt_rand(&rng, 0.0f, 2.0f) : tt_rand(&rng, -2.0f, 2.0f);
    nq_error err = {0};
    nq_status s = run_op(&nq_def_BatchNormalization, &t.node, opset, 5, in, 30, n_out, o, &err);
    CHECK(s == NQ_OK);
    if (s == NQ_OK) {
        CHECK(nq_tensor_same_shape(&o[0], &in[0]));
        const float *x = in[0].data, *sc = in[1].data, *b = in[2].data, *m = in[3].data,
                    *v = in[4].data, *y = o[0].data;
        int64_t n = nq_tensor_numel(&in[0]), inner = n / xd[0] / np;
        int bad = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t ch = (i / inner) % np;
            double ref = (x[i] - m[ch]) / sqrt(v[ch] + (double)eps) * sc[ch] + b[ch];
            if (!(fabs(y[i] - ref) <= 1e-5 * (1 + fabs(ref)))) bad = 1;
        }
        CHECK(!bad);
        for (int i = 1; i < n_out; i++)
            CHECK(memcmp(o[i].data, i % 2 ? m : v, (size_t)np * sizeof(float)) == 0);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    tt_free_all(in, 5);
    tt_free_all(o, n_out);
}

static void errors(void)
{
    int64_t xd[4] = {2, 3, 4, 5}, three = 3, four = 4;
    nq_tensor in[5], o[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 4, xd, NULL);
    for (int i = 1; i < 5; i++) tt_make(&in[i], NQ_DTYPE_FLOAT32, 1, i == 3 ? &four : &three, NULL);
    tnode t;
    tn_init(&t, "BatchNormalization");
    nq_error err = {0};
    CHECK(run_op(&nq_def_BatchNormalization, &t.node, 15, 5, in, 30, 1, o, &err) == NQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "mean") != NULL);
    tt_free_all(in, 5);
    for (int i = 1; i < 5; i++) tt_make(&in[i], NQ_DTYPE_FLOAT32, 1, &three, NULL);
    tn_int(&t, "training_mode", 1);
    CHECK(run_op(&nq_def_BatchNormalization, &t.node, 15, 5, in, 30, 1, o, &err) ==
          NQ_ERR_UNSUPPORTED);
    tt_free_all(in, 5);
}

int main(void)
{
    int64_t s2[2] = {4, 7}, s3[3] = {2, 3, 9}, s4[4] = {2, 3, 4, 5}, s5[5] = {1, 2, 3, 2, 4};
    bn_case(2, s2, 1e-5f, 15, 1, 1);
    bn_case(3, s3, 0.01f, 14, 1, 1);
    bn_case(4, s4, 1e-5f, 15, 1, 1);
    bn_case(4, s4, 0.01f, 9, 1, 5);
    bn_case(5, s5, 1e-3f, 7, 1, 3);
    bn_case(4, s4, 1e-5f, 7, 0, 1);
    errors();
    TEST_MAIN_END();
}
