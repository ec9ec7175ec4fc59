/* Helpers shared by backward implementations (include/nnquant/grad.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "train/grad_internal.h"

nq_status nq_grad_fail(const nq_gctx *c, nq_status code, const char *fmt, ...)
{
    char msg[NQ_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const nq_node *n = c->node;
    return nq_error_set(c->err, code, "node '%s' (%s) %s: %s", n && n->name ? n->name : "?",
                        n && n->op_type ? n->op_type : "?",
                        c->dout ? "backward" : "training forward", msg);
}

nq_kctx nq_gctx_kctx(const nq_gctx *c)
{
    nq_kctx k = {
        .node = c->node,
        .opset = c->opset,
        .n_in = c->n_in,
        .in = (const nq_tensor *const *)c->in,
        .n_out = c->n_out,
        .out = c->out,
        .scratch = c->scratch,
        .scratch_size = c->scratch_size,
        .num_threads = c->num_threads,
        .err = c->err,
    };
    return k;
}

/* Recursive walk over g's dims; `di` is the offset into d, `gi` into g. */
static void reduce_rec(const float *g, int ng, const int64_t *gdims, const int64_t *gstride,
                       const int64_t *dstride, int dim, float scale, float *d)
{
    const int64_t n = gdims[dim], ds = dstride[dim], gs = gstride[dim];
    if (dim == ng - 1) {
        if (ds == 0) {
            float acc = 0.0f;
            for (int64_t i = 0; i < n; i++) acc += g[i];
            d[0] += acc * scale;
        } else {
            for (int64_t i = 0; i < n; i++) d[i] += g[i] * scale;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++)
        reduce_rec(g + i * gs, ng, gdims, gstride, dstride, dim + 1, scale, d + i * ds);
}

void nq_grad_reduce_broadcast(const float *g, int ng, const int64_t *gdims, float scale,
                              float *d, int nd, const int64_t *ddims)
{
    if (ng == 0) {
        d[0] += g[0] * scale;
        return;
    }
    int64_t gstride[NQ_MAX_DIMS] = {0}, dstride[NQ_MAX_DIMS] = {0};
    int64_t gs = 1, ds = 1;
    for (int i = ng - 1; i >= 0; i--) {
        gstride[i] = gs;
        gs *= gdims[i];
        int j = i - (ng - nd);
        int64_t dd = j >= 0 ? ddims[j] : 1;
        dstride[i] = dd == 1 ? 0 : ds;
        ds *= dd;
    }
    if (gs == 0) return;
    reduce_rec(g, ng, gdims, gstride, dstride, 0, scale, d);
}

nq_status nq_grad_reserve(const nq_gctx *c, float **buf, int64_t *cap, int64_t n)
{
    if (*cap >= n && *buf != NULL) return NQ_OK;
    free(*buf);
    *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (*buf == NULL) {
        *cap = 0;
        return nq_grad_fail(c, NQ_ERR_NOMEM, "cannot allocate %lld floats", (long long)n);
    }
    *cap = n;
    return NQ_OK;
}

static void expand_rec(const float *s, const int64_t *dims, const int64_t *sstride,
                       const int64_t *dstride, int dim, int nd, float scale, float *d)
{
    const int64_t n = dims[dim], ss = sstride[dim], ds = dstride[dim];
    if (dim == nd - 1) {
        if (ss == 0) {
            const float v = s[0] * scale;
            for (int64_t i = 0; i < n; i++) d[i] += v;
        } else {
            for (int64_t i = 0; i < n; i++) d[i] += s[i] * scale;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++)
        expand_rec(s + i * ss, dims, sstride, dstride, dim + 1, nd, scale, d + i * ds);
}

void nq_grad_expand_add(const float *s, int ns, const int64_t *sdims, float scale, float *d,
                        int nd, const int64_t *ddims)
{
    if (nd == 0) {
        d[0] += s[0] * scale;
        return;
    }
    int64_t sstride[NQ_MAX_DIMS] = {0}, dstride[NQ_MAX_DIMS] = {0};
    int64_t sz = 1, dz = 1;
    for (int i = nd - 1; i >= 0; i--) {
        dstride[i] = dz;
        dz *= ddims[i];
        int j = i - (nd - ns);
        int64_t sd = j >= 0 ? sdims[j] : 1;
        sstride[i] = sd == 1 ? 0 : sz;
        sz *= sd;
    }
    if (dz == 0) return;
    expand_rec(s, ddims, sstride, dstride, 0, nd, scale, d);
}

nq_status nq_grad_pass_through(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0);
    float *d = nq_gd_din(c, 0);
    if (g == NULL || d == NULL) return NQ_OK;
    const int64_t n = nq_tensor_numel(c->din[0]);
    if (n != nq_tensor_numel(c->dout[0]))
        return nq_grad_fail(c, NQ_ERR_INTERNAL, "input and output sizes differ");
    for (int64_t i = 0; i < n; i++) d[i] += g[i];
    return NQ_OK;
}
