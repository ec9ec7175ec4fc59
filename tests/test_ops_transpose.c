/* Transpose: every permutation of 3-D and 4-D shapes, 5-D and size-1 cases,
 * every element size, against a reference computed index by index. */
#include <stdint.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Transpose;

/* Checks Transpose(perm) of a tensor of shape d against the reference;
 * perm == NULL uses the default (reversed axes). */
static void check_perm(nq_dtype dt, int r, const int64_t *d, const int64_t *perm)
{
    tnode n;
    tn_init(&n, "Transpose");
    if (perm) tn_ints(&n, "perm", r, perm);
    nq_tensor in[1], out[1];
    tt_make(&in[0], dt, r, d, NULL);
    unsigned char *x = in[0].data;
    for (size_t i = 0; i < nq_tensor_nbytes(&in[0]); i++) x[i] = (unsigned char)(i * 131u + 7u);
    nq_error err = {0};
    nq_status s = run_op(&nq_def_Transpose, &n.node, 13, 1, in, 0, 1, out, &err);
    if (s != NQ_OK) fprintf(stderr, "%s\n", err.msg);
    REQUIRE(s == NQ_OK);
    int64_t p[NQ_MAX_DIMS], istr[NQ_MAX_DIMS];
    for (int i = 0; i < r; i++) p[i] = perm ? perm[i] : r - 1 - i;
    REQUIRE(out[0].ndim == r);
    for (int i = 0; i < r; i++) CHECK(out[0].dims[i] == d[p[i]]);
    if (r > 0) istr[r - 1] = 1;
    for (int i = r - 2; i >= 0; i--) istr[i] = istr[i + 1] * d[i + 1];
    size_t es = nq_dtype_size(dt);
    int64_t total = nq_tensor_numel(&out[0]), bad = 0;
    const unsigned char *y = out[0].data;
    for (int64_t o = 0; o < total; o++) {
        int64_t rem = o, src = 0;
        for (int i = r - 1; i >= 0; i--) {
            int64_t k = rem % out[0].dims[i];
            rem /= out[0].dims[i];
            src += k * istr[p[i]];
        }
        if (memcmp(y + o * (int64_t)es, x + src * (int64_t)es, es) != 0) bad++;
    }
    if (bad) {
        fprintf(stderr, "transpose %s rank %d perm", nq_dtype_name(dt), r);
        for (int i = 0; i < r; i++) fprintf(stderr, " %lld", (long long)p[i]);
        fprintf(stderr, ": %lld wrong elements\n", (long long)bad);
    }
    CHECK(bad == 0);
    tt_free_all(out, 1);
    nq_tensor_free(&in[0]);
}

/* Calls f for every permutation of 0..r-1 (Heap's algorithm). */
static void all_perms(nq_dtype dt, int r, const int64_t *d)
{
    int64_t p[NQ_MAX_DIMS];
    int c[NQ_MAX_DIMS] = {0};
    for (int i = 0; i < r; i++) p[i] = i;
    check_perm(dt, r, d, p);
    int i = 0;
    while (i < r) {
        if (c[i] < i) {
            int j = i % 2 == 0 ? 0 : c[i];
            int64_t t = p[j];
            p[j] = p[i];
            p[i] = t;
            check_perm(dt, r, d, p);
            c[i]++;
            i = 0;
        } else {
            c[i] = 0;
            i++;
        }
    }
}

static void test_errors(void)
{
    const int64_t d[3] = {2, 3, 4};
    nq_tensor in[1], out[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 3, d, NULL);
    const int64_t bad1[3] = {0, 0, 1}, bad2[2] = {1, 0}, bad3[3] = {0, 1, 3};
    const int64_t *bads[3] = {bad1, bad2, bad3};
    const int nb[3] = {3, 2, 3};
    for (int k = 0; k < 3; k++) {
        tnode n;
        tn_init(&n, "Transpose");
        tn_ints(&n, "perm", nb[k], bads[k]);
        nq_error err = {0};
        CHECK(run_op(&nq_def_Transpose, &n.node, 13, 1, in, 0, 1, out, &err) == NQ_ERR_SHAPE);
        CHECK(strstr(err.msg, "perm") != NULL);
        tt_free_all(out, 1);
    }
    nq_tensor_free(&in[0]);
}

int main(void)
{
    const nq_dtype types[5] = {NQ_DTYPE_INT8, NQ_DTYPE_INT16, NQ_DTYPE_FLOAT32, NQ_DTYPE_INT64,
                               NQ_DTYPE_BOOL};
    const int64_t d3[3] = {2, 3, 4}, d4[4] = {2, 3, 4, 5}, big4[4] = {2, 37, 33, 35};
    for (int t = 0; t < 5; t++) {
        all_perms(types[t], 3, d3);
        all_perms(types[t], 4, d4);
        check_perm(types[t], 3, d3, NULL);
    }
    /* NCHW <-> NHWC on shapes that leave partial tiles */
    const int64_t to_nhwc[4] = {0, 2, 3, 1}, to_nchw[4] = {0, 3, 1, 2};
    for (int t = 0; t < 4; t++) {
        check_perm(types[t], 4, big4, to_nhwc);
        check_perm(types[t], 4, big4, to_nchw);
    }
    const int64_t sq[2] = {70, 45}, sw[2] = {1, 0};
    check_perm(NQ_DTYPE_FLOAT64, 2, sq, sw);
    /* size-1 axes, 5-D, 1-D, scalar, zero-size */
    const int64_t d5[5] = {1, 3, 1, 4, 2}, p5[5] = {4, 2, 0, 3, 1};
    check_perm(NQ_DTYPE_FLOAT32, 5, d5, p5);
    all_perms(NQ_DTYPE_UINT8, 5, d5);
    const int64_t d5b[5] = {2, 3, 2, 4, 3};
    all_perms(NQ_DTYPE_INT32, 5, d5b);
    const int64_t d1[1] = {7}, p1[1] = {0};
    check_perm(NQ_DTYPE_FLOAT32, 1, d1, p1);
    check_perm(NQ_DTYPE_FLOAT32, 0, NULL, NULL);
    const int64_t dz[3] = {2, 0, 3};
    all_perms(NQ_DTYPE_FLOAT32, 3, dz);
    test_errors();
    TEST_MAIN_END();
}
