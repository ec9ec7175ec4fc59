/* Constant (value tensor and the value_* attributes; unsupported forms fail)
 * and Shape (start/end of opset 15, clamping; runs on shapes alone). */
#include <stdint.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Constant, nq_def_Shape;

static void test_constant(void)
{
    nq_error err = {0};
    { /* value: a 2x3 float tensor */
        const int64_t d[2] = {2, 3};
        const float v[6] = {1.5f, -2, 3, 0.25f, 5, 6};
        nq_tensor t, out[1];
        tt_make(&t, NQ_DTYPE_FLOAT32, 2, d, v);
        tnode n;
        tn_init(&n, "Constant");
        tn_add(&n, "value", NQ_ATTR_TENSOR)->t = &t;
        REQUIRE(run_op(&nq_def_Constant, &n.node, 13, 0, NULL, 0, 1, out, &err) == NQ_OK);
        CHECK(nq_tensor_equal(&out[0], &t));
        tt_free_all(out, 1);
        nq_tensor_free(&t);
    }
    { /* value: an int8 scalar */
        const int8_t v = -7;
        nq_tensor t, out[1];
        tt_make(&t, NQ_DTYPE_INT8, 0, NULL, &v);
        tnode n;
        tn_init(&n, "Constant");
        tn_add(&n, "value", NQ_ATTR_TENSOR)->t = &t;
        REQUIRE(run_op(&nq_def_Constant, &n.node, 9, 0, NULL, 0, 1, out, &err) == NQ_OK);
        CHECK(nq_tensor_equal(&out[0], &t));
        tt_free_all(out, 1);
        nq_tensor_free(&t);
    }
    { /* value_float / value_int scalars, value_floats / value_ints lists */
        const float fl[3] = {1, 2.5f, -3};
        const int64_t il[4] = {4, -5, 6, INT64_MAX};
        for (int k = 0; k < 4; k++) {
            tnode n;
            tn_init(&n, "Constant");
            nq_attr *a;
            switch (k) {
            case 0: tn_float(&n, "value_float", 0.75f); break;
            case 1: tn_int(&n, "value_int", -42); break;
            case 2: a = tn_add(&n, "value_floats", NQ_ATTR_FLOATS); a->n = 3; a->floats = (float *)fl; break;
            default: tn_ints(&n, "value_ints", 4, il); break;
            }
            nq_tensor out[1];
            REQUIRE(run_op(&nq_def_Constant, &n.node, 13, 0, NULL, 0, 1, out, &err) == NQ_OK);
            CHECK(out[0].dtype == (k % 2 ? NQ_DTYPE_INT64 : NQ_DTYPE_FLOAT32));
            CHECK(out[0].ndim == (k < 2 ? 0 : 1));
            if (k == 0) CHECK(((float *)out[0].data)[0] == 0.75f);
            if (k == 1) CHECK(((int64_t *)out[0].data)[0] == -42);
            if (k == 2) CHECK(out[0].dims[0] == 3 && memcmp(out[0].data, fl, sizeof fl) == 0);
            if (k == 3) CHECK(out[0].dims[0] == 4 && memcmp(out[0].data, il, sizeof il) == 0);
            tt_free_all(out, 1);
        }
    }
    { /* unsupported and malformed forms */
        const char *const names[3] = {"sparse_value", "value_string", "value_strings"};
        for (int k = 0; k < 3; k++) {
            tnode n;
            tn_init(&n, "Constant");
            tn_add(&n, names[k], k == 1 ? NQ_ATTR_STRING : k == 2 ? NQ_ATTR_STRINGS : NQ_ATTR_TENSOR);
            nq_tensor out[1];
            CHECK(run_op(&nq_def_Constant, &n.node, 13, 0, NULL, 0, 1, out, &err) == NQ_ERR_UNSUPPORTED);
            CHECK(strstr(err.msg, names[k]) != NULL);
        }
        tnode n;
        tn_init(&n, "Constant");
        nq_tensor out[1];
        CHECK(run_op(&nq_def_Constant, &n.node, 13, 0, NULL, 0, 1, out, &err) == NQ_ERR_SHAPE);
        tn_int(&n, "value_int", 1);
        tn_float(&n, "value_float", 1);
        CHECK(run_op(&nq_def_Constant, &n.node, 13, 0, NULL, 0, 1, out, &err) == NQ_ERR_SHAPE);
        tnode w;
        tn_init(&w, "Constant");
        tn_int(&w, "value", 3); /* wrong attribute type */
        CHECK(run_op(&nq_def_Constant, &w.node, 13, 0, NULL, 0, 1, out, &err) == NQ_ERR_SHAPE);
    }
}

/* Shape of a [3, 4, 5] tensor with optional start/end (INT64_MIN = absent). */
static void check_shape(int64_t opset, int64_t start, int64_t end, int n, const int64_t *want)
{
    tnode node;
    tn_init(&node, "Shape");
    if (start != INT64_MIN) tn_int(&node, "start", start);
    if (end != INT64_MIN) tn_int(&node, "end", end);
    const int64_t d[3] = {3, 4, 5};
    nq_tensor in[1], out[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 3, d, NULL);
    nq_error err = {0};
    REQUIRE(run_op(&nq_def_Shape, &node.node, opset, 1, in, 0, 1, out, &err) == NQ_OK);
    CHECK(out[0].dtype == NQ_DTYPE_INT64 && out[0].ndim == 1 && out[0].dims[0] == n);
    if (out[0].dims[0] == n && n > 0) CHECK(memcmp(out[0].data, want, sizeof(int64_t) * (size_t)n) == 0);
    tt_free_all(out, 1);
    /* shape_only: forward works with no input data at all */
    nq_tensor view = in[0];
    view.data = NULL;
    const nq_tensor *inp[1] = {&view};
    nq_tensor y;
    tt_make(&y, NQ_DTYPE_INT64, 1, &(int64_t){n}, NULL);
    nq_tensor *outp[1] = {&y};
    nq_kctx c = {.node = &node.node, .opset = opset, .n_in = 1, .in = inp, .n_out = 1, .out = outp,
                 .num_threads = 1, .err = &err};
    CHECK(nq_def_Shape.forward(&c) == NQ_OK);
    if (n > 0) CHECK(memcmp(y.data, want, sizeof(int64_t) * (size_t)n) == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&in[0]);
}

static void test_shape(void)
{
    const int64_t all[3] = {3, 4, 5};
    CHECK(nq_def_Shape.shape_only == 1);
    check_shape(15, INT64_MIN, INT64_MIN, 3, all);
    check_shape(15, INT64_MIN, 10, 3, all);
    check_shape(15, -10, INT64_MIN, 3, all);
    check_shape(15, INT64_MIN, 1, 1, all);
    check_shape(15, INT64_MIN, -1, 2, all);
    check_shape(15, 1, INT64_MIN, 2, all + 1);
    check_shape(15, 1, 2, 1, all + 1);
    check_shape(15, 1, -1, 1, all + 1);
    check_shape(15, -1, INT64_MIN, 1, all + 2);
    check_shape(15, 2, 1, 0, NULL);
    check_shape(13, 1, 2, 3, all); /* start/end ignored before opset 15 */
    /* scalar input: empty shape */
    tnode node;
    tn_init(&node, "Shape");
    nq_tensor in[1], out[1];
    tt_make(&in[0], NQ_DTYPE_INT8, 0, NULL, NULL);
    nq_error err = {0};
    REQUIRE(run_op(&nq_def_Shape, &node.node, 15, 1, in, 0, 1, out, &err) == NQ_OK);
    CHECK(out[0].ndim == 1 && out[0].dims[0] == 0);
    tt_free_all(out, 1);
    tt_free_all(in, 1);
}

int main(void)
{
    test_constant();
    test_shape();
    TEST_MAIN_END();
}
