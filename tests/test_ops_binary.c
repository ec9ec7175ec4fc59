/* Binary element-wise operators: Add, Sub, Mul, Div, Pow, PRelu with numpy
 * broadcasting, against a reference computed here index by index. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Add, nq_def_Sub, nq_def_Mul, nq_def_Div, nq_def_Pow,
    nq_def_PRelu;

/* Flat index into a tensor of shape (tnd, tdims) for flat output index i of
 * shape (nd, dims), numpy broadcasting (right-aligned, size-1 dims repeat). */
static int64_t ref_index(int nd, const int64_t *dims, int tnd, const int64_t *tdims, int64_t i)
{
    int64_t idx = 0, step = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t coord = i % dims[d];
        i /= dims[d];
        int td = d - (nd - tnd);
        if (td < 0) continue;
        if (tdims[td] != 1) idx += coord * step;
        step *= tdims[td];
    }
    return idx;
}

typedef double (*ref_fn)(double a, double b);
static double r_add(double a, double b) { return a + b; }
static double r_sub(double a, double b) { return a - b; }
static double r_mul(double a, double b) { return a * b; }
static double r_div(double a, double b) { return a / b; }
static double r_pow(double a, double b) { return pow(a, b); }
static double r_prelu(double a, double b) { return a < 0 ? a * b : a; }

/* Float32 op on random inputs of shapes A and B, checked against ref. */
static void check_f32(const nq_op_def *def, ref_fn ref, int na, const int64_t *da, int nb,
                      const int64_t *db, int nout, const int64_t *dout, int threads,
                      float lo, float hi)
{
    unsigned seed = 12345u + (unsigned)na * 7u + (unsigned)nb;
    nq_tensor in[2], out[1] = {{0}};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, na, da, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, nb, db, NULL);
    for (int k = 0; k < 2; k++) {
        float *p = in[k].data;
        for (int64_t i = 0; i < nq_tensor_numel(&in[k]); i++) p[i] = tt_rand(&seed, lo, hi);
    }
    tnode n;
    tn_init(&n, def->name);
    nq_error err = {0};
    nq_status s = run_op_ex(def, &n.node, 14, 2, in, 0, 1, out, threads, &err);
    if (s != NQ_OK) fprintf(stderr, "%s: %s\n", def->name, err.msg);
    REQUIRE(s == NQ_OK);
    REQUIRE(out[0].ndim == nout);
    for (int d = 0; d < nout; d++) CHECK(out[0].dims[d] == dout[d]);
    const float *a = in[0].data, *b = in[1].data, *y = out[0].data;
    int bad = 0;
    for (int64_t i = 0; i < nq_tensor_numel(&out[0]); i++) {
        double e = ref(a[ref_index(nout, dout, na, da, i)], b[ref_index(nout, dout, nb, db, i)]);
        if (!(fabs(y[i] - e) <= 1e-5 * (1 + fabs(e)))) {
            if (bad++ < 5)
                fprintf(stderr, "%s: y[%lld] = %.9g, expected %.9g\n", def->name, (long long)i,
                        y[i], e);
        }
    }
    CHECK(bad == 0);
    tt_free_all(in, 2);
    tt_free_all(out, 1);
}

static void test_broadcast_shapes(void)
{
    const int64_t s345[] = {3, 4, 5}, s5[] = {5}, s1[] = {1}, s315[] = {3, 1, 5},
                  s41[] = {4, 1}, s2345[] = {2, 3, 4, 5}, s311[] = {3, 1, 1},
                  s1311[] = {1, 3, 1, 1}, s2145[] = {2, 1, 4, 5}, s13[] = {1, 3}, s2141[] = {2, 1, 4, 1};
    const nq_op_def *ops[] = {&nq_def_Add, &nq_def_Sub, &nq_def_Mul, &nq_def_Div};
    ref_fn refs[] = {r_add, r_sub, r_mul, r_div};
    for (int k = 0; k < 4; k++) {
        check_f32(ops[k], refs[k], 3, s345, 3, s345, 3, s345, 1, 0.5f, 2.0f); /* same */
        check_f32(ops[k], refs[k], 3, s345, 1, s5, 3, s345, 1, 0.5f, 2.0f);   /* [5] */
        check_f32(ops[k], refs[k], 1, s5, 3, s345, 3, s345, 1, 0.5f, 2.0f);   /* left */
        check_f32(ops[k], refs[k], 3, s345, 0, s1, 3, s345, 1, 0.5f, 2.0f);   /* scalar */
        check_f32(ops[k], refs[k], 0, s1, 3, s345, 3, s345, 1, 0.5f, 2.0f);   /* scalar a */
        check_f32(ops[k], refs[k], 3, s345, 1, s1, 3, s345, 1, 0.5f, 2.0f);   /* [1] */
        check_f32(ops[k], refs[k], 3, s315, 2, s41, 3, s345, 1, 0.5f, 2.0f);  /* both */
        check_f32(ops[k], refs[k], 4, s2345, 3, s311, 4, s2345, 1, 0.5f, 2.0f); /* chan */
        check_f32(ops[k], refs[k], 4, s1311, 4, s2345, 4, s2345, 1, 0.5f, 2.0f);
        check_f32(ops[k], refs[k], 4, s2145, 3, s311, 4, s2345, 1, 0.5f, 2.0f); /* both */
        check_f32(ops[k], refs[k], 2, s13, 4, s2141, 4, (const int64_t[]){2, 1, 4, 3}, 1,
                  0.5f, 2.0f);
        check_f32(ops[k], refs[k], 0, s1, 0, s1, 0, s1, 1, 0.5f, 2.0f); /* scalar-scalar */
    }
}

static void test_bcast_errors(void)
{
    nq_tensor in[2], out[1] = {{0}};
    tnode n;
    tn_init(&n, "Add");
    nq_error err = {0};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 1, (const int64_t[]){3}, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 1, (const int64_t[]){4}, NULL);
    CHECK(run_op(&nq_def_Add, &n.node, 14, 2, in, 0, 1, out, &err) == NQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "[3]") && strstr(err.msg, "[4]") && strstr(err.msg, "test_node"));
    tt_free_all(in, 2);
    tt_free_all(out, 1);
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 1, (const int64_t[]){3}, NULL);
    tt_make(&in[1], NQ_DTYPE_INT32, 1, (const int64_t[]){3}, NULL);
    CHECK(run_op(&nq_def_Add, &n.node, 14, 2, in, 0, 1, out, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "int32") != NULL);
    CHECK(run_op(&nq_def_Add, &n.node, 14, 1, in, 0, 1, out, &err) == NQ_ERR_INVALID_ARG);
    tt_free_all(in, 2);
    tt_free_all(out, 1);
    /* PRelu: the slope must broadcast to X, not expand it */
    tn_init(&n, "PRelu");
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 1, (const int64_t[]){5}, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 2, (const int64_t[]){3, 5}, NULL);
    CHECK(run_op(&nq_def_PRelu, &n.node, 16, 2, in, 0, 1, out, &err) == NQ_ERR_SHAPE);
    tt_free_all(in, 2);
    tt_free_all(out, 1);
}

static void test_threads(void)
{
    const int64_t big[] = {4, 16, 64, 64}, chan[] = {16, 1, 1}, row[] = {64},
                  flat[] = {300001}, one[] = {1};
    check_f32(&nq_def_Add, r_add, 4, big, 4, big, 4, big, 4, -1.0f, 1.0f);
    check_f32(&nq_def_Mul, r_mul, 4, big, 3, chan, 4, big, 4, -1.0f, 1.0f);
    check_f32(&nq_def_Sub, r_sub, 4, big, 1, row, 4, big, 3, -1.0f, 1.0f);
    check_f32(&nq_def_Div, r_div, 1, flat, 1, one, 1, flat, 4, 0.5f, 1.0f);
    check_f32(&nq_def_Div, r_div, 1, one, 1, flat, 1, flat, 2, 0.5f, 1.0f);
    check_f32(&nq_def_PRelu, r_prelu, 4, big, 3, chan, 4, big, 4, -1.0f, 1.0f);
}

static void test_pow_prelu(void)
{
    const int64_t s345[] = {3, 4, 5}, s5[] = {5}, s1[] = {1};
    check_f32(&nq_def_Pow, r_pow, 3, s345, 3, s345, 3, s345, 1, 0.1f, 2.0f);
    check_f32(&nq_def_Pow, r_pow, 3, s345, 0, s1, 3, s345, 1, 0.1f, 2.0f);
    check_f32(&nq_def_PRelu, r_prelu, 3, s345, 1, s5, 3, s345, 1, -1.0f, 1.0f);
    check_f32(&nq_def_PRelu, r_prelu, 3, s345, 3, s345, 3, s345, 1, -1.0f, 1.0f);

    /* float base, integer exponents; integer bases */
    tnode n;
    tn_init(&n, "Pow");
    nq_error err = {0};
    nq_tensor in[2], out[1] = {{0}};
    const int64_t d3[] = {3};
    const float xf[] = {1.0f, 2.0f, 3.0f};
    const int64_t e64[] = {4, 5, 6};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 1, d3, xf);
    tt_make(&in[1], NQ_DTYPE_INT64, 1, d3, e64);
    CHECK_OK(run_op(&nq_def_Pow, &n.node, 15, 2, in, 0, 1, out, &err));
    CHECK(out[0].dtype == NQ_DTYPE_FLOAT32);
    CHECK_NEAR(((float *)out[0].data)[1], 32.0, 0);
    CHECK_NEAR(((float *)out[0].data)[2], 729.0, 0);
    tt_free_all(in, 2);
    tt_free_all(out, 1);

    const int32_t xi[] = {-2, 3, 5}, ei[] = {3, -1, 0};
    tt_make(&in[0], NQ_DTYPE_INT32, 1, d3, xi);
    tt_make(&in[1], NQ_DTYPE_INT32, 1, d3, ei);
    CHECK_OK(run_op(&nq_def_Pow, &n.node, 15, 2, in, 0, 1, out, &err));
    const int32_t *yi = out[0].data;
    CHECK(out[0].dtype == NQ_DTYPE_INT32 && yi[0] == -8 && yi[1] == 0 && yi[2] == 1);
    tt_free_all(in, 2);
    tt_free_all(out, 1);

    const int64_t xl[] = {1, 2, 3};
    const float ef[] = {4.0f, 5.0f, 0.5f};
    tt_make(&in[0], NQ_DTYPE_INT64, 1, d3, xl);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 1, d3, ef);
    CHECK_OK(run_op(&nq_def_Pow, &n.node, 15, 2, in, 0, 1, out, &err));
    const int64_t *yl = out[0].data;
    CHECK(out[0].dtype == NQ_DTYPE_INT64 && yl[0] == 1 && yl[1] == 32 && yl[2] == 1);
    tt_free_all(in, 2);
    tt_free_all(out, 1);
}

/* PRelu before opset 7: a 1-D slope [C] is per channel (pytorch-converted tests) */
static void test_prelu_legacy(void)
{
    const int64_t dx[] = {2, 3, 4}, ds[] = {3};
    float xv[24];
    const float sv[] = {0.1f, 0.2f, 0.3f};
    for (int i = 0; i < 24; i++) xv[i] = (float)(i % 5) - 2.5f;
    nq_tensor in[2], out[1] = {{0}};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 3, dx, xv);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 1, ds, sv);
    tnode n;
    tn_init(&n, "PRelu");
    nq_error err = {0};
    CHECK_OK(run_op(&nq_def_PRelu, &n.node, 6, 2, in, 0, 1, out, &err));
    CHECK(out[0].ndim == 3 && out[0].dims[1] == 3);
    for (int i = 0; i < 24; i++) {
        float e = xv[i] < 0 ? xv[i] * sv[(i / 4) % 3] : xv[i];
        CHECK_NEAR(((float *)out[0].data)[i], e, 1e-7);
    }
    tt_free_all(out, 1);
    CHECK(run_op(&nq_def_PRelu, &n.node, 7, 2, in, 0, 1, out, &err) == NQ_ERR_SHAPE);
    tt_free_all(in, 2);
    tt_free_all(out, 1);
}

static void test_integers(void)
{
    tnode n;
    nq_error err = {0};
    nq_tensor in[2], out[1] = {{0}};
    const int64_t d4[] = {4}, d0[] = {0};
    /* int64 shape arithmetic, broadcasting a scalar */
    const int64_t a64[] = {1, 3, 224, INT64_MAX}, two = 2;
    tn_init(&n, "Mul");
    tt_make(&in[0], NQ_DTYPE_INT64, 1, d4, a64);
    tt_make(&in[1], NQ_DTYPE_INT64, 0, d0, &two);
    CHECK_OK(run_op(&nq_def_Mul, &n.node, 14, 2, in, 3, 1, out, &err));
    const int64_t *y64 = out[0].data;
    CHECK(y64[0] == 2 && y64[1] == 6 && y64[2] == 448 && y64[3] == -2); /* wraps */
    tt_free_all(out, 1);
    tn_init(&n, "Div");
    CHECK_OK(run_op(&nq_def_Div, &n.node, 14, 2, in, 3, 1, out, &err));
    y64 = out[0].data;
    CHECK(y64[0] == 0 && y64[1] == 1 && y64[2] == 112 && y64[3] == INT64_MAX / 2);
    tt_free_all(in, 2);
    tt_free_all(out, 1);

    /* int32 division truncates toward zero; x / 0 -> 0; INT_MIN / -1 -> INT_MIN */
    const int32_t a32[] = {-7, 7, 5, INT32_MIN}, b32[] = {2, -2, 0, -1};
    tt_make(&in[0], NQ_DTYPE_INT32, 1, d4, a32);
    tt_make(&in[1], NQ_DTYPE_INT32, 1, d4, b32);
    CHECK_OK(run_op(&nq_def_Div, &n.node, 14, 2, in, 0, 1, out, &err));
    const int32_t *y32 = out[0].data;
    CHECK(y32[0] == -3 && y32[1] == -3 && y32[2] == 0 && y32[3] == INT32_MIN);
    tt_free_all(out, 1);
    tn_init(&n, "Add");
    CHECK_OK(run_op(&nq_def_Add, &n.node, 14, 2, in, 0, 1, out, &err));
    y32 = out[0].data;
    CHECK(y32[0] == -5 && y32[1] == 5 && y32[2] == 5 && y32[3] == INT32_MAX); /* wraps */
    tt_free_all(out, 1);
    tn_init(&n, "Sub");
    CHECK_OK(run_op(&nq_def_Sub, &n.node, 14, 2, in, 0, 1, out, &err));
    y32 = out[0].data;
    CHECK(y32[0] == -9 && y32[1] == 9 && y32[2] == 5 && y32[3] == INT32_MIN + 1);
    tt_free_all(in, 2);
    tt_free_all(out, 1);

    /* uint8 wraps like numpy */
    const uint8_t u1[] = {3, 250, 7, 9}, u2[] = {5, 10, 2, 0};
    tt_make(&in[0], NQ_DTYPE_UINT8, 1, d4, u1);
    tt_make(&in[1], NQ_DTYPE_UINT8, 1, d4, u2);
    CHECK_OK(run_op(&nq_def_Sub, &n.node, 14, 2, in, 0, 1, out, &err));
    const uint8_t *y8 = out[0].data;
    CHECK(y8[0] == 254 && y8[1] == 240 && y8[2] == 5 && y8[3] == 9);
    tt_free_all(out, 1);
    tn_init(&n, "Div");
    CHECK_OK(run_op(&nq_def_Div, &n.node, 14, 2, in, 0, 1, out, &err));
    y8 = out[0].data;
    CHECK(y8[0] == 0 && y8[1] == 25 && y8[2] == 3 && y8[3] == 0);
    tt_free_all(in, 2);
    tt_free_all(out, 1);
}

static void test_empty(void)
{
    const int64_t s0[] = {0, 3}, s3[] = {3};
    nq_tensor in[2], out[1] = {{0}};
    tnode n;
    tn_init(&n, "Add");
    nq_error err = {0};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, s0, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 1, s3, NULL);
    CHECK_OK(run_op(&nq_def_Add, &n.node, 14, 2, in, 0, 1, out, &err));
    CHECK(out[0].ndim == 2 && out[0].dims[0] == 0 && out[0].dims[1] == 3);
    tt_free_all(in, 2);
    tt_free_all(out, 1);
}

int main(void)
{
    test_broadcast_shapes();
    test_bcast_errors();
    test_threads();
    test_pow_prelu();
    test_prelu_legacy();
    test_integers();
    test_empty();
    TEST_MAIN_END();
}
