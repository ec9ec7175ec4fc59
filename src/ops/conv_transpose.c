/* ConvTranspose (opset 1..22 forms), float32, 1-D/2-D/3-D, groups.
 * X [N, C, in...], W [C, M/group, k...], B [M] -> Y [N, M, out...].
 * Per image and group: columns = W_g^T X_g (one GEMM), then col2im adds
 * every column into Y (the adjoint of the im2col of a Conv from Y to X). */
#include <string.h>

#include "nnquant/kernels.h"
#include "ops/window.h"

#ifdef NQ_HAVE_OPENMP
#include <omp.h>
#endif

typedef struct convt_plan {
    nq_conv_geom g; /* g.in = Y's spatial dims, g.out = X's (the Conv it is the adjoint of) */
    int64_t N, C, M, group, Cg, Mg, kprod, x_plane, y_plane;
    int threads;
    size_t slice; /* scratch bytes per thread */
} convt_plan;

/* Reads an optional INTS attribute of nsp values (or nsp + 2 for
 * output_shape, whose leading N, C are then ignored). */
static nq_status read_opt(const nq_kctx *c, const char *name, int nsp, int64_t *out, int *found)
{
    const int64_t *v;
    int n = nq_node_attr_ints(c->node, name, &v);
    *found = n > 0;
    if (n == 0) return NQ_OK;
    if (n == nsp + 2 && strcmp(name, "output_shape") == 0) v += 2, n -= 2;
    if (n != nsp)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "attribute %s has %d values, expected %d", name, n,
                            nsp);
    for (int i = 0; i < nsp; i++) {
        if (v[i] < 0)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "attribute %s[%d] is negative", name, i);
        out[i] = v[i];
    }
    return NQ_OK;
}

static int64_t floor_div2(int64_t a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

static nq_status geometry(const nq_kctx *c, const nq_tensor *x, const nq_tensor *w, nq_conv_geom *g)
{
    nq_auto_pad ap;
    int nsp = x->ndim - 2;
    nq_status st = nq_window_read(c, nsp, x->dims + 2, w->dims + 2, g, &ap);
    if (st) return st;
    int64_t opad[NQ_MAX_SPATIAL] = {0}, oshape[NQ_MAX_SPATIAL] = {0};
    int has_opad, has_oshape;
    if ((st = read_opt(c, "output_padding", nsp, opad, &has_opad)) ||
        (st = read_opt(c, "output_shape", nsp, oshape, &has_oshape)))
        return st;
    for (int i = 0; i < nsp; i++) {
        const int64_t in = x->dims[2 + i], s = g->stride[i];
        const int64_t span = (g->kernel[i] - 1) * g->dilation[i] + 1;
        const int64_t full = s * (in - 1) + opad[i] + span;
        int64_t out;
        if (has_oshape || ap == NQ_AUTO_PAD_SAME_UPPER || ap == NQ_AUTO_PAD_SAME_LOWER) {
            out = has_oshape ? oshape[i] : in * s;
            int64_t total = full - out; /* negative when the output is larger */
            g->pad_begin[i] =
                ap == NQ_AUTO_PAD_SAME_UPPER ? floor_div2(total) : total - floor_div2(total);
            g->pad_end[i] = total - g->pad_begin[i];
        } else {
            if (ap == NQ_AUTO_PAD_VALID) g->pad_begin[i] = g->pad_end[i] = 0;
            out = full - g->pad_begin[i] - g->pad_end[i];
        }
        if (out < 1)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "empty output along spatial axis %d (size %lld)",
                                i, (long long)out);
        /* As a Conv from Y to X: Y is the "input", X the "output". */
        g->out[i] = in;
        g->in[i] = out;
    }
    return NQ_OK;
}

static nq_status plan_make(const nq_kctx *c, convt_plan *p)
{
    memset(p, 0, sizeof *p);
    if (c->n_in < 2 || !c->in[0] || !c->in[1])
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs inputs X and W");
    const nq_tensor *x = c->in[0], *w = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
    if (x->dtype != NQ_DTYPE_FLOAT32 || w->dtype != NQ_DTYPE_FLOAT32 ||
        (b && b->dtype != NQ_DTYPE_FLOAT32))
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "only float32 inputs are supported");
    if (x->ndim < 3 || w->ndim != x->ndim)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "input X (rank %d) and weight W (rank %d) must have "
                            "the same rank >= 3", x->ndim, w->ndim);
    p->N = x->dims[0];
    p->C = x->dims[1];
    p->group = nq_node_attr_int(c->node, "group", 1);
    if (p->group < 1 || p->C % p->group != 0)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "group %lld must divide input channels %lld",
                            (long long)p->group, (long long)p->C);
    if (w->dims[0] != p->C)
        return nq_kctx_fail(c, NQ_ERR_SHAPE,
                            "channel mismatch: input has %lld channels, weight W has %lld",
                            (long long)p->C, (long long)w->dims[0]);
    p->Cg = p->C / p->group;
    p->Mg = w->dims[1];
    p->M = p->Mg * p->group;
    if (b && (b->ndim != 1 || b->dims[0] != p->M))
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "bias B must have shape [%lld]", (long long)p->M);
    nq_status st = geometry(c, x, w, &p->g);
    if (st) return st;
    p->kprod = p->x_plane = p->y_plane = 1;
    for (int i = 0; i < p->g.nsp; i++) {
        p->kprod *= p->g.kernel[i];
        p->x_plane *= p->g.out[i];
        p->y_plane *= p->g.in[i];
    }
    int threads = c->num_threads < 1 ? 1 : c->num_threads;
#ifndef NQ_HAVE_OPENMP
    threads = 1;
#endif
    p->threads = p->N < threads ? (int)(p->N > 0 ? p->N : 1) : threads;
    p->slice = ((size_t)(p->Mg * p->kprod * p->x_plane) * sizeof(float) + 63) / 64 * 64;
    return NQ_OK;
}

static nq_status convt_infer(nq_kctx *c)
{
    convt_plan p;
    nq_status st = plan_make(c, &p);
    if (st) return st;
    if (c->n_out < 1 || !c->out[0]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs output Y");
    int64_t dims[2 + NQ_MAX_SPATIAL] = {p.N, p.M};
    for (int i = 0; i < p.g.nsp; i++) dims[2 + i] = p.g.in[i];
    return nq_tensor_init(c->out[0], NQ_DTYPE_FLOAT32, 2 + p.g.nsp, dims, c->err);
}

static size_t convt_scratch(const nq_kctx *c)
{
    convt_plan p;
    if (plan_make(c, &p) != NQ_OK) return 0;
    return p.slice * (size_t)p.threads;
}

static void convt_image(const convt_plan *p, const float *x, const float *w, const float *bias,
                        float *y, float *col, int gemm_threads)
{
    const int64_t rows = p->Mg * p->kprod;
    for (int64_t m = 0; m < p->M; m++) {
        float v = bias ? bias[m] : 0.0f;
        for (int64_t i = 0; i < p->y_plane; i++) y[m * p->y_plane + i] = v;
    }
    for (int64_t gi = 0; gi < p->group; gi++) {
        nq_sgemm(1, 0, rows, p->x_plane, p->Cg, 1.0f, w + gi * p->Cg * rows, rows,
                 x + gi * p->Cg * p->x_plane, p->x_plane, 0.0f, col, p->x_plane, gemm_threads);
        nq_col2im_add_f32(&p->g, p->Mg, col, y + gi * p->Mg * p->y_plane);
    }
}

static nq_status convt_forward(nq_kctx *c)
{
    convt_plan p;
    nq_status st = plan_make(c, &p);
    if (st) return st;
    if (p.slice * (size_t)p.threads > c->scratch_size)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "scratch of %zu bytes, %zu needed",
                            c->scratch_size, p.slice * (size_t)p.threads);
    const float *x = c->in[0]->data, *w = c->in[1]->data;
    const float *bias = c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL;
    float *y = c->out[0]->data;
    char *scratch = c->scratch;
    if (p.threads <= 1) {
        for (int64_t n = 0; n < p.N; n++)
            convt_image(&p, x + n * p.C * p.x_plane, w, bias, y + n * p.M * p.y_plane,
                        (float *)scratch, c->num_threads);
        return NQ_OK;
    }
#ifdef NQ_HAVE_OPENMP
#pragma omp parallel for num_threads(p.threads) schedule(static)
    for (int64_t n = 0; n < p.N; n++)
        convt_image(&p, x + n * p.C * p.x_plane, w, bias, y + n * p.M * p.y_plane,
                    (float *)(scratch + p.slice * (size_t)omp_get_thread_num()), 1);
#endif
    return NQ_OK;
}

const nq_op_def nq_def_ConvTranspose = {.name = "ConvTranspose", .infer = convt_infer,
                                        .forward = convt_forward, .scratch = convt_scratch};
