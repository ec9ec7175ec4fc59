/* Slice: the ONNX backend cases on a [20, 10, 5] tensor, negative steps,
 * clamping, INT64 extremes, opset-1 attributes, errors. The reference walks
 * each axis the way Python's slice.indices() does, element by element. */
#include <stdint.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Slice;

/* Indices selected on an axis of size dim (Python semantics, except as marked); returns the count. */
static int64_t ref_axis(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *idx)
{
    int64_t n = 0;
    if (step > 0) {
        if (start < 0) start = start + dim < 0 ? 0 : start + dim;
        if (end < 0) end = end + dim < 0 ? 0 : end + dim;
        if (start > dim) start = dim;
        if (end > dim) end = dim;
        for (int64_t i = start; i < end; i += step) {
            idx[n++] = i;
            if (step > dim) break;
        }
    } else {
        /* the ONNX spec clamps start to [0, dim-1] here (numpy would give -1: empty) */
        if (start < 0) start = start + dim < 0 ? 0 : start + dim;
        if (end < 0) end = end + dim < 0 ? -1 : end + dim;
        if (start > dim - 1) start = dim - 1;
        if (end > dim - 1) end = dim - 1;
        for (int64_t i = start; i > end; i += step) {
            idx[n++] = i;
            if (-(step + 1) >= dim) break;
        }
    }
    return n;
}

typedef struct slice_case {
    int n;
    int64_t starts[4], ends[4], axes[4], steps[4];
    int has_axes, has_steps;
} slice_case;

/* Runs one case on an int32 tensor of shape d (opset 13, inputs known) and
 * checks shape and values; want_dims (if not NULL) is the expected shape. */
static void check_case(nq_dtype dt, int r, const int64_t *d, const slice_case *sc,
                       const int64_t *want_dims, int64_t opset)
{
    tnode node;
    tn_init(&node, "Slice");
    nq_tensor in[5] = {{0}}, out[1];
    tt_make(&in[0], dt, r, d, NULL);
    unsigned char *x = in[0].data;
    for (size_t i = 0; i < nq_tensor_nbytes(&in[0]); i++) x[i] = (unsigned char)(i * 41u + 3u);
    int64_t nn = sc->n;
    int n_in = 1;
    if (opset >= 10) {
        tt_make(&in[1], NQ_DTYPE_INT64, 1, &nn, sc->starts);
        tt_make(&in[2], NQ_DTYPE_INT64, 1, &nn, sc->ends);
        n_in = 3;
        if (sc->has_axes) tt_make(&in[3], NQ_DTYPE_INT64, 1, &nn, sc->axes), n_in = 4;
        if (sc->has_steps) tt_make(&in[4], NQ_DTYPE_INT64, 1, &nn, sc->steps), n_in = 5;
    } else {
        tn_ints(&node, "starts", sc->n, sc->starts);
        tn_ints(&node, "ends", sc->n, sc->ends);
        if (sc->has_axes) tn_ints(&node, "axes", sc->n, sc->axes);
    }
    nq_error err = {0};
    nq_status s = run_op(&nq_def_Slice, &node.node, opset, n_in, in, 0x1Eu, 1, out, &err);
    if (s != NQ_OK) fprintf(stderr, "%s\n", err.msg);
    REQUIRE(s == NQ_OK);
    /* reference */
    int64_t idx[NQ_MAX_DIMS][64], cnt[NQ_MAX_DIMS];
    for (int a = 0; a < r; a++) cnt[a] = ref_axis(d[a], 0, d[a], 1, idx[a]);
    for (int k = 0; k < sc->n; k++) {
        int64_t a = sc->has_axes ? sc->axes[k] : k;
        if (a < 0) a += r;
        cnt[a] = ref_axis(d[a], sc->starts[k], sc->ends[k], sc->has_steps ? sc->steps[k] : 1,
                          idx[a]);
    }
    REQUIRE(out[0].ndim == r);
    for (int a = 0; a < r; a++) {
        CHECK(out[0].dims[a] == cnt[a]);
        if (want_dims) CHECK(out[0].dims[a] == want_dims[a]);
    }
    size_t es = nq_dtype_size(dt);
    int64_t total = nq_tensor_numel(&out[0]), bad = 0;
    for (int64_t o = 0; o < total; o++) {
        int64_t rem = o, src = 0, stride = 1;
        for (int a = r - 1; a >= 0; a--) {
            src += idx[a][rem % cnt[a]] * stride;
            rem /= cnt[a];
            stride *= d[a];
        }
        if (memcmp((char *)out[0].data + o * (int64_t)es, x + src * (int64_t)es, es)) bad++;
    }
    CHECK(bad == 0);
    tt_free_all(out, 1);
    tt_free_all(in, 5);
}

static void test_onnx_cases(void)
{
    const int64_t d[3] = {20, 10, 5};
    const slice_case c1 = {2, {0, 0}, {3, 10}, {0, 1}, {1, 1}, 1, 1};
    const int64_t w1[3] = {3, 10, 5};
    check_case(NQ_DTYPE_FLOAT32, 3, d, &c1, w1, 13);
    const slice_case c2 = {3, {0, 0, 3}, {20, 10, 4}, {0}, {0}, 0, 0};
    const int64_t w2[3] = {20, 10, 1};
    check_case(NQ_DTYPE_FLOAT32, 3, d, &c2, w2, 13);
    const slice_case c3 = {3, {0, 0, 3}, {20, 10, 4}, {0, -2, -1}, {0}, 1, 0};
    check_case(NQ_DTYPE_FLOAT32, 3, d, &c3, w2, 13);
    const slice_case c4 = {1, {1}, {1000}, {1}, {1}, 1, 1};
    const int64_t w4[3] = {20, 9, 5};
    check_case(NQ_DTYPE_FLOAT32, 3, d, &c4, w4, 13);
    const slice_case c5 = {1, {0}, {-1}, {1}, {1}, 1, 1};
    check_case(NQ_DTYPE_FLOAT32, 3, d, &c5, w4, 13);
    const slice_case c6 = {3, {20, 10, 4}, {0, 0, 1}, {0, 1, 2}, {-1, -3, -2}, 1, 1};
    const int64_t w6[3] = {19, 3, 2};
    check_case(NQ_DTYPE_FLOAT32, 3, d, &c6, w6, 13);
    const slice_case c7 = {1, {1000}, {1000}, {1}, {1}, 1, 1};
    const int64_t w7[3] = {20, 0, 5};
    check_case(NQ_DTYPE_FLOAT32, 3, d, &c7, w7, 13);
}

static void test_more(void)
{
    const int64_t d[4] = {3, 7, 6, 5};
    const nq_dtype types[4] = {NQ_DTYPE_INT8, NQ_DTYPE_INT16, NQ_DTYPE_INT32, NQ_DTYPE_FLOAT64};
    const slice_case cases[] = {
        {2, {INT64_MIN, -1}, {INT64_MAX, INT64_MIN}, {1, 3}, {2, -1}, 1, 1},   /* reverse last */
        {3, {-100, 6, 2}, {100, -100, 5}, {0, 1, 2}, {1, -2, 1}, 1, 1},
        {2, {5, 0}, {2, 5}, {2, 3}, {-1, 2}, 1, 1},
        {1, {-2}, {-1}, {-1}, {1}, 1, 1},
        {2, {0, 0}, {1, 7}, {0, 1}, {INT64_MAX, 3}, 1, 1},                     /* step > dim */
        {1, {6}, {-8}, {1}, {INT64_MIN}, 1, 1},
        {1, {3}, {3}, {2}, {-1}, 1, 1},                                        /* empty */
        {1, {-10}, {INT64_MIN}, {0}, {-1}, 1, 1},             /* start clamped to 0: [x0] */
        {4, {1, 1, 1, 1}, {3, 6, 5, 4}, {3, 2, 1, 0}, {1, 1, 1, 1}, 1, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (int t = 0; t < 4; t++) check_case(types[t], 4, d, &cases[k], NULL, 13);
    /* opset 1: attributes, with and without axes */
    const slice_case a1 = {2, {1, 0}, {-1, 2}, {2, 0}, {0}, 1, 0};
    check_case(NQ_DTYPE_FLOAT32, 4, d, &a1, NULL, 1);
    const slice_case a2 = {2, {1, -3}, {2, 100}, {0}, {0}, 0, 0};
    const int64_t w2[4] = {1, 3, 6, 5};
    check_case(NQ_DTYPE_FLOAT32, 4, d, &a2, w2, 1);
    /* opset 10: inputs without steps */
    check_case(NQ_DTYPE_UINT8, 4, d, &a2, w2, 10);
}

static void test_errors(void)
{
    const int64_t d[2] = {4, 5}, one = 1, two = 2;
    const int64_t z[1] = {0}, e[1] = {2}, st0[1] = {0}, ax2[2] = {1, -1}, s2[2] = {0, 0};
    nq_tensor in[5] = {{0}}, out[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, d, NULL);
    tt_make(&in[1], NQ_DTYPE_INT64, 1, &one, z);
    tt_make(&in[2], NQ_DTYPE_INT64, 1, &one, e);
    tnode n;
    tn_init(&n, "Slice");
    nq_error err = {0};
    CHECK(run_op(&nq_def_Slice, &n.node, 13, 3, in, 0x4u, 1, out, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "'starts'") != NULL && strstr(err.msg, "plan time") != NULL);
    CHECK(run_op(&nq_def_Slice, &n.node, 13, 3, in, 0x2u, 1, out, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "'ends'") != NULL);
    tt_make(&in[4], NQ_DTYPE_INT64, 1, &one, st0); /* step 0 */
    CHECK(run_op(&nq_def_Slice, &n.node, 13, 5, in, 0x1Eu, 1, out, &err) == NQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "step") != NULL);
    nq_tensor_free(&in[4]);
    tt_make(&in[3], NQ_DTYPE_INT64, 1, &one, e); /* axis 2 out of range */
    CHECK(run_op(&nq_def_Slice, &n.node, 13, 4, in, 0x1Eu, 1, out, &err) == NQ_ERR_SHAPE);
    nq_tensor_free(&in[3]);
    nq_tensor_free(&in[1]);
    nq_tensor_free(&in[2]);
    tt_make(&in[1], NQ_DTYPE_INT64, 1, &two, s2);
    tt_make(&in[2], NQ_DTYPE_INT64, 1, &two, s2);
    tt_make(&in[3], NQ_DTYPE_INT64, 1, &two, ax2); /* repeated axis */
    CHECK(run_op(&nq_def_Slice, &n.node, 13, 4, in, 0x1Eu, 1, out, &err) == NQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "repeated") != NULL);
    nq_tensor_free(&in[3]);
    nq_tensor_free(&in[2]);
    tt_make(&in[2], NQ_DTYPE_INT64, 1, &one, e); /* length mismatch */
    CHECK(run_op(&nq_def_Slice, &n.node, 13, 3, in, 0x1Eu, 1, out, &err) == NQ_ERR_SHAPE);
    tt_free_all(out, 1);
    tt_free_all(in, 5);
}

int main(void)
{
    test_onnx_cases();
    test_more();
    test_errors();
    TEST_MAIN_END();
}
