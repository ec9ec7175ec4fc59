/* Helpers shared by operator implementations. */
#include <stdarg.h>
#include <stdio.h>

#include "nnquant/ops.h"

nq_status nq_kctx_fail(const nq_kctx *c, nq_status code, const char *fmt, ...)
{
    char msg[NQ_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const nq_node *n = c->node;
    return nq_error_set(c->err, code, "node '%s' (%s): %s",
                        n && n->name ? n->name : "?", n && n->op_type ? n->op_type : "?", msg);
}

void nq_kctx_epilogues(const nq_kctx *c, float *y, int64_t p0, int64_t p1)
{
    for (int k = 0; k < c->n_epi; k++) c->epi[k].def->apply(&c->epi[k].c, y, p0, p1);
}

int64_t nq_plane_size(const nq_tensor *t)
{
    int64_t n = 1;
    for (int i = 2; i < t->ndim; i++) n *= t->dims[i];
    return n;
}

nq_status nq_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b,
                             int *nout, int64_t *out)
{
    int n = na > nb ? na : nb;
    if (n > NQ_MAX_DIMS) return NQ_ERR_SHAPE;
    for (int i = 0; i < n; i++) {
        int64_t da = i < n - na ? 1 : a[i - (n - na)];
        int64_t db = i < n - nb ? 1 : b[i - (n - nb)];
        if (da == db || db == 1) out[i] = da;
        else if (da == 1) out[i] = db;
        else return NQ_ERR_SHAPE;
    }
    *nout = n;
    return NQ_OK;
}

int nq_norm_axis(int64_t axis, int rank)
{
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return -1;
    return (int)axis;
}

int nq_tensor_to_i64(const nq_tensor *t, int64_t *out, int max)
{
    if (t == NULL || t->data == NULL) return -1;
    int64_t n = nq_tensor_numel(t);
    if (n > max) return -1;
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case NQ_DTYPE_INT64: out[i] = ((const int64_t *)t->data)[i]; break;
        case NQ_DTYPE_INT32: out[i] = ((const int32_t *)t->data)[i]; break;
        default: return -1;
        }
    }
    return (int)n;
}
