/* Finite-difference check of one node's backward (include/nnquant/grad.h),
 * for tests/test_grad_*.c (and the QAT operators' tests).
 *
 * The node (a tnode from ops_testutil.h) runs forward as the trainer runs
 * it (forward_train when the op has one, else the inference forward), with
 * the loss L = sum_i r_i * y0_i (output 0 only; r fixed pseudo-random in
 * [-1, 1], accumulated in double). The analytic gradient of every input
 * whose bit is set in grad_mask (backward called with dout[0] = r, din
 * zeroed) is compared with the central difference (L(x+eps) - L(x-eps)) /
 * (2 eps) on up to max_elems elements of each input (evenly spread):
 *   |analytic - fd| <= atol + rtol * max(|analytic|, |fd|).
 * Inputs whose bit is set in `known` are visible to infer() (constants:
 * shapes, axes, Clip bounds). Returns the number of mismatches (printed
 * with `label`). */
#ifndef NQ_GRAD_TESTUTIL_H
#define NQ_GRAD_TESTUTIL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/grad.h"
#include "ops_testutil.h"

typedef struct gt_opts {
    double eps, atol, rtol;
    int max_elems;   /* per input; 0 = all */
    int64_t step;    /* nq_gctx.step passed to forward_train and backward */
    int threads;
    const nq_grad_def *gdef; /* NULL: the registry's entry for the op */
} gt_opts;

static inline gt_opts gt_default_opts(void)
{
    gt_opts o = {1e-2, 2e-3, 1e-2, 0, 1, 1, NULL};
    return o;
}

typedef struct gt_run {
    const nq_node *node;
    const nq_op_def *def;
    const nq_grad_def *gdef;
    int64_t opset;
    int n_in, n_out;
    nq_tensor *in;
    unsigned known;
    nq_tensor out[8];
    int out_present[8];
    void *state;
    void *scratch;
    size_t scratch_size;
    const gt_opts *o;
    nq_error err;
} gt_run;

static inline void gt_ptrs(gt_run *r, nq_tensor **inp, nq_tensor *shape_only, int data)
{
    for (int i = 0; i < r->n_in; i++) {
        inp[i] = NULL;
        if (r->in[i].dtype == NQ_DTYPE_UNDEFINED) continue;
        shape_only[i] = r->in[i];
        shape_only[i].owns_data = 0;
        if (!data && !(r->known & (1u << i))) shape_only[i].data = NULL;
        inp[i] = &shape_only[i];
    }
}

/* Forward pass; returns L = sum r * y0 (r from `rvec`), or NAN on failure. */
static inline double gt_forward(gt_run *r, const float *rvec)
{
    nq_tensor shape_only[8], *inp[8], *outp[8] = {0};
    gt_ptrs(r, inp, shape_only, 0);
    for (int k = 0; k < r->n_out; k++) {
        if (!r->out_present[k]) continue;
        nq_tensor_free(&r->out[k]);
        memset(&r->out[k], 0, sizeof r->out[k]);
        outp[k] = &r->out[k];
    }
    nq_kctx kc = {.node = r->node, .opset = r->opset, .n_in = r->n_in,
                  .in = (const nq_tensor *const *)inp, .n_out = r->n_out, .out = outp,
                  .num_threads = r->o->threads, .err = &r->err};
    if (r->def->infer(&kc) != NQ_OK) return NAN;
    for (int k = 0; k < r->n_out; k++) {
        if (!outp[k]) continue;
        nq_tensor sh = r->out[k];
        if (nq_tensor_alloc(&r->out[k], sh.dtype, sh.ndim, sh.dims, &r->err) != NQ_OK) return NAN;
    }
    gt_ptrs(r, inp, shape_only, 1);
    nq_gctx gc = {r->node, r->opset, r->n_in, inp, r->n_out, outp, NULL, NULL, &r->state,
                  r->o->step, NULL, 0, r->o->threads, &r->err};
    size_t need = r->def->scratch ? r->def->scratch(&kc) : 0;
    size_t gneed = r->gdef->scratch ? r->gdef->scratch(&gc) : 0;
    if (gneed > need) need = gneed;
    if (need > r->scratch_size) {
        free(r->scratch);
        r->scratch = aligned_alloc(64, (need + 63) / 64 * 64);
        r->scratch_size = need;
    }
    kc.scratch = gc.scratch = r->scratch;
    kc.scratch_size = gc.scratch_size = r->scratch_size;
    nq_status s = r->gdef->forward_train ? r->gdef->forward_train(&gc) : r->def->forward(&kc);
    if (s != NQ_OK) return NAN;
    double L = 0.0;
    const float *y = r->out[0].data;
    for (int64_t i = 0; i < nq_tensor_numel(&r->out[0]); i++) L += (double)rvec[i] * y[i];
    return L;
}

static inline int gt_check(const nq_node *node, int64_t opset, int n_in, nq_tensor *in,
                           unsigned known, unsigned grad_mask, int n_out, const gt_opts *o,
                           const char *label)
{
    gt_run r;
    memset(&r, 0, sizeof r);
    int op = nq_op_find(node->domain, node->op_type);
    r.node = node;
    r.def = nq_op_get(op);
    r.gdef = o->gdef ? o->gdef : nq_grad_get(op);
    if (r.def == NULL || r.gdef == NULL) {
        fprintf(stderr, "%s: no op or no backward for %s\n", label, node->op_type);
        return 1;
    }
    r.opset = opset;
    r.n_in = n_in;
    r.n_out = n_out;
    r.in = in;
    r.known = known;
    r.o = o;
    for (int k = 0; k < n_out; k++) r.out_present[k] = 1;
    /* first forward only to learn the output size */
    float *rvec = NULL;
    unsigned seed = 12345u;
    nq_tensor shape_only[8], *inp[8], *outp[8] = {0};
    gt_ptrs(&r, inp, shape_only, 0);
    for (int k = 0; k < n_out; k++) outp[k] = &r.out[k];
    nq_kctx kc = {.node = node, .opset = opset, .n_in = n_in, .in = (const nq_tensor *const *)inp,
                  .n_out = n_out, .out = outp, .num_threads = 1, .err = &r.err};
    if (r.def->infer(&kc) != NQ_OK) {
        fprintf(stderr, "%s: infer failed: %s\n", label, r.err.msg);
        return 1;
    }
    int64_t ny = nq_tensor_numel(&r.out[0]);
    rvec = malloc(sizeof(float) * (size_t)(ny + 1));
    for (int64_t i = 0; i < ny; i++) rvec[i] = tt_rand(&seed, -1.0f, 1.0f);
    int fails = 0;
    double L0 = gt_forward(&r, rvec);
    if (isnan(L0)) {
        fprintf(stderr, "%s: forward failed: %s\n", label, r.err.msg);
        fails = 1;
        goto done;
    }
    /* backward */
    nq_tensor din[8], dout0;
    memset(din, 0, sizeof din);
    nq_tensor *dinp[8] = {0};
    const nq_tensor *doutp[8] = {0};
    tt_make(&dout0, NQ_DTYPE_FLOAT32, r.out[0].ndim, r.out[0].dims, rvec);
    doutp[0] = &dout0;
    for (int i = 0; i < n_in; i++)
        if ((grad_mask & (1u << i)) && in[i].dtype == NQ_DTYPE_FLOAT32) {
            tt_make(&din[i], NQ_DTYPE_FLOAT32, in[i].ndim, in[i].dims, NULL);
            dinp[i] = &din[i];
        }
    gt_ptrs(&r, inp, shape_only, 1);
    for (int k = 0; k < n_out; k++) outp[k] = &r.out[k];
    nq_gctx gc = {node, opset, n_in, inp, n_out, outp, doutp, dinp, &r.state, o->step,
                  r.scratch, r.scratch_size, o->threads, &r.err};
    if (r.gdef->backward(&gc) != NQ_OK) {
        fprintf(stderr, "%s: backward failed: %s\n", label, r.err.msg);
        fails = 1;
    }
    for (int i = 0; i < n_in && !fails; i++) {
        if (!dinp[i]) continue;
        const int64_t n = nq_tensor_numel(&in[i]);
        const int64_t count = o->max_elems > 0 && n > o->max_elems ? o->max_elems : n;
        float *x = in[i].data;
        const float *ga = din[i].data;
        double worst = 0.0;
        for (int64_t s = 0; s < count; s++) {
            const int64_t j = count == n ? s : s * n / count;
            const float x0 = x[j];
            x[j] = (float)(x0 + o->eps);
            double lp = gt_forward(&r, rvec);
            x[j] = (float)(x0 - o->eps);
            double lm = gt_forward(&r, rvec);
            const double h = (double)(float)(x0 + o->eps) - (double)(float)(x0 - o->eps);
            x[j] = x0;
            const double fd = (lp - lm) / h, a = ga[j];
            const double err = fabs(a - fd), tol = o->atol + o->rtol * fmax(fabs(a), fabs(fd));
            if (err > worst) worst = err;
            if (!(err <= tol)) {
                if (fails < 5)
                    fprintf(stderr, "%s: input %d element %lld: analytic %.6g, finite difference %.6g\n",
                            label, i, (long long)j, a, fd);
                fails++;
            }
        }
        (void)worst;
    }
    nq_tensor_free(&dout0);
    for (int i = 0; i < n_in; i++) nq_tensor_free(&din[i]);
done:
    for (int k = 0; k < n_out; k++) nq_tensor_free(&r.out[k]);
    if (r.state) {
        if (r.gdef->state_free) r.gdef->state_free(r.state);
        else free(r.state);
    }
    free(r.scratch);
    free(rvec);
    return fails;
}

/* Fills a float tensor with pseudo-random values in [lo, hi). */
static inline void gt_fill(nq_tensor *t, unsigned *seed, float lo, float hi)
{
    float *p = t->data;
    for (int64_t i = 0; i < nq_tensor_numel(t); i++) p[i] = tt_rand(seed, lo, hi);
}

/* Fills with distinct values, shuffled, spaced by `gap` (for max-like ops
 * and kinks: no two elements within the finite-difference step). */
static inline void gt_fill_distinct(nq_tensor *t, unsigned *seed, float gap)
{
    float *p = t->data;
    const int64_t n = nq_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) p[i] = ((float)i - (float)n / 2.0f) * gap;
    for (int64_t i = n - 1; i > 0; i--) {
        *seed = *seed * 1664525u + 1013904223u;
        int64_t j = (int64_t)((*seed >> 8) % (unsigned)(i + 1));
        float tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
}
#endif
