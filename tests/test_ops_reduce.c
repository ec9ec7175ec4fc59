/* ReduceMean (and the ReduceSum / ReduceMax table entries): axes as
 * attribute and as input, keepdims, noop_with_empty_axes, against a
 * reference that visits every input element. */
#include <math.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_ReduceMean, nq_def_ReduceSum, nq_def_ReduceMax;

enum { MEAN, SUM, MAX };

/* Reduces x (shape ndim/dims) over `axes` (n_axes of them, may be negative;
 * n_axes < 0: no axes given) and checks against the reference. */
static void check(int kind, int64_t opset, int ndim, const int64_t *dims, int n_axes,
                  const int64_t *axes, int keepdims, int noop, int threads)
{
    const nq_op_def *def = kind == MEAN ? &nq_def_ReduceMean
                           : kind == SUM ? &nq_def_ReduceSum : &nq_def_ReduceMax;
    unsigned seed = 3u;
    nq_tensor in[2], out[1] = {{0}};
    memset(in, 0, sizeof in);
    tt_make(&in[0], NQ_DTYPE_FLOAT32, ndim, dims, NULL);
    float *x = in[0].data;
    int64_t nx = nq_tensor_numel(&in[0]);
    for (int64_t i = 0; i < nx; i++) x[i] = tt_rand(&seed, -2, 2);
    tnode nd;
    tn_init(&nd, def->name);
    if (keepdims >= 0) tn_int(&nd, "keepdims", keepdims);
    if (noop) tn_int(&nd, "noop_with_empty_axes", 1);
    int axes_input = opset >= (kind == SUM ? 13 : 18);
    int n_in = 1;
    if (n_axes >= 0) {
        if (axes_input) {
            tt_make(&in[1], NQ_DTYPE_INT64, 1, (const int64_t[]){n_axes}, axes);
            n_in = 2;
        } else {
            tn_ints(&nd, "axes", n_axes, axes);
        }
    }
    nq_error err = {0};
    nq_status s = run_op_ex(def, &nd.node, opset, n_in, in, 2, 1, out, threads, &err);
    if (s != NQ_OK) fprintf(stderr, "%s: %s\n", def->name, err.msg);
    REQUIRE(s == NQ_OK);

    /* reference */
    int red[NQ_MAX_DIMS] = {0};
    for (int i = 0; i < n_axes; i++) red[(axes[i] + ndim) % ndim] = 1;
    int all = n_axes <= 0 && !noop;
    for (int d = 0; d < ndim; d++) red[d] = red[d] || all;
    int64_t odims[NQ_MAX_DIMS], ny = 1;
    int ond = 0, keep = keepdims != 0;
    for (int d = 0; d < ndim; d++) {
        if (!red[d]) odims[ond++] = dims[d];
        else if (keep) odims[ond++] = 1;
        ny *= red[d] ? 1 : dims[d];
    }
    REQUIRE(out[0].ndim == ond);
    for (int d = 0; d < ond; d++) CHECK(out[0].dims[d] == odims[d]);
    double *acc = calloc((size_t)ny, sizeof(double));
    for (int64_t o = 0; o < ny; o++) acc[o] = kind == MAX ? -INFINITY : 0;
    for (int64_t i = 0; i < nx; i++) {
        int64_t rem = i, o = 0, step = 1;
        for (int d = ndim - 1; d >= 0; d--) {
            int64_t coord = rem % dims[d];
            rem /= dims[d];
            if (!red[d]) {
                o += coord * step;
                step *= dims[d];
            }
        }
        acc[o] = kind == MAX ? fmax(acc[o], x[i]) : acc[o] + x[i];
    }
    const float *y = out[0].data;
    int bad = 0;
    for (int64_t o = 0; o < ny; o++) {
        double e = kind == MEAN ? acc[o] / (double)(nx / ny) : acc[o];
        if (!(fabs(y[o] - e) <= 1e-5 * (1 + fabs(e))) && bad++ < 5)
            fprintf(stderr, "%s: y[%lld] = %.9g, expected %.9g\n", def->name, (long long)o,
                    y[o], e);
    }
    CHECK(bad == 0);
    free(acc);
    tt_free_all(in, 2);
    tt_free_all(out, 1);
}

static void test_axes(void)
{
    const int64_t s2345[] = {2, 3, 4, 5}, s322[] = {3, 2, 2}, s213[] = {2, 1, 3};
    const int64_t a0[] = {0}, a1[] = {1}, a3[] = {3}, a12[] = {1, 2}, a02[] = {0, 2},
                  a03[] = {0, 3}, a13[] = {1, 3}, a_all[] = {0, 1, 2, 3}, am2[] = {-2},
                  a31[] = {3, 1}, am1m3[] = {-1, -3};
    const int64_t *cases[] = {a0, a1, a3, a12, a02, a03, a13, a_all, a31, am1m3};
    const int counts[] = {1, 1, 1, 2, 2, 2, 2, 4, 2, 2};
    for (int opset = 13; opset <= 18; opset += 5)
        for (int c = 0; c < 10; c++)
            for (int keep = 0; keep < 2; keep++)
                check(MEAN, opset, 4, s2345, counts[c], cases[c], keep, 0, 1);
    /* as in the ONNX backend tests */
    check(MEAN, 13, 3, s322, -1, NULL, 1, 0, 1);
    check(MEAN, 13, 3, s322, 1, a1, 0, 0, 1);
    check(MEAN, 13, 3, s322, 1, am2, 1, 0, 1);
    check(MEAN, 13, 3, s322, -1, NULL, -1, 0, 1); /* keepdims default 1 */
    check(MEAN, 18, 3, s322, -1, NULL, 0, 0, 1);
    check(MEAN, 18, 3, s322, 0, NULL, 1, 0, 1);  /* empty axes input: all */
    check(MEAN, 18, 3, s322, 0, NULL, 1, 1, 1);  /* noop_with_empty_axes */
    check(MEAN, 18, 3, s322, -1, NULL, 0, 1, 1); /* no axes input + noop */
    /* size-1 dims */
    check(MEAN, 13, 3, s213, 1, a1, 1, 0, 1);
    check(MEAN, 13, 3, s213, 1, a0, 0, 0, 1);
    /* threaded: per-channel spatial mean, and a reduction of the outer dim */
    const int64_t big[] = {8, 64, 32, 32}, a23[] = {2, 3}, a01[] = {0, 1};
    check(MEAN, 13, 4, big, 2, a23, 1, 0, 4);
    check(MEAN, 13, 4, big, 2, a01, 0, 0, 4);
    check(MEAN, 13, 4, big, 1, a1, 1, 0, 4);
    /* the other table entries */
    check(SUM, 13, 4, s2345, 2, a13, 0, 0, 1);
    check(SUM, 11, 4, s2345, 1, a0, 1, 0, 1);
    check(MAX, 13, 4, s2345, 2, a12, 1, 0, 1);
    check(MAX, 18, 4, s2345, 1, a3, 0, 0, 1);
    check(MAX, 18, 4, big, 2, a23, 0, 0, 3);
}

static void test_errors(void)
{
    const int64_t s322[] = {3, 2, 2};
    nq_tensor in[2], out[1] = {{0}};
    memset(in, 0, sizeof in);
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 3, s322, NULL);
    tnode nd;
    nq_error err = {0};
    const int64_t bad_axis[] = {3}, rep[] = {1, -2};
    tn_init(&nd, "ReduceMean");
    tn_ints(&nd, "axes", 1, bad_axis);
    CHECK(run_op(&nq_def_ReduceMean, &nd.node, 13, 1, in, 0, 1, out, &err) ==
          NQ_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "axis 3") != NULL);
    tn_init(&nd, "ReduceMean");
    tn_ints(&nd, "axes", 2, rep);
    CHECK(run_op(&nq_def_ReduceMean, &nd.node, 13, 1, in, 0, 1, out, &err) ==
          NQ_ERR_INVALID_ARG);
    /* opset 18: axes input must be known at plan time */
    tn_init(&nd, "ReduceMean");
    tt_make(&in[1], NQ_DTYPE_INT64, 1, (const int64_t[]){1}, (const int64_t[]){1});
    CHECK(run_op(&nq_def_ReduceMean, &nd.node, 18, 2, in, 0, 1, out, &err) ==
          NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "plan time") != NULL);
    CHECK_OK(run_op(&nq_def_ReduceMean, &nd.node, 18, 2, in, 2, 1, out, &err));
    tt_free_all(out, 1);
    tt_free_all(in, 2);
    const int32_t iv[] = {1, 2};
    tt_make(&in[0], NQ_DTYPE_INT32, 1, (const int64_t[]){2}, iv);
    CHECK(run_op(&nq_def_ReduceMean, &nd.node, 13, 1, in, 0, 1, out, &err) ==
          NQ_ERR_UNSUPPORTED);
    tt_free_all(in, 2);
    tt_free_all(out, 1);
}

static void test_empty(void)
{
    /* mean over an empty axis is NaN, like numpy */
    const int64_t s03[] = {0, 3}, a0[] = {0};
    nq_tensor in[1], out[1] = {{0}};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, s03, NULL);
    tnode nd;
    tn_init(&nd, "ReduceMean");
    tn_ints(&nd, "axes", 1, a0);
    nq_error err = {0};
    CHECK_OK(run_op(&nq_def_ReduceMean, &nd.node, 13, 1, in, 0, 1, out, &err));
    CHECK(out[0].ndim == 2 && out[0].dims[0] == 1 && out[0].dims[1] == 3);
    CHECK(isnan(((float *)out[0].data)[0]));
    tt_free_all(in, 1);
    tt_free_all(out, 1);
}

int main(void)
{
    test_axes();
    test_errors();
    test_empty();
    TEST_MAIN_END();
}
