/* Concat and Split: every axis of a 3-D shape, several dtypes, every opset
 * form of Split's sizes (attribute, input, equal, num_outputs), zero sizes,
 * and the errors. Values are checked against index arithmetic. */
#include <stdint.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Concat, nq_def_Split;

static void fill_bytes(nq_tensor *t, unsigned seed)
{
    unsigned char *p = t->data;
    for (size_t i = 0; i < nq_tensor_nbytes(t); i++) p[i] = (unsigned char)(i * 29u + seed);
}

/* Byte offset of element (coords) in a tensor. */
static int64_t offset_of(const nq_tensor *t, const int64_t *k)
{
    int64_t off = 0;
    for (int i = 0; i < t->ndim; i++) off = off * t->dims[i] + k[i];
    return off * (int64_t)nq_dtype_size(t->dtype);
}

/* Checks that `part` equals `whole` restricted to [start, start + part.dims[axis]) on axis. */
static int part_matches(const nq_tensor *whole, const nq_tensor *part, int axis, int64_t start)
{
    int64_t n = nq_tensor_numel(part), k[NQ_MAX_DIMS];
    size_t es = nq_dtype_size(whole->dtype);
    for (int64_t e = 0; e < n; e++) {
        int64_t rem = e;
        for (int i = part->ndim - 1; i >= 0; i--) {
            k[i] = rem % part->dims[i];
            rem /= part->dims[i];
        }
        int64_t po = offset_of(part, k);
        k[axis] += start;
        if (memcmp((const char *)part->data + po, (const char *)whole->data + offset_of(whole, k), es))
            return 0;
    }
    return 1;
}

static void test_concat(void)
{
    const nq_dtype types[3] = {NQ_DTYPE_FLOAT32, NQ_DTYPE_INT8, NQ_DTYPE_INT64};
    for (int t = 0; t < 3; t++) {
        for (int axis = -3; axis < 3; axis++) {
            int a = axis < 0 ? axis + 3 : axis;
            int64_t sizes[3] = {2, 0, 3};
            nq_tensor in[3], out[1];
            for (int k = 0; k < 3; k++) {
                int64_t d[3] = {2, 3, 4};
                d[a] = sizes[k];
                tt_make(&in[k], types[t], 3, d, NULL);
                fill_bytes(&in[k], 17u * (unsigned)k + 1u);
            }
            tnode n;
            tn_init(&n, "Concat");
            tn_int(&n, "axis", axis);
            nq_error err = {0};
            nq_status s = run_op(&nq_def_Concat, &n.node, 13, 3, in, 0, 1, out, &err);
            if (s != NQ_OK) fprintf(stderr, "%s\n", err.msg);
            REQUIRE(s == NQ_OK);
            int64_t want[3] = {2, 3, 4};
            want[a] = 5;
            CHECK(out[0].ndim == 3 && out[0].dtype == types[t]);
            for (int i = 0; i < 3; i++) CHECK(out[0].dims[i] == want[i]);
            CHECK(part_matches(&out[0], &in[0], a, 0));
            CHECK(part_matches(&out[0], &in[2], a, 2));
            tt_free_all(out, 1);
            tt_free_all(in, 3);
        }
    }
    /* errors: shape mismatch off the axis, dtype mismatch, missing axis, axis range */
    const int64_t da[2] = {2, 3}, db[2] = {3, 3};
    nq_tensor in[2], out[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, da, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 2, db, NULL);
    tnode n;
    tn_init(&n, "Concat");
    tn_int(&n, "axis", 1);
    nq_error err = {0};
    CHECK(run_op(&nq_def_Concat, &n.node, 13, 2, in, 0, 1, out, &err) == NQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "[3,3]") != NULL);
    n.attrs[0].i = 0; /* axis 0: fine */
    CHECK(run_op(&nq_def_Concat, &n.node, 13, 2, in, 0, 1, out, &err) == NQ_OK);
    CHECK(out[0].dims[0] == 5 && out[0].dims[1] == 3);
    tt_free_all(out, 1);
    n.attrs[0].i = 2;
    CHECK(run_op(&nq_def_Concat, &n.node, 13, 2, in, 0, 1, out, &err) == NQ_ERR_SHAPE);
    nq_tensor_free(&in[1]);
    tt_make(&in[1], NQ_DTYPE_INT32, 2, da, NULL);
    n.attrs[0].i = 0;
    CHECK(run_op(&nq_def_Concat, &n.node, 13, 2, in, 0, 1, out, &err) == NQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "int32") != NULL);
    tnode m;
    tn_init(&m, "Concat");
    CHECK(run_op(&nq_def_Concat, &m.node, 13, 2, in, 0, 1, out, &err) == NQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "axis") != NULL);
    tt_free_all(in, 2);
}

/* Splits x (shape d) and checks each output's size along axis and content. */
static void split_case(const tnode *n, int64_t opset, int r, const int64_t *d, int axis,
                       const nq_tensor *split, unsigned known, int n_out, const int64_t *want)
{
    nq_tensor in[2] = {{0}}, out[8];
    tt_make(&in[0], NQ_DTYPE_INT16, r, d, NULL);
    fill_bytes(&in[0], 3u);
    if (split) in[1] = *split;
    nq_error err = {0};
    nq_status s = run_op(&nq_def_Split, &n->node, opset, split ? 2 : 1, in, known, n_out, out, &err);
    if (s != NQ_OK) fprintf(stderr, "%s\n", err.msg);
    CHECK(s == NQ_OK);
    int64_t start = 0;
    for (int k = 0; s == NQ_OK && k < n_out; k++) {
        CHECK(out[k].ndim == r);
        CHECK(out[k].dims[axis] == want[k]);
        CHECK(part_matches(&in[0], &out[k], axis, start));
        start += want[k];
    }
    tt_free_all(out, n_out);
    nq_tensor_free(&in[0]);
}

static void split_fail(const tnode *n, int64_t opset, int r, const int64_t *d,
                       const nq_tensor *split, unsigned known, int n_out, nq_status code,
                       const char *needle)
{
    nq_tensor in[2] = {{0}}, out[8];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, r, d, NULL);
    if (split) in[1] = *split;
    nq_error err = {0};
    nq_status s = run_op(&nq_def_Split, &n->node, opset, split ? 2 : 1, in, known, n_out, out, &err);
    CHECK(s == code);
    if (s != code) fprintf(stderr, "  got %d: %s\n", (int)s, err.msg);
    if (needle) CHECK(strstr(err.msg, needle) != NULL);
    tt_free_all(out, n_out);
    nq_tensor_free(&in[0]);
}

static nq_tensor ints_tensor(int n, const int64_t *v)
{
    nq_tensor t;
    int64_t d = n;
    tt_make(&t, NQ_DTYPE_INT64, 1, &d, v);
    return t;
}

static void test_split(void)
{
    const int64_t d1[1] = {6}, d2[2] = {2, 6}, d3[3] = {3, 7, 2};
    tnode n;
    tn_init(&n, "Split");
    { const int64_t w[3] = {2, 2, 2}; split_case(&n, 13, 1, d1, 0, NULL, 0, 3, w); }
    { const int64_t s[2] = {2, 4}; nq_tensor st = ints_tensor(2, s);
      split_case(&n, 13, 1, d1, 0, &st, 2u, 2, s);
      split_fail(&n, 13, 1, d1, &st, 0u, 2, NQ_ERR_UNSUPPORTED, "'split'");
      split_fail(&n, 13, 1, d1, &st, 2u, 3, NQ_ERR_SHAPE, "3 outputs");
      nq_tensor_free(&st); }
    { const int64_t s[2] = {2, 3}; nq_tensor st = ints_tensor(2, s);
      split_fail(&n, 13, 1, d1, &st, 2u, 2, NQ_ERR_SHAPE, "sum"); nq_tensor_free(&st); }
    { const int64_t z[1] = {0}, s[3] = {0, 0, 0}; nq_tensor st = ints_tensor(3, s);
      split_case(&n, 13, 1, z, 0, &st, 2u, 3, s); nq_tensor_free(&st); }
    split_fail(&n, 13, 1, d1, NULL, 0, 4, NQ_ERR_SHAPE, "divisible");
    tnode a;
    tn_init(&a, "Split");
    tn_int(&a, "axis", 1);
    { const int64_t w[2] = {3, 3}; split_case(&a, 13, 2, d2, 1, NULL, 0, 2, w); }
    { const int64_t s[3] = {1, 4, 2}; nq_tensor st = ints_tensor(3, s);
      split_case(&a, 13, 3, d3, 1, &st, 2u, 3, s); nq_tensor_free(&st); }
    { /* int32 split input */
        const int32_t s[2] = {5, 2}; const int64_t w[2] = {5, 2}, two = 2; nq_tensor st;
        tt_make(&st, NQ_DTYPE_INT32, 1, &two, s);
        split_case(&a, 13, 3, d3, 1, &st, 2u, 2, w); nq_tensor_free(&st); }
    /* opset 11: split attribute; negative axis */
    tnode b;
    tn_init(&b, "Split");
    const int64_t sa[3] = {1, 1, 5};
    tn_int(&b, "axis", -2);
    tn_ints(&b, "split", 3, sa);
    split_case(&b, 11, 3, d3, 1, NULL, 0, 3, sa);
    split_case(&b, 2, 3, d3, 1, NULL, 0, 3, sa);
    /* opset 18: num_outputs, last chunk smaller */
    tnode c;
    tn_init(&c, "Split");
    tn_int(&c, "axis", 1);
    tn_int(&c, "num_outputs", 3);
    { const int64_t w[3] = {3, 3, 1}; split_case(&c, 18, 3, d3, 1, NULL, 0, 3, w); }
    { const int64_t w[2] = {4, 3}; split_case(&a, 18, 3, d3, 1, NULL, 0, 2, w); }
    split_fail(&c, 18, 3, d3, NULL, 0, 2, NQ_ERR_SHAPE, "num_outputs");
    split_fail(&a, 13, 3, d3, NULL, 0, 2, NQ_ERR_SHAPE, "divisible");
    tnode e;
    tn_init(&e, "Split");
    tn_int(&e, "axis", 3);
    split_fail(&e, 13, 3, d3, NULL, 0, 2, NQ_ERR_SHAPE, "axis");
}

/* Split then Concat gives the input back (float64, 4-D, middle axis). */
static void test_roundtrip(void)
{
    const int64_t d[4] = {2, 9, 3, 2}, s[3] = {4, 0, 5};
    nq_tensor in[2], parts[3], back[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT64, 4, d, NULL);
    fill_bytes(&in[0], 5u);
    int64_t three = 3;
    tt_make(&in[1], NQ_DTYPE_INT64, 1, &three, s);
    tnode n;
    tn_init(&n, "Split");
    tn_int(&n, "axis", 1);
    nq_error err = {0};
    REQUIRE(run_op(&nq_def_Split, &n.node, 13, 2, in, 2u, 3, parts, &err) == NQ_OK);
    tnode c;
    tn_init(&c, "Concat");
    tn_int(&c, "axis", 1);
    REQUIRE(run_op(&nq_def_Concat, &c.node, 13, 3, parts, 0, 1, back, &err) == NQ_OK);
    CHECK(nq_tensor_equal(&back[0], &in[0]));
    tt_free_all(back, 1);
    tt_free_all(parts, 3);
    tt_free_all(in, 2);
}

int main(void)
{
    test_concat();
    test_split();
    test_roundtrip();
    TEST_MAIN_END();
}
