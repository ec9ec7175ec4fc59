/* Gather: every axis, 0-D/1-D/2-D indices, negative indices, int32 and int64
 * indices, several data dtypes; out-of-range indices and bad dtypes fail. */
#include <stdint.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Gather;

static void check_gather(nq_dtype dt, int r, const int64_t *d, int64_t axis, nq_dtype it, int q,
                         const int64_t *qd, const int64_t *idx)
{
    tnode n;
    tn_init(&n, "Gather");
    if (axis != 0) tn_int(&n, "axis", axis);
    nq_tensor in[2], out[1];
    tt_make(&in[0], dt, r, d, NULL);
    unsigned char *x = in[0].data;
    for (size_t i = 0; i < nq_tensor_nbytes(&in[0]); i++) x[i] = (unsigned char)(i * 97u + 5u);
    tt_make(&in[1], it, q, qd, NULL);
    int64_t ni = nq_tensor_numel(&in[1]);
    for (int64_t k = 0; k < ni; k++) nq_tensor_set(&in[1], k, (double)idx[k]);
    nq_error err = {0};
    nq_status s = run_op(&nq_def_Gather, &n.node, 13, 2, in, 0, 1, out, &err);
    if (s != NQ_OK) fprintf(stderr, "%s\n", err.msg);
    REQUIRE(s == NQ_OK);
    int a = (int)(axis < 0 ? axis + r : axis);
    REQUIRE(out[0].ndim == r - 1 + q);
    for (int i = 0; i < a; i++) CHECK(out[0].dims[i] == d[i]);
    for (int i = 0; i < q; i++) CHECK(out[0].dims[a + i] == qd[i]);
    for (int i = a + 1; i < r; i++) CHECK(out[0].dims[q + i - 1] == d[i]);
    /* reference: out[o, k, i] = x[o, idx[k], i] */
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < a; i++) outer *= d[i];
    for (int i = a + 1; i < r; i++) inner *= d[i];
    size_t es = nq_dtype_size(dt);
    int64_t bad = 0;
    const unsigned char *y = out[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < ni; k++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t j = idx[k] < 0 ? idx[k] + d[a] : idx[k];
                int64_t yo = (o * ni + k) * inner + i, xo = (o * d[a] + j) * inner + i;
                if (memcmp(y + yo * (int64_t)es, x + xo * (int64_t)es, es)) bad++;
            }
    CHECK(bad == 0);
    tt_free_all(out, 1);
    tt_free_all(in, 2);
}

static void expect_fail(nq_dtype it, int64_t bad_index, nq_status code, const char *needle)
{
    const int64_t d[2] = {3, 4}, one = 1;
    tnode n;
    tn_init(&n, "Gather");
    tn_int(&n, "axis", 1);
    nq_tensor in[2], out[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, d, NULL);
    tt_make(&in[1], it, 1, &one, NULL);
    nq_tensor_set(&in[1], 0, (double)bad_index);
    nq_error err = {0};
    CHECK(run_op(&nq_def_Gather, &n.node, 13, 2, in, 0, 1, out, &err) == code);
    CHECK(strstr(err.msg, needle) != NULL);
    tt_free_all(out, 1);
    tt_free_all(in, 2);
}

int main(void)
{
    const int64_t d4[4] = {5, 4, 3, 2}, q1[1] = {3}, i013[3] = {0, 1, 3};
    check_gather(NQ_DTYPE_FLOAT32, 4, d4, 0, NQ_DTYPE_INT64, 1, q1, i013);
    check_gather(NQ_DTYPE_FLOAT32, 4, d4, 1, NQ_DTYPE_INT64, 1, q1, i013);
    const int64_t d2[2] = {3, 3}, q2[2] = {1, 2}, i02[2] = {0, 2};
    check_gather(NQ_DTYPE_FLOAT32, 2, d2, 1, NQ_DTYPE_INT64, 2, q2, i02);
    const int64_t d1[1] = {10}, ineg[3] = {0, -9, -10};
    check_gather(NQ_DTYPE_FLOAT32, 1, d1, 0, NQ_DTYPE_INT64, 1, q1, ineg);
    const nq_dtype types[4] = {NQ_DTYPE_INT8, NQ_DTYPE_INT16, NQ_DTYPE_FLOAT64, NQ_DTYPE_BOOL};
    const int64_t q23[2] = {2, 3}, idx6[6] = {2, -1, 0, 1, 1, -2}, zero = 0;
    for (int t = 0; t < 4; t++)
        for (int64_t axis = -4; axis < 4; axis++) {
            int64_t dim = d4[axis < 0 ? axis + 4 : axis];
            int64_t idx[6];
            for (int k = 0; k < 6; k++) idx[k] = idx6[k] % dim;
            check_gather(types[t], 4, d4, axis, t % 2 ? NQ_DTYPE_INT32 : NQ_DTYPE_INT64, 2, q23,
                         idx);
        }
    /* scalar index drops the axis; empty indices */
    const int64_t i1[1] = {-1};
    check_gather(NQ_DTYPE_INT32, 4, d4, 2, NQ_DTYPE_INT64, 0, NULL, i1);
    check_gather(NQ_DTYPE_INT32, 4, d4, 2, NQ_DTYPE_INT64, 1, &zero, NULL);
    expect_fail(NQ_DTYPE_INT64, 4, NQ_ERR_DATA, "index 4");
    expect_fail(NQ_DTYPE_INT32, -5, NQ_ERR_DATA, "index -5");
    expect_fail(NQ_DTYPE_FLOAT32, 0, NQ_ERR_UNSUPPORTED, "float32");
    TEST_MAIN_END();
}
