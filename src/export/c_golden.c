/* Golden vectors of a C export: nnquant's runtime (nq_session_run, what
 * `nnquant run` does) on the golden inputs, with an observer catching the
 * integer input of model_run (the input Quantizer's output) and the
 * integer outputs (before any trailing dequantization). Samples run in
 * chunks so that the runtime's arena stays small. */
#include <stdlib.h>
#include <string.h>

#include "export/c_internal.h"
#include "nnquant/run.h"

enum { CX_GOLDEN_CHUNK = 100 };

typedef struct cx_catch {
    const char *name[CX_MAX_OUTPUTS + 1]; /* values to catch: input, outputs */
    nq_tensor *dst[CX_MAX_OUTPUTS + 1];
    int n;
    int64_t start;                        /* first sample of the chunk */
    int64_t got[CX_MAX_OUTPUTS + 1];      /* samples caught in this chunk */
} cx_catch;

static int observe(void *user, const nq_graph *g, const nq_node *node, int value,
                   const nq_tensor *t)
{
    (void)node;
    cx_catch *c = user;
    for (int k = 0; k < c->n; k++) {
        if (strcmp(g->values[value]->name, c->name[k]) != 0) continue;
        nq_tensor *d = c->dst[k];
        const int64_t per = nq_tensor_numel(d) / (d->dims[0] ? d->dims[0] : 1);
        const int64_t n = t->ndim > 0 ? t->dims[0] : 1;
        if (t->dtype != d->dtype || nq_tensor_numel(t) != per * n || c->start + n > d->dims[0])
            return 1;
        const size_t es = nq_dtype_size(d->dtype);
        memcpy((char *)d->data + (size_t)(c->start * per) * es, t->data, (size_t)(per * n) * es);
        c->got[k] = n;
    }
    return 0;
}

/* out = [n, dims of v without its batch] of v's dtype. */
static nq_status alloc_like(const nq_value *v, nq_dtype dt, int64_t n, nq_tensor *out,
                            nq_error *err)
{
    int64_t dims[NQ_MAX_DIMS];
    int nd = v->ndim < 1 ? 1 : v->ndim;
    dims[0] = n;
    for (int d = 1; d < nd; d++) dims[d] = v->dims[d];
    return nq_tensor_alloc(out, dt, nd, dims, err);
}

nq_status cx_golden_run(const cx_plan *p, const nq_graph *g, const nq_tensor *in,
                        int num_threads, nq_tensor *q_in, nq_tensor *q_out, nq_tensor *f_out,
                        nq_error *err)
{
    const nq_graph *pg = p->g;
    const nq_value *gin = pg->values[p->graph_in];
    const int64_t per = cx_numel(gin); /* batch 1 */
    const int64_t N = in->ndim > 0 ? in->dims[0] : 1;
    if (in->dtype != gin->dtype || N < 1 || nq_tensor_numel(in) != N * per)
        return nq_error_set(err, NQ_ERR_SHAPE,
                            "golden input: %s data of %lld values for %lld sample(s); the model "
                            "takes %s samples of %lld values",
                            nq_dtype_name(in->dtype), (long long)nq_tensor_numel(in),
                            (long long)N, nq_dtype_name(gin->dtype), (long long)per);
    cx_catch c;
    memset(&c, 0, sizeof c);
    nq_status st = alloc_like(pg->values[p->in_value], pg->values[p->in_value]->dtype, N, q_in, err);
    c.name[0] = pg->values[p->in_value]->name;
    c.dst[0] = q_in;
    c.n = 1;
    for (int k = 0; k < p->n_out && st == NQ_OK; k++) {
        const nq_value *qv = pg->values[p->out_value[k]], *fv = pg->values[p->graph_out[k]];
        st = alloc_like(qv, qv->dtype, N, &q_out[k], err);
        if (st == NQ_OK) st = alloc_like(fv, fv->dtype, N, &f_out[k], err);
        c.name[c.n] = qv->name;
        c.dst[c.n++] = &q_out[k];
    }
    nq_session *s = NULL;
    nq_session_opts so = {num_threads};
    if (st == NQ_OK) st = nq_session_create(g, &so, &s, err);
    if (st == NQ_OK) st = nq_session_add_observer(s, observe, &c, err);
    const size_t ies = nq_dtype_size(in->dtype);
    for (int64_t b = 0; b < N && st == NQ_OK; b += CX_GOLDEN_CHUNK) {
        const int64_t n = N - b < CX_GOLDEN_CHUNK ? N - b : CX_GOLDEN_CHUNK;
        nq_tensor x = {0}, y[CX_MAX_OUTPUTS];
        memset(y, 0, sizeof y);
        x.dtype = in->dtype;
        x.ndim = gin->ndim;
        memcpy(x.dims, gin->dims, sizeof x.dims);
        x.dims[0] = n;
        x.data = (char *)in->data + (size_t)(b * per) * ies;
        c.start = b;
        memset(c.got, 0, sizeof c.got);
        st = nq_session_run(s, &x, 1, y, p->n_out, err);
        for (int k = 0; k < c.n && st == NQ_OK; k++)
            if (c.got[k] != n && !(k == 0 && !p->has_in_quant))
                st = nq_error_set(err, NQ_ERR_INTERNAL, "golden run: value '%s' not observed",
                                  c.name[k]);
        if (st == NQ_OK && !p->has_in_quant)
            memcpy((char *)q_in->data + (size_t)(b * per) * ies, x.data, (size_t)(n * per) * ies);
        for (int k = 0; k < p->n_out; k++) {
            if (st == NQ_OK) {
                const size_t es = nq_dtype_size(f_out[k].dtype), pk = nq_tensor_numel(&y[k]);
                if (y[k].dtype != f_out[k].dtype ||
                    (int64_t)pk * N != nq_tensor_numel(&f_out[k]) * n)
                    st = nq_error_set(err, NQ_ERR_INTERNAL, "golden run: output %d shape", k);
                else
                    memcpy((char *)f_out[k].data + (size_t)b * (pk / (size_t)n) * es, y[k].data,
                           pk * es);
            }
            nq_tensor_free(&y[k]);
        }
    }
    nq_session_free(s);
    return st;
}

/* A fixed 32-bit LCG (Numerical Recipes constants): the same inputs on
 * every machine. */
static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s;
}

nq_status cx_golden_synth(const cx_plan *p, int64_t n, nq_tensor *out, nq_error *err)
{
    const nq_value *gin = p->g->values[p->graph_in];
    nq_status st = alloc_like(gin, gin->dtype, n, out, err);
    if (st) return st;
    const int64_t total = nq_tensor_numel(out);
    uint32_t seed = 1;
    int64_t tmin = 0, tmax = 0;
    if (!p->has_in_quant) nq_dtype_int_range(gin->dtype, &tmin, &tmax);
    for (int64_t i = 0; i < total; i++) {
        const double u = (double)(lcg(&seed) >> 8) / 16777216.0; /* [0, 1) */
        if (p->has_in_quant) {
            const double lo = p->in_lo / (double)p->in_scale, hi = p->in_hi / (double)p->in_scale;
            ((float *)out->data)[i] = (float)(lo + (hi - lo) * u);
        } else {
            nq_tensor_set(out, i, (double)tmin + (double)(tmax - tmin + 1) * u - 0.5);
        }
    }
    return NQ_OK;
}
