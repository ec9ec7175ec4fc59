/* MaxPool / AveragePool against a per-window reference (1-D/2-D/3-D,
 * strides, pads, dilations, ceil_mode, auto_pad, count_include_pad,
 * Indices with both storage orders, int8/uint8), the ONNX ceil example,
 * and the global pools. */
#include <math.h>
#include <string.h>

#include "nnquant/ops.h"
#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_MaxPool, nq_def_AveragePool, nq_def_GlobalAveragePool,
    nq_def_GlobalMaxPool;
static unsigned rng = 31337u;
static int64_t irand(int64_t lo, int64_t hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (int64_t)((rng >> 8) % (unsigned)(hi - lo + 1));
}

typedef struct cfg {
    int nsp, is_max, autopad, ceil, incl, indices, order, threads;
    nq_dtype dt;
    int64_t N, C, in[3], k[3], s[3], d[3], pb[3], pe[3];
} cfg;

static int64_t out_size(cfg *f, int i)
{
    return tt_window_out(f->in[i], f->k[i], f->s[i], f->d[i], f->autopad, f->ceil, &f->pb[i], &f->pe[i]);
}

static double xget(const nq_tensor *t, int64_t i) { return nq_tensor_get(t, i); }

static void run_case(cfg *f)
{
    static const char *ap_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    int64_t xd[5] = {f->N, f->C}, out[3] = {1, 1, 1}, pads[6];
    for (int i = 0; i < f->nsp; i++) {
        xd[2 + i] = f->in[i];
        pads[i] = f->pb[i], pads[f->nsp + i] = f->pe[i];
    }
    tnode t;
    tn_init(&t, f->is_max ? "MaxPool" : "AveragePool");
    tn_ints(&t, "kernel_shape", f->nsp, f->k);
    tn_ints(&t, "strides", f->nsp, f->s);
    tn_ints(&t, "dilations", f->nsp, f->d);
    if (f->ceil) tn_int(&t, "ceil_mode", 1);
    if (f->incl) tn_int(&t, "count_include_pad", 1);
    if (f->order) tn_int(&t, "storage_order", 1);
    if (f->autopad == 0) tn_ints(&t, "pads", 2 * f->nsp, pads);
    else tn_add(&t, "auto_pad", NQ_ATTR_STRING)->s = (char *)ap_names[f->autopad];
    for (int i = 0; i < f->nsp; i++) out[i] = out_size(f, i);
    nq_tensor in[1], o[2];
    tt_make(&in[0], f->dt, 2 + f->nsp, xd, NULL);
    for (int64_t i = 0; i < nq_tensor_numel(&in[0]); i++)
        nq_tensor_set(&in[0], i, f->dt == NQ_DTYPE_FLOAT32 ? tt_rand(&rng, -1, 1) : (double)irand(-100, 200));
    memset(o, 0, sizeof o);
    if (!f->indices) tt_absent(&o[1]);
    nq_error err = {0};
    nq_status s = run_op_ex(f->is_max ? &nq_def_MaxPool : &nq_def_AveragePool, &t.node, 19, 1, in,
                            0, f->indices ? 2 : 1, o, f->threads, &err);
    CHECK(s == NQ_OK);
    if (s != NQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
        tt_free_all(in, 1);
        return;
    }
    for (int i = 0; i < f->nsp; i++) CHECK(o[0].dims[2 + i] == out[i]);
    CHECK(o[0].dtype == f->dt);
    int64_t I[3] = {1, 1, 1}, O[3] = {1, 1, 1}, K[3] = {1, 1, 1}, S[3] = {1, 1, 1}, D[3] = {1, 1, 1},
            PB[3] = {0, 0, 0}, PE[3] = {0, 0, 0};
    int lead = 3 - f->nsp;
    for (int i = 0; i < f->nsp; i++) {
        I[lead + i] = f->in[i], O[lead + i] = out[i], K[lead + i] = f->k[i];
        S[lead + i] = f->s[i], D[lead + i] = f->d[i], PB[lead + i] = f->pb[i], PE[lead + i] = f->pe[i];
    }
    int64_t ip = I[0] * I[1] * I[2], op = O[0] * O[1] * O[2];
    int bad = 0;
    for (int64_t pl = 0; pl < f->N * f->C && !bad; pl++)
        for (int64_t a = 0; a < O[0]; a++)
            for (int64_t b = 0; b < O[1]; b++)
                for (int64_t c = 0; c < O[2]; c++) {
                    double best = -INFINITY, sum = 0;
                    int64_t cnt = 0, cnt_pad = 0, arg = -1;
                    for (int64_t ka = 0; ka < K[0]; ka++)
                        for (int64_t kb = 0; kb < K[1]; kb++)
                            for (int64_t kc = 0; kc < K[2]; kc++) {
                                int64_t p[3] = {a * S[0] - PB[0] + ka * D[0], b * S[1] - PB[1] + kb * D[1],
                                                c * S[2] - PB[2] + kc * D[2]};
                                int in_pad = 1, in_img = 1;
                                for (int j = 0; j < 3; j++) {
                                    if (p[j] < -PB[j] || p[j] >= I[j] + PE[j]) in_pad = 0;
                                    if (p[j] < 0 || p[j] >= I[j]) in_img = 0;
                                }
                                cnt_pad += in_pad;
                                if (!in_img) continue;
                                int64_t at = (p[0] * I[1] + p[1]) * I[2] + p[2];
                                double v = xget(&in[0], pl * ip + at);
                                sum += v, cnt++;
                                if (arg < 0 || v > best) {
                                    best = v;
                                    arg = f->order ? p[0] + I[0] * (p[1] + I[1] * p[2]) : at;
                                }
                            }
                    int64_t oi = pl * op + (a * O[1] + b) * O[2] + c;
                    int64_t div = f->incl ? cnt_pad : cnt; /* empty windows give 0 */
                    double ref = f->is_max ? best : div ? sum / (double)div : 0.0;
                    double v = nq_tensor_get(&o[0], oi);
                    if (!(fabs(v - ref) <= 1e-5)) bad = 1;
                    if (f->indices && ((int64_t *)o[1].data)[oi] != pl * ip + arg) bad = 2;
                }
    if (bad)
        fprintf(stderr, "nsp=%d max=%d ap=%d ceil=%d incl=%d ind=%d order=%d dt=%d: mismatch %d\n",
                f->nsp, f->is_max, f->autopad, f->ceil, f->incl, f->indices, f->order, (int)f->dt, bad);
    CHECK(!bad);
    tt_free_all(in, 1);
    tt_free_all(o, 2);
}

static void random_case(void)
{
    cfg f;
    memset(&f, 0, sizeof f);
    f.nsp = (int)irand(1, 3);
    f.is_max = (int)irand(0, 1);
    f.N = irand(1, 2), f.C = irand(1, 3);
    f.autopad = irand(0, 3) == 0 ? (int)irand(1, 3) : 0;
    f.ceil = f.autopad == 0 && irand(0, 1);
    f.incl = !f.is_max && irand(0, 1);
    f.threads = (int)irand(1, 2);
    f.dt = NQ_DTYPE_FLOAT32;
    if (f.is_max) {
        f.indices = irand(0, 2) == 0;
        f.order = f.indices && irand(0, 1);
        if (irand(0, 3) == 0) f.dt = irand(0, 1) ? NQ_DTYPE_INT8 : NQ_DTYPE_UINT8;
    }
    for (int i = 0; i < f.nsp; i++) {
        f.in[i] = irand(1, f.nsp == 3 ? 6 : 10);
        f.k[i] = irand(1, 3);
        f.s[i] = irand(1, 3);
        f.d[i] = irand(1, 2);
        f.pb[i] = irand(0, f.k[i] - 1); /* pads smaller than the kernel, as ONNX wants */
        f.pe[i] = irand(0, f.k[i] - 1);
        int64_t span = (f.k[i] - 1) * f.d[i] + 1;
        if (f.in[i] + f.pb[i] + f.pe[i] < span || (f.autopad == 3 && f.in[i] < span))
            f.k[i] = 1, f.d[i] = 1, f.pb[i] = f.pe[i] = 0;
    }
    run_case(&f);
}

/* 2x2 stride-2 max pools (their fast path), odd sizes and ceil mode too. */
static void pool2x2_cases(void)
{
    for (int it = 0; it < 12; it++) {
        cfg f;
        memset(&f, 0, sizeof f);
        f.nsp = 2, f.is_max = 1, f.N = 2, f.C = 3, f.threads = 1 + it % 2, f.ceil = it % 3 == 0;
        f.dt = NQ_DTYPE_FLOAT32;
        for (int i = 0; i < 2; i++) f.in[i] = irand(2, 11), f.k[i] = 2, f.s[i] = 2, f.d[i] = 1;
        run_case(&f);
    }
}

/* test_maxpool_2d_ceil / test_averagepool_2d_ceil: 4x4 of 1..16, k3 s2 ceil. */
static void ceil_example(void)
{
    for (int is_max = 0; is_max <= 1; is_max++) {
        tnode t;
        tn_init(&t, is_max ? "MaxPool" : "AveragePool");
        int64_t k[2] = {3, 3}, s[2] = {2, 2}, xd[4] = {1, 1, 4, 4};
        tn_ints(&t, "kernel_shape", 2, k);
        tn_ints(&t, "strides", 2, s);
        tn_int(&t, "ceil_mode", 1);
        float xv[16];
        for (int i = 0; i < 16; i++) xv[i] = (float)(i + 1);
        nq_tensor in[1], o[1];
        tt_make(&in[0], NQ_DTYPE_FLOAT32, 4, xd, xv);
        nq_error err = {0};
        CHECK_OK(run_op(is_max ? &nq_def_MaxPool : &nq_def_AveragePool, &t.node, 12, 1, in, 0, 1,
                        o, &err));
        static const float emax[4] = {11, 12, 15, 16}, eavg[4] = {6, 7.5f, 12, 13.5f};
        CHECK(o[0].dims[2] == 2 && o[0].dims[3] == 2);
        for (int i = 0; i < 4; i++)
            CHECK_NEAR(((float *)o[0].data)[i], is_max ? emax[i] : eavg[i], 1e-6);
        tt_free_all(in, 1);
        tt_free_all(o, 1);
    }
}

static void global_cases(void)
{
    int64_t shapes[3][5] = {{2, 3, 5, 0, 0}, {1, 3, 5, 5, 0}, {2, 2, 3, 2, 4}};
    for (int s = 0; s < 3; s++)
        for (int is_max = 0; is_max <= 1; is_max++) {
            int nd = 3 + s;
            tnode t;
            tn_init(&t, is_max ? "GlobalMaxPool" : "GlobalAveragePool");
            nq_tensor in[1], o[1];
            tt_make(&in[0], NQ_DTYPE_FLOAT32, nd, shapes[s], NULL);
            int64_t n = nq_tensor_numel(&in[0]), planes = shapes[s][0] * shapes[s][1], per = n / planes;
            for (int64_t i = 0; i < n; i++) ((float *)in[0].data)[i] = tt_rand(&rng, -2, 2);
            nq_error err = {0};
            CHECK_OK(run_op(is_max ? &nq_def_GlobalMaxPool : &nq_def_GlobalAveragePool, &t.node, 1,
                            1, in, 0, 1, o, &err));
            CHECK(o[0].ndim == nd && nq_tensor_numel(&o[0]) == planes);
            for (int d = 2; d < nd; d++) CHECK(o[0].dims[d] == 1);
            for (int64_t p = 0; p < planes; p++) {
                double m = -INFINITY, acc = 0;
                for (int64_t i = 0; i < per; i++) {
                    double v = ((float *)in[0].data)[p * per + i];
                    m = v > m ? v : m, acc += v;
                }
                CHECK_NEAR(((float *)o[0].data)[p], is_max ? m : acc / (double)per, 1e-5);
            }
            tt_free_all(in, 1);
            tt_free_all(o, 1);
        }
}

static void error_cases(void)
{
    tnode t;
    tn_init(&t, "MaxPool");
    int64_t xd[4] = {1, 1, 4, 4}, k[1] = {2};
    tn_ints(&t, "kernel_shape", 1, k); /* wrong count */
    nq_tensor in[1], o[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 4, xd, NULL);
    nq_error err = {0};
    CHECK(run_op(&nq_def_MaxPool, &t.node, 12, 1, in, 0, 1, o, &err) == NQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "kernel_shape") != NULL);
    tnode t2;
    tn_init(&t2, "AveragePool"); /* no kernel_shape */
    CHECK(run_op(&nq_def_AveragePool, &t2.node, 12, 1, in, 0, 1, o, &err) == NQ_ERR_INVALID_ARG);
    tt_free_all(in, 1);
}

int main(void)
{
    for (int it = 0; it < 500; it++) random_case();
    pool2x2_cases();
    ceil_example();
    global_cases();
    error_cases();
    TEST_MAIN_END();
}
