/* Flatten, Reshape, Squeeze, Unsqueeze: output shapes for every opset form,
 * bytes unchanged, errors for bad or unknown arguments. */
#include <stdint.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Flatten, nq_def_Reshape, nq_def_Squeeze, nq_def_Unsqueeze;

static void fill_bytes(nq_tensor *t)
{
    unsigned char *p = t->data;
    for (size_t i = 0; i < nq_tensor_nbytes(t); i++) p[i] = (unsigned char)(i * 37u + 11u);
}

static int dims_are(const nq_tensor *t, int n, const int64_t *d)
{
    if (t->ndim != n) return 0;
    for (int i = 0; i < n; i++)
        if (t->dims[i] != d[i]) return 0;
    return 1;
}

/* Runs a 1- or 2-input op; checks the output shape and that bytes are unchanged. */
static void expect_shape(const nq_op_def *def, const tnode *n, int64_t opset, nq_dtype dt, int nd,
                         const int64_t *d, const nq_tensor *arg, int ond, const int64_t *od)
{
    nq_tensor in[2] = {{0}}, out[1];
    tt_make(&in[0], dt, nd, d, NULL);
    fill_bytes(&in[0]);
    int n_in = 1;
    if (arg != NULL) {
        in[1] = *arg;
        n_in = 2;
    }
    nq_error err = {0};
    nq_status s = run_op(def, &n->node, opset, n_in, in, 2u, 1, out, &err);
    if (s != NQ_OK) fprintf(stderr, "%s\n", err.msg);
    CHECK(s == NQ_OK);
    if (s == NQ_OK) {
        CHECK(dims_are(&out[0], ond, od));
        CHECK(out[0].dtype == dt);
        CHECK(nq_tensor_nbytes(&out[0]) == nq_tensor_nbytes(&in[0]));
        CHECK(memcmp(out[0].data, in[0].data, nq_tensor_nbytes(&in[0])) == 0);
    }
    tt_free_all(out, 1);
    nq_tensor_free(&in[0]);
}

/* Runs and expects failure with `code`; returns the message for further checks. */
static void expect_fail(const nq_op_def *def, const tnode *n, int64_t opset, int nd,
                        const int64_t *d, const nq_tensor *arg, unsigned known, nq_status code,
                        const char *needle)
{
    nq_tensor in[2] = {{0}}, out[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, nd, d, NULL);
    int n_in = 1;
    if (arg != NULL) {
        in[1] = *arg;
        n_in = 2;
    }
    nq_error err = {0};
    nq_status s = run_op(def, &n->node, opset, n_in, in, known, 1, out, &err);
    CHECK(s == code);
    if (s != code) fprintf(stderr, "  got %d: %s\n", (int)s, err.msg);
    if (needle) CHECK(strstr(err.msg, needle) != NULL);
    CHECK(strstr(err.msg, "test_node") != NULL);
    tt_free_all(out, 1);
    nq_tensor_free(&in[0]);
}

static nq_tensor ints_tensor(int n, const int64_t *v)
{
    nq_tensor t;
    int64_t d = n;
    tt_make(&t, NQ_DTYPE_INT64, 1, &d, v);
    return t;
}

static void test_flatten(void)
{
    const int64_t d[4] = {2, 3, 4, 5};
    const int64_t want[9][2] = {{1, 120}, {2, 60}, {6, 20}, {24, 5}, /* axis -4..-1 */
                                {1, 120}, {2, 60}, {6, 20}, {24, 5}, {120, 1}};
    for (int64_t axis = -4; axis <= 4; axis++) {
        tnode n;
        tn_init(&n, "Flatten");
        tn_int(&n, "axis", axis);
        expect_shape(&nq_def_Flatten, &n, 13, NQ_DTYPE_INT16, 4, d, NULL, 2, want[axis + 4]);
    }
    tnode n;
    tn_init(&n, "Flatten"); /* default axis 1 */
    const int64_t d5[4] = {5, 4, 3, 2}, w5[2] = {5, 24};
    expect_shape(&nq_def_Flatten, &n, 13, NQ_DTYPE_INT8, 4, d5, NULL, 2, w5);
    tn_int(&n, "axis", 5);
    expect_fail(&nq_def_Flatten, &n, 13, 4, d, NULL, 0, NQ_ERR_SHAPE, "axis");
    /* scalar input: [1, 1] */
    tnode s;
    tn_init(&s, "Flatten");
    tn_int(&s, "axis", 0);
    const int64_t w11[2] = {1, 1};
    expect_shape(&nq_def_Flatten, &s, 13, NQ_DTYPE_FLOAT64, 0, NULL, NULL, 2, w11);
}

static void reshape_case(const int64_t *in_d, int in_n, int sn, const int64_t *shape, int allowzero,
                         int on, const int64_t *od)
{
    tnode n;
    tn_init(&n, "Reshape");
    if (allowzero) tn_int(&n, "allowzero", 1);
    nq_tensor st = ints_tensor(sn, shape);
    expect_shape(&nq_def_Reshape, &n, 14, NQ_DTYPE_FLOAT32, in_n, in_d, &st, on, od);
    nq_tensor_free(&st);
}

static void test_reshape(void)
{
    const int64_t d[3] = {2, 3, 4};
    { const int64_t s[] = {2, 3, 2, 2}; reshape_case(d, 3, 4, s, 0, 4, s); }
    { const int64_t s[] = {2, -1, 2}, o[] = {2, 6, 2}; reshape_case(d, 3, 3, s, 0, 3, o); }
    { const int64_t s[] = {-1, 2, 3, 4}, o[] = {1, 2, 3, 4}; reshape_case(d, 3, 4, s, 0, 4, o); }
    { const int64_t s[] = {24}; reshape_case(d, 3, 1, s, 0, 1, s); }
    { const int64_t s[] = {2, 0, 1, -1}, o[] = {2, 3, 1, 4}; reshape_case(d, 3, 4, s, 0, 4, o); }
    { const int64_t s[] = {2, 0, 4, 1}, o[] = {2, 3, 4, 1}; reshape_case(d, 3, 4, s, 0, 4, o); }
    { const int64_t s[] = {4, 2, 3}; reshape_case(d, 3, 3, s, 0, 3, s); }
    { /* allowzero: 0 is a real zero-size dim */
        const int64_t z[3] = {0, 3, 4}, s[] = {3, 4, 0};
        reshape_case(z, 3, 3, s, 1, 3, s);
    }
    { const int64_t s[] = {-1}, o[] = {24}; reshape_case(d, 3, 1, s, 0, 1, o); }
    /* to a scalar and back */
    { const int64_t one[1] = {1}; reshape_case(one, 1, 0, NULL, 0, 0, NULL); }

    tnode n;
    tn_init(&n, "Reshape");
    { const int64_t s[] = {-1, -1, 2}; nq_tensor st = ints_tensor(3, s);
      expect_fail(&nq_def_Reshape, &n, 14, 3, d, &st, 2u, NQ_ERR_SHAPE, "-1"); nq_tensor_free(&st); }
    { const int64_t s[] = {5, 5}; nq_tensor st = ints_tensor(2, s);
      expect_fail(&nq_def_Reshape, &n, 14, 3, d, &st, 2u, NQ_ERR_SHAPE, "[2,3,4]"); nq_tensor_free(&st); }
    { const int64_t s[] = {5, -1}; nq_tensor st = ints_tensor(2, s);
      expect_fail(&nq_def_Reshape, &n, 14, 3, d, &st, 2u, NQ_ERR_SHAPE, NULL); nq_tensor_free(&st); }
    { const int64_t s[] = {2, 12}; nq_tensor st = ints_tensor(2, s); /* shape not known */
      expect_fail(&nq_def_Reshape, &n, 14, 3, d, &st, 0u, NQ_ERR_UNSUPPORTED, "'shape'"); nq_tensor_free(&st); }
    { const int64_t s[] = {2, 3, 4, 0}; nq_tensor st = ints_tensor(4, s); /* 0 past input rank */
      expect_fail(&nq_def_Reshape, &n, 14, 3, d, &st, 2u, NQ_ERR_SHAPE, NULL); nq_tensor_free(&st); }
    { /* allowzero with 0 and -1 cannot infer */
        tnode z; tn_init(&z, "Reshape"); tn_int(&z, "allowzero", 1);
        const int64_t s[] = {0, -1}; nq_tensor st = ints_tensor(2, s);
        expect_fail(&nq_def_Reshape, &z, 14, 3, d, &st, 2u, NQ_ERR_SHAPE, NULL); nq_tensor_free(&st);
    }
    { /* allowzero ignored before opset 14: 0 copies */
        tnode z; tn_init(&z, "Reshape"); tn_int(&z, "allowzero", 1);
        const int64_t s[] = {0, 12}, o[] = {2, 12}; nq_tensor st = ints_tensor(2, s);
        expect_shape(&nq_def_Reshape, &z, 13, NQ_DTYPE_UINT8, 3, d, &st, 2, o); nq_tensor_free(&st);
    }
    { /* opset 1: shape attribute */
        tnode a; tn_init(&a, "Reshape");
        const int64_t s[] = {6, -1}, o[] = {6, 4};
        tn_ints(&a, "shape", 2, s);
        expect_shape(&nq_def_Reshape, &a, 1, NQ_DTYPE_FLOAT32, 3, d, NULL, 2, o);
    }
    { /* int32 shape, int64 data */
        const int64_t one = 2; const int32_t s[2] = {4, 6}; const int64_t o[] = {4, 6};
        nq_tensor st; tt_make(&st, NQ_DTYPE_INT32, 1, &one, s);
        expect_shape(&nq_def_Reshape, &n, 14, NQ_DTYPE_INT64, 3, d, &st, 2, o); nq_tensor_free(&st);
    }
}

static void test_squeeze(void)
{
    tnode n;
    tn_init(&n, "Squeeze");
    const int64_t d1[4] = {1, 3, 4, 5}, o1[3] = {3, 4, 5};
    { const int64_t a[] = {0}; nq_tensor at = ints_tensor(1, a);
      expect_shape(&nq_def_Squeeze, &n, 13, NQ_DTYPE_FLOAT32, 4, d1, &at, 3, o1); nq_tensor_free(&at); }
    const int64_t d2[4] = {1, 3, 1, 5}, o2[3] = {1, 3, 5}, o3[2] = {3, 5};
    { const int64_t a[] = {-2}; nq_tensor at = ints_tensor(1, a);
      expect_shape(&nq_def_Squeeze, &n, 13, NQ_DTYPE_FLOAT32, 4, d2, &at, 3, o2); nq_tensor_free(&at); }
    /* no axes: every size-1 dim goes */
    expect_shape(&nq_def_Squeeze, &n, 13, NQ_DTYPE_INT8, 4, d2, NULL, 2, o3);
    { const int64_t a[] = {1}; nq_tensor at = ints_tensor(1, a);
      expect_fail(&nq_def_Squeeze, &n, 13, 4, d2, &at, 2u, NQ_ERR_SHAPE, "size 3"); nq_tensor_free(&at); }
    { const int64_t a[] = {0}; nq_tensor at = ints_tensor(1, a);
      expect_fail(&nq_def_Squeeze, &n, 13, 4, d2, &at, 0u, NQ_ERR_UNSUPPORTED, "'axes'"); nq_tensor_free(&at); }
    { const int64_t a[] = {4}; nq_tensor at = ints_tensor(1, a);
      expect_fail(&nq_def_Squeeze, &n, 13, 4, d2, &at, 2u, NQ_ERR_SHAPE, NULL); nq_tensor_free(&at); }
    /* opset 11: attribute */
    tnode a;
    tn_init(&a, "Squeeze");
    const int64_t ax[2] = {0, -2};
    tn_ints(&a, "axes", 2, ax);
    expect_shape(&nq_def_Squeeze, &a, 11, NQ_DTYPE_UINT8, 4, d2, NULL, 2, o3);
    const int64_t one[1] = {1};
    expect_shape(&nq_def_Squeeze, &n, 13, NQ_DTYPE_FLOAT32, 1, one, NULL, 0, NULL);
}

static void test_unsqueeze(void)
{
    tnode n;
    tn_init(&n, "Unsqueeze");
    const int64_t d[3] = {3, 4, 5};
    struct { int na; int64_t axes[3]; int64_t out[6]; } cases[] = {
        {1, {0}, {1, 3, 4, 5}},
        {1, {1}, {3, 1, 4, 5}},
        {1, {2}, {3, 4, 1, 5}},
        {1, {-1}, {3, 4, 5, 1}},
        {2, {1, 4}, {3, 1, 4, 5, 1}},
        {3, {2, 4, 5}, {3, 4, 1, 5, 1, 1}},
        {3, {5, 4, 2}, {3, 4, 1, 5, 1, 1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        nq_tensor at = ints_tensor(cases[k].na, cases[k].axes);
        expect_shape(&nq_def_Unsqueeze, &n, 13, NQ_DTYPE_FLOAT32, 3, d, &at, 3 + cases[k].na,
                     cases[k].out);
        nq_tensor_free(&at);
    }
    const int64_t d2[4] = {1, 3, 1, 5}, o2[5] = {1, 3, 1, 1, 5};
    { const int64_t a[] = {-2}; nq_tensor at = ints_tensor(1, a);
      expect_shape(&nq_def_Unsqueeze, &n, 13, NQ_DTYPE_FLOAT32, 4, d2, &at, 5, o2); nq_tensor_free(&at); }
    { const int64_t a[] = {1, 1}; nq_tensor at = ints_tensor(2, a);
      expect_fail(&nq_def_Unsqueeze, &n, 13, 3, d, &at, 2u, NQ_ERR_SHAPE, "repeated"); nq_tensor_free(&at); }
    { const int64_t a[] = {4}; nq_tensor at = ints_tensor(1, a);
      expect_fail(&nq_def_Unsqueeze, &n, 13, 3, d, &at, 2u, NQ_ERR_SHAPE, NULL); nq_tensor_free(&at); }
    { const int64_t a[] = {0}; nq_tensor at = ints_tensor(1, a);
      expect_fail(&nq_def_Unsqueeze, &n, 13, 3, d, &at, 0u, NQ_ERR_UNSUPPORTED, "'axes'"); nq_tensor_free(&at); }
    { const int64_t a[] = {0, 1, 2, 3, 4, 5}; nq_tensor at = ints_tensor(6, a); /* rank 9 */
      expect_fail(&nq_def_Unsqueeze, &n, 13, 3, d, &at, 2u, NQ_ERR_UNSUPPORTED, NULL); nq_tensor_free(&at); }
    expect_fail(&nq_def_Unsqueeze, &n, 13, 3, d, NULL, 0, NQ_ERR_SHAPE, "axes");
    /* opset 11: attribute; scalar input */
    tnode a;
    tn_init(&a, "Unsqueeze");
    const int64_t ax[1] = {3}, o3[4] = {3, 4, 5, 1};
    tn_ints(&a, "axes", 1, ax);
    expect_shape(&nq_def_Unsqueeze, &a, 11, NQ_DTYPE_FLOAT64, 3, d, NULL, 4, o3);
    tnode s;
    tn_init(&s, "Unsqueeze");
    const int64_t ax0[1] = {0}, o1[1] = {1};
    tn_ints(&s, "axes", 1, ax0);
    expect_shape(&nq_def_Unsqueeze, &s, 1, NQ_DTYPE_INT32, 0, NULL, NULL, 1, o1);
}

int main(void)
{
    test_flatten();
    test_reshape();
    test_squeeze();
    test_unsqueeze();
    TEST_MAIN_END();
}
