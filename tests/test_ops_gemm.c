/* Gemm (transposes, alpha, beta, every C broadcast) and MatMul (1-D
 * operands, batch broadcast) against naive loops, plus shape errors. */
#include <math.h>
#include <string.h>

#include "nnquant/ops.h"
#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Gemm, nq_def_MatMul;
static unsigned rng = 99u;
static int64_t irand(int64_t lo, int64_t hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (int64_t)((rng >> 8) % (unsigned)(hi - lo + 1));
}
static void fill(nq_tensor *t)
{
    float *p = t->data;
    for (int64_t i = 0; i < nq_tensor_numel(t); i++) p[i] = tt_rand(&rng, -1.0f, 1.0f);
}

static void gemm_case(int64_t M, int64_t N, int64_t K, int ta, int tb, float alpha, float beta,
                      int cform, int threads)
{
    /* cform: 0 none, 1 scalar, 2 [N], 3 [1,N], 4 [M,1], 5 [M,N], 6 [1] */
    int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
    int64_t cdims[7][2] = {{0, 0}, {0, 0}, {N, 0}, {1, N}, {M, 1}, {M, N}, {1, 0}};
    int crank[7] = {0, 0, 1, 2, 2, 2, 1};
    tnode t;
    tn_init(&t, "Gemm");
    if (ta) tn_int(&t, "transA", 1);
    if (tb) tn_int(&t, "transB", 1);
    if (alpha != 1.0f) tn_float(&t, "alpha", alpha);
    if (beta != 1.0f) tn_float(&t, "beta", beta);
    nq_tensor in[3], o[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, ad, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 2, bd, NULL);
    tt_make(&in[2], NQ_DTYPE_FLOAT32, crank[cform], cdims[cform], NULL);
    for (int i = 0; i < 3; i++) fill(&in[i]);
    nq_error err = {0};
    nq_status s = run_op_ex(&nq_def_Gemm, &t.node, 13, cform ? 3 : 2, in, 0, 1, o, threads, &err);
    CHECK(s == NQ_OK);
    if (s == NQ_OK) {
        CHECK(o[0].ndim == 2 && o[0].dims[0] == M && o[0].dims[1] == N);
        const float *a = in[0].data, *b = in[1].data, *cv = in[2].data, *y = o[0].data;
        int bad = 0;
        for (int64_t i = 0; i < M && !bad; i++)
            for (int64_t j = 0; j < N && !bad; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
                double cval = 0;
                switch (cform) {
                case 1: case 6: cval = cv[0]; break;
                case 2: case 3: cval = cv[j]; break;
                case 4: cval = cv[i]; break;
                case 5: cval = cv[i * N + j]; break;
                default: break;
                }
                double ref = alpha * acc + (cform ? beta * cval : 0.0);
                if (!(fabs(y[i * N + j] - ref) <= 1e-4 * (1 + fabs(ref)))) {
                    fprintf(stderr, "Gemm M=%lld N=%lld K=%lld ta=%d tb=%d cform=%d: %g vs %g\n",
                            (long long)M, (long long)N, (long long)K, ta, tb, cform, y[i * N + j], ref);
                    bad = 1;
                }
            }
        CHECK(!bad);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    tt_free_all(in, 3);
    tt_free_all(o, 1);
}

static nq_status matmul_run(int na, const int64_t *ad, int nb, const int64_t *bd, nq_tensor *in,
                            nq_tensor *o, int threads, nq_error *err)
{
    tnode t;
    tn_init(&t, "MatMul");
    tt_make(&in[0], NQ_DTYPE_FLOAT32, na, ad, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, nb, bd, NULL);
    fill(&in[0]);
    fill(&in[1]);
    return run_op_ex(&nq_def_MatMul, &t.node, 13, 2, in, 0, 1, o, threads, err);
}

/* numpy matmul by definition, written independently of the op. */
static void matmul_case(int na, const int64_t *ad, int nb, const int64_t *bd, int nexp,
                        const int64_t *exp)
{
    nq_tensor in[2], o[1];
    nq_error err = {0};
    nq_status s = matmul_run(na, ad, nb, bd, in, o, (int)irand(1, 2), &err);
    CHECK(s == NQ_OK);
    if (s != NQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
        tt_free_all(in, 2);
        return;
    }
    CHECK(o[0].ndim == nexp);
    for (int i = 0; i < nexp && i < o[0].ndim; i++) CHECK(o[0].dims[i] == exp[i]);
    /* promote to rank-4 views with explicit broadcast */
    int64_t A4[4] = {1, 1, 1, 1}, B4[4] = {1, 1, 1, 1};
    if (na == 1) A4[2] = 1, A4[3] = ad[0];
    else for (int i = 0; i < na; i++) A4[4 - na + i] = ad[i];
    if (nb == 1) B4[2] = bd[0], B4[3] = 1;
    else for (int i = 0; i < nb; i++) B4[4 - nb + i] = bd[i];
    int64_t M = A4[2], K = A4[3], N = B4[3];
    int64_t D0 = A4[0] > B4[0] ? A4[0] : B4[0], D1 = A4[1] > B4[1] ? A4[1] : B4[1];
    const float *a = in[0].data, *b = in[1].data, *y = o[0].data;
    int bad = 0;
    for (int64_t p = 0; p < D0; p++)
        for (int64_t q = 0; q < D1; q++)
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double acc = 0;
                    int64_t pa = A4[0] == 1 ? 0 : p, qa = A4[1] == 1 ? 0 : q;
                    int64_t pb = B4[0] == 1 ? 0 : p, qb = B4[1] == 1 ? 0 : q;
                    for (int64_t k = 0; k < K; k++)
                        acc += (double)a[((pa * A4[1] + qa) * M + i) * K + k] *
                               b[((pb * B4[1] + qb) * K + k) * N + j];
                    double v = y[((p * D1 + q) * M + i) * N + j];
                    if (!(fabs(v - acc) <= 1e-4 * (1 + fabs(acc)))) bad = 1;
                }
    CHECK(!bad);
    tt_free_all(in, 2);
    tt_free_all(o, 1);
}

static void matmul_cases(void)
{
    { int64_t a[1] = {5}, b[1] = {5}; matmul_case(1, a, 1, b, 0, NULL); }
    { int64_t a[1] = {5}, b[2] = {5, 3}, e[1] = {3}; matmul_case(1, a, 2, b, 1, e); }
    { int64_t a[2] = {4, 5}, b[1] = {5}, e[1] = {4}; matmul_case(2, a, 1, b, 1, e); }
    { int64_t a[2] = {3, 4}, b[2] = {4, 3}, e[2] = {3, 3}; matmul_case(2, a, 2, b, 2, e); }
    { int64_t a[3] = {2, 3, 4}, b[3] = {2, 4, 3}, e[3] = {2, 3, 3}; matmul_case(3, a, 3, b, 3, e); }
    { int64_t a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 4, 3}, e[4] = {1, 2, 3, 3}; matmul_case(4, a, 4, b, 4, e); }
    { int64_t a[3] = {6, 3, 4}, b[2] = {4, 7}, e[3] = {6, 3, 7}; matmul_case(3, a, 2, b, 3, e); }
    { int64_t a[2] = {3, 4}, b[3] = {2, 4, 5}, e[3] = {2, 3, 5}; matmul_case(2, a, 3, b, 3, e); }
    { int64_t a[4] = {2, 1, 3, 4}, b[3] = {5, 4, 6}, e[4] = {2, 5, 3, 6}; matmul_case(4, a, 3, b, 4, e); }
    { int64_t a[3] = {4, 2, 5}, b[1] = {5}, e[2] = {4, 2}; matmul_case(3, a, 1, b, 2, e); }
    { int64_t a[1] = {5}, b[3] = {3, 5, 2}, e[2] = {3, 2}; matmul_case(1, a, 3, b, 2, e); }
    { int64_t a[3] = {3, 1, 4}, b[3] = {1, 4, 2}, e[3] = {3, 1, 2}; matmul_case(3, a, 3, b, 3, e); }
    /* errors */
    nq_tensor in[2], o[1];
    nq_error err = {0};
    { int64_t a[2] = {3, 4}, b[2] = {5, 3};
      CHECK(matmul_run(2, a, 2, b, in, o, 1, &err) == NQ_ERR_SHAPE);
      CHECK(strstr(err.msg, "[3,4]") != NULL); tt_free_all(in, 2); }
    { int64_t a[3] = {2, 3, 4}, b[3] = {3, 4, 3};
      CHECK(matmul_run(3, a, 3, b, in, o, 1, &err) == NQ_ERR_SHAPE); tt_free_all(in, 2); }
}

static void gemm_errors(void)
{
    tnode t;
    tn_init(&t, "Gemm");
    int64_t ad[2] = {3, 4}, bd[2] = {5, 6}, cd[2] = {2, 6};
    nq_tensor in[3], o[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, ad, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 2, bd, NULL);
    tt_make(&in[2], NQ_DTYPE_FLOAT32, 2, cd, NULL);
    nq_error err = {0};
    CHECK(run_op(&nq_def_Gemm, &t.node, 13, 2, in, 0, 1, o, &err) == NQ_ERR_SHAPE);
    tn_int(&t, "transB", 1);
    bd[0] = 6, bd[1] = 4;
    tt_free_all(in, 3);
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, ad, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 2, bd, NULL);
    tt_make(&in[2], NQ_DTYPE_FLOAT32, 2, cd, NULL);
    CHECK(run_op(&nq_def_Gemm, &t.node, 13, 3, in, 0, 1, o, &err) == NQ_ERR_SHAPE); /* C [2,6] */
    CHECK(strstr(err.msg, "broadcast") != NULL);
    tt_free_all(in, 3);
}

int main(void)
{
    for (int it = 0; it < 200; it++)
        gemm_case(irand(1, 40), irand(1, 40), irand(1, 70), (int)irand(0, 1), (int)irand(0, 1),
                  irand(0, 1) ? 1.0f : 0.25f, irand(0, 1) ? 1.0f : 0.35f, (int)irand(0, 6),
                  (int)irand(1, 2));
    gemm_case(64, 10, 3136, 0, 1, 1.0f, 1.0f, 2, 1); /* the ConvNet's FC layer */
    matmul_cases();
    gemm_errors();
    TEST_MAIN_END();
}
