/* Pad: constant / reflect / edge / wrap, negative pads (crop), pads and
 * values as attributes (opset 1, 2) or inputs (11+), the axes input (18),
 * every element size; checked against a per-element reference (reflection
 * by repeated bouncing) and against numpy.pad results for 1-D cases. */
#include <stdint.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Pad;

enum { M_CONSTANT, M_REFLECT, M_EDGE, M_WRAP };
static const char *const mode_names[4] = {"constant", "reflect", "edge", "wrap"};

/* Source index on one axis, or -1 for the constant. */
static int64_t ref_map(int64_t o, int64_t dim, int64_t pb, int64_t pe, int mode)
{
    int64_t cs = pb < 0 ? -pb : 0, cn = dim - cs - (pe < 0 ? -pe : 0);
    int64_t i = o - (pb > 0 ? pb : 0);
    if (i >= 0 && i < cn) return cs + i;
    if (mode == M_CONSTANT) return -1;
    if (mode == M_EDGE) return cs + (i < 0 ? 0 : cn - 1);
    if (mode == M_WRAP) {
        while (i < 0) i += cn;
        while (i >= cn) i -= cn;
        return cs + i;
    }
    if (cn == 1) return cs;
    while (i < 0 || i >= cn) {
        if (i < 0) i = -i;
        if (i >= cn) i = 2 * (cn - 1) - i;
    }
    return cs + i;
}

static void fill_bytes(nq_tensor *t)
{
    unsigned char *p = t->data;
    for (size_t i = 0; i < nq_tensor_nbytes(t); i++) p[i] = (unsigned char)(i * 53u + 9u);
}

/* Checks y = Pad(x) element by element; cval: the constant's bytes. */
static int64_t count_bad(const nq_tensor *x, const nq_tensor *y, const int64_t *pads, int mode,
                         const void *cval)
{
    int r = x->ndim;
    size_t es = nq_dtype_size(x->dtype);
    int64_t bad = 0, n = nq_tensor_numel(y);
    for (int a = 0; a < r; a++)
        if (y->dims[a] != x->dims[a] + pads[a] + pads[a + r]) return -1;
    for (int64_t o = 0; o < n; o++) {
        int64_t rem = o, src = 0, stride = 1;
        int constant = 0;
        for (int a = r - 1; a >= 0; a--) {
            int64_t i = ref_map(rem % y->dims[a], x->dims[a], pads[a], pads[a + r], mode);
            rem /= y->dims[a];
            if (i < 0) constant = 1;
            src += i * stride;
            stride *= x->dims[a];
        }
        const void *want = constant ? cval : (const char *)x->data + src * (int64_t)es;
        if (memcmp((const char *)y->data + o * (int64_t)es, want, es)) bad++;
    }
    return bad;
}

/* Opset 13 form: pads input (known), optional constant_value input (not known at plan time). */
static void check_pad(nq_dtype dt, int r, const int64_t *d, const int64_t *pads, int mode,
                      const void *cval)
{
    tnode n;
    tn_init(&n, "Pad");
    nq_attr *m = tn_add(&n, "mode", NQ_ATTR_STRING);
    m->s = (char *)mode_names[mode];
    nq_tensor in[3] = {{0}}, out[1];
    tt_make(&in[0], dt, r, d, NULL);
    fill_bytes(&in[0]);
    int64_t np = 2 * r;
    tt_make(&in[1], NQ_DTYPE_INT64, 1, &np, pads);
    if (cval) tt_make(&in[2], dt, 0, NULL, cval);
    nq_error err = {0};
    nq_status s = run_op(&nq_def_Pad, &n.node, 13, cval ? 3 : 2, in, 2u, 1, out, &err);
    if (s != NQ_OK) fprintf(stderr, "%s\n", err.msg);
    REQUIRE(s == NQ_OK);
    const unsigned char zero[8] = {0};
    int64_t bad = count_bad(&in[0], &out[0], pads, mode, cval ? cval : zero);
    if (bad) fprintf(stderr, "pad %s %s rank %d: %lld bad\n", mode_names[mode], nq_dtype_name(dt),
                     r, (long long)bad);
    CHECK(bad == 0);
    tt_free_all(out, 1);
    tt_free_all(in, 3);
}

static void test_onnx_cases(void)
{
    const int64_t d[4] = {1, 3, 4, 5};
    const int64_t p1[8] = {0, 0, 1, 3, 0, 0, 2, 4}, p2[8] = {0, 0, 1, 1, 0, 0, 1, 1};
    const float v = 1.2f;
    check_pad(NQ_DTYPE_FLOAT32, 4, d, p1, M_CONSTANT, &v);
    check_pad(NQ_DTYPE_INT32, 4, d, p2, M_EDGE, NULL);
    check_pad(NQ_DTYPE_INT32, 4, d, p2, M_REFLECT, NULL);
    check_pad(NQ_DTYPE_INT32, 4, d, p2, M_WRAP, NULL);
}

/* 1-D [0, 1, 2] padded by (7, 8): numpy.pad results. */
static void test_numpy_1d(void)
{
    static const int32_t want[3][18] = {
        {1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2}, /* reflect */
        {0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2}, /* edge */
        {2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1}, /* wrap */
    };
    const int64_t three = 3, two = 2, pads[2] = {7, 8};
    const int32_t x[3] = {0, 1, 2};
    for (int m = 1; m < 4; m++) {
        tnode n;
        tn_init(&n, "Pad");
        tn_add(&n, "mode", NQ_ATTR_STRING)->s = (char *)mode_names[m];
        nq_tensor in[2], out[1];
        tt_make(&in[0], NQ_DTYPE_INT32, 1, &three, x);
        tt_make(&in[1], NQ_DTYPE_INT64, 1, &two, pads);
        nq_error err = {0};
        REQUIRE(run_op(&nq_def_Pad, &n.node, 19, 2, in, 2u, 1, out, &err) == NQ_OK);
        REQUIRE(out[0].ndim == 1 && out[0].dims[0] == 18);
        CHECK(memcmp(out[0].data, want[m - 1], sizeof want[0]) == 0);
        tt_free_all(out, 1);
        tt_free_all(in, 2);
    }
}

static void test_more(void)
{
    const nq_dtype types[5] = {NQ_DTYPE_INT8, NQ_DTYPE_INT16, NQ_DTYPE_FLOAT32, NQ_DTYPE_FLOAT64,
                               NQ_DTYPE_BOOL};
    const unsigned char cval[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    const int64_t d3[3] = {2, 4, 5};
    const int64_t pads[][6] = {
        {1, 2, 3, 2, 1, 0},     /* plain */
        {0, 9, 11, 0, 7, 13},   /* wider than the axis: periodic */
        {-1, 1, -2, 0, -1, 1},  /* crop then pad */
        {0, -3, 2, 1, 2, -3},   /* crop to 1 element on an axis */
        {0, 0, 0, 0, 0, 0},
    };
    for (size_t k = 0; k < sizeof pads / sizeof *pads; k++)
        for (int t = 0; t < 5; t++)
            for (int m = 0; m < 4; m++) check_pad(types[t], 3, d3, pads[k], m, m ? NULL : cval);
    const int64_t d1[1] = {1}, p1[2] = {3, 2};
    for (int m = 0; m < 4; m++) check_pad(NQ_DTYPE_FLOAT32, 1, d1, p1, m, NULL);
    /* constant padding of an empty axis, and cropping everything */
    const int64_t d0[2] = {3, 0}, p0[4] = {1, 2, 0, 1}, pc[4] = {0, -2, 0, -2};
    check_pad(NQ_DTYPE_FLOAT32, 2, d0, p0, M_CONSTANT, NULL);
    check_pad(NQ_DTYPE_FLOAT32, 2, d3, pc, M_EDGE, NULL);
    /* scalar */
    check_pad(NQ_DTYPE_FLOAT32, 0, NULL, NULL, M_REFLECT, NULL);
}

/* Opset 1 ('paddings') and 2 ('pads') attributes with the 'value' attribute. */
static void test_attributes(void)
{
    const int64_t d[2] = {2, 3}, pads[4] = {1, 0, 0, 2};
    for (int opset = 1; opset <= 2; opset++) {
        tnode n;
        tn_init(&n, "Pad");
        tn_ints(&n, opset == 1 ? "paddings" : "pads", 4, pads);
        tn_float(&n, "value", -3.0f);
        nq_tensor in[1], out[1];
        tt_make(&in[0], NQ_DTYPE_INT8, 2, d, NULL);
        fill_bytes(&in[0]);
        nq_error err = {0};
        REQUIRE(run_op(&nq_def_Pad, &n.node, opset, 1, in, 0, 1, out, &err) == NQ_OK);
        const int8_t c = -3;
        CHECK(count_bad(&in[0], &out[0], pads, M_CONSTANT, &c) == 0);
        tt_free_all(out, 1);
        tt_free_all(in, 1);
    }
    { /* float value attribute on float data */
        tnode n;
        tn_init(&n, "Pad");
        tn_ints(&n, "pads", 4, pads);
        tn_float(&n, "value", 0.5f);
        tn_add(&n, "mode", NQ_ATTR_STRING)->s = (char *)"constant";
        nq_tensor in[1], out[1];
        tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, d, NULL);
        nq_error err = {0};
        REQUIRE(run_op(&nq_def_Pad, &n.node, 2, 1, in, 0, 1, out, &err) == NQ_OK);
        const float c = 0.5f;
        CHECK(count_bad(&in[0], &out[0], pads, M_CONSTANT, &c) == 0);
        tt_free_all(out, 1);
        tt_free_all(in, 1);
    }
}

/* Opset 18: axes input selects which axes the pads apply to. */
static void test_axes(void)
{
    const int64_t d[3] = {2, 3, 4}, two = 2, one = 1, four = 4;
    const int64_t pads2[2] = {2, 1}, ax1[1] = {-1}, pads4[4] = {1, 0, 0, 3}, ax2[2] = {2, 0};
    const int64_t full1[6] = {0, 0, 2, 0, 0, 1}, full2[6] = {0, 0, 1, 3, 0, 0};
    for (int k = 0; k < 2; k++) {
        tnode n;
        tn_init(&n, "Pad");
        tn_add(&n, "mode", NQ_ATTR_STRING)->s = (char *)"reflect";
        nq_tensor in[4] = {{0}}, out[1];
        tt_make(&in[0], NQ_DTYPE_FLOAT32, 3, d, NULL);
        fill_bytes(&in[0]);
        tt_make(&in[1], NQ_DTYPE_INT64, 1, k ? &four : &two, k ? pads4 : pads2);
        tt_make(&in[3], NQ_DTYPE_INT64, 1, k ? &two : &one, k ? ax2 : ax1);
        nq_error err = {0};
        nq_status s = run_op(&nq_def_Pad, &n.node, 18, 4, in, 0xAu, 1, out, &err);
        if (s != NQ_OK) fprintf(stderr, "%s\n", err.msg);
        REQUIRE(s == NQ_OK);
        CHECK(count_bad(&in[0], &out[0], k ? full2 : full1, M_REFLECT, NULL) == 0);
        tt_free_all(out, 1);
        tt_free_all(in, 4);
    }
}

static void test_errors(void)
{
    const int64_t d[2] = {2, 3}, four = 4, two = 2;
    const int64_t pads[4] = {0, 1, 0, 1}, neg[4] = {0, -2, 0, -2};
    nq_tensor in[2], out[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, d, NULL);
    tt_make(&in[1], NQ_DTYPE_INT64, 1, &four, pads);
    tnode n;
    tn_init(&n, "Pad");
    nq_error err = {0};
    CHECK(run_op(&nq_def_Pad, &n.node, 13, 2, in, 0u, 1, out, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "'pads'") != NULL);
    nq_attr *m = tn_add(&n, "mode", NQ_ATTR_STRING);
    m->s = (char *)"symmetric";
    CHECK(run_op(&nq_def_Pad, &n.node, 13, 2, in, 2u, 1, out, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "symmetric") != NULL);
    m->s = (char *)"reflect";
    nq_tensor_free(&in[1]);
    tt_make(&in[1], NQ_DTYPE_INT64, 1, &four, neg); /* crops more than the axis */
    CHECK(run_op(&nq_def_Pad, &n.node, 13, 2, in, 2u, 1, out, &err) == NQ_ERR_SHAPE);
    nq_tensor_free(&in[1]);
    tt_make(&in[1], NQ_DTYPE_INT64, 1, &two, pads); /* wrong length */
    CHECK(run_op(&nq_def_Pad, &n.node, 13, 2, in, 2u, 1, out, &err) == NQ_ERR_SHAPE);
    nq_tensor_free(&in[0]);
    const int64_t d0[2] = {2, 0};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, d0, NULL);
    nq_tensor_free(&in[1]);
    tt_make(&in[1], NQ_DTYPE_INT64, 1, &four, pads); /* reflect an empty axis */
    CHECK(run_op(&nq_def_Pad, &n.node, 13, 2, in, 2u, 1, out, &err) == NQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "empty") != NULL);
    tt_free_all(out, 1);
    tt_free_all(in, 2);
}

int main(void)
{
    test_onnx_cases();
    test_numpy_1d();
    test_more();
    test_attributes();
    test_axes();
    test_errors();
    TEST_MAIN_END();
}
