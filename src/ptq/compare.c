/* Per-layer SQNR between a float model and its quantized version. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/run.h"
#include "ptq/ptq_internal.h"

#define NQ_ATTR_DEQUANT "quantization.ptq.dequant"

typedef struct layer_map {
    int qvalue;           /* scaling quantizer output in quant */
    int fvalue;           /* the same activation in flt */
    double dequant;       /* integer -> float units */
    int relu;             /* unsigned output (sign optimization) or read only by Relu:
                           * compare max(x, 0) with max(q, 0) */
    nq_tensor ref;        /* the float activation of the current batch */
} layer_map;

typedef struct cmp_state {
    layer_map *map;
    int n;
    int *by_fvalue, *by_qvalue; /* value id -> map index or -1 */
    nq_layer_sqnr *out;
    nq_status status;
    nq_error *err;
} cmp_state;

static int observe_float(void *user, const nq_graph *g, const nq_node *node, int v, const nq_tensor *t)
{
    (void)g;
    (void)node;
    cmp_state *st = user;
    int k = st->by_fvalue[v];
    if (k < 0) return 0;
    nq_tensor_free(&st->map[k].ref);
    st->status = nq_tensor_copy(&st->map[k].ref, t, st->err);
    return st->status != NQ_OK;
}

static int observe_quant(void *user, const nq_graph *g, const nq_node *node, int v, const nq_tensor *t)
{
    (void)g;
    (void)node;
    cmp_state *st = user;
    int k = st->by_qvalue[v];
    if (k < 0) return 0;
    layer_map *m = &st->map[k];
    if (m->ref.data == NULL || nq_tensor_numel(&m->ref) != nq_tensor_numel(t)) return 0;
    double s = 0, e = 0;
    for (int64_t i = 0; i < nq_tensor_numel(t); i++) {
        double x = nq_tensor_get(&m->ref, i), q = nq_tensor_get(t, i) * m->dequant;
        if (m->relu) { /* the Relu after it is folded into the range */
            x = x < 0 ? 0 : x;
            q = q < 0 ? 0 : q;
        }
        s += x * x;
        e += (x - q) * (x - q);
    }
    st->out[k].signal += s;
    st->out[k].noise += e;
    return 0;
}

void nq_compare_result_free(nq_compare_result *r)
{
    free(r->layers);
    memset(r, 0, sizeof *r);
}

static nq_status run_batches(const nq_graph *flt, const nq_graph *quant, const nq_dataset *d, int64_t batch,
                             int num_threads, cmp_state *st, nq_compare_result *out, nq_error *err)
{
    nq_session_opts so = {.num_threads = num_threads};
    nq_session *fs = NULL, *qs = NULL;
    nq_status s = nq_session_create(flt, &so, &fs, err);
    if (s == NQ_OK) s = nq_session_create(quant, &so, &qs, err);
    if (s == NQ_OK) s = nq_session_add_observer(fs, observe_float, st, err);
    if (s == NQ_OK) s = nq_session_add_observer(qs, observe_quant, st, err);
    const nq_value *in = flt->values[flt->inputs[0]];
    for (int64_t start = 0; s == NQ_OK && start < d->n; start += batch) {
        int64_t count = d->n - start < batch ? d->n - start : batch;
        nq_tensor x = {0}, yf = {0}, yq = {0};
        s = nq_dataset_batch(d, start, count, in->ndim, in->dims, &x, err);
        int k = st->by_fvalue[flt->inputs[0]];
        if (s == NQ_OK && k >= 0) { /* observers see node outputs only: the input by hand */
            nq_tensor_free(&st->map[k].ref);
            s = nq_tensor_copy(&st->map[k].ref, &x, err);
        }
        if (s == NQ_OK) s = nq_session_run(fs, &x, 1, &yf, 1, err);
        if (s == NQ_OK) s = nq_session_run(qs, &x, 1, &yq, 1, err);
        if (s == NQ_OK && yf.ndim == 2 && yq.ndim == 2 && yf.dims[0] == count && yq.dims[0] == count)
            for (int64_t i = 0; i < count; i++) {
                int64_t a = nq_argmax(&yf, i * yf.dims[1], yf.dims[1]);
                int64_t b = nq_argmax(&yq, i * yq.dims[1], yq.dims[1]);
                out->agree += a == b;
                if (d->labels) {
                    out->float_correct += a == d->labels[start + i];
                    out->quant_correct += b == d->labels[start + i];
                }
            }
        out->samples += count;
        nq_tensor_free(&x);
        nq_tensor_free(&yf);
        nq_tensor_free(&yq);
        if (s != NQ_OK && st->status != NQ_OK) s = st->status;
    }
    nq_session_free(fs);
    nq_session_free(qs);
    return s;
}

static nq_status compare_prepared(const nq_graph *flt, const nq_graph *quant, const nq_dataset *d,
                                  int64_t batch, int num_threads, nq_compare_result *out, nq_error *err);

nq_status nq_compare_layers(const nq_graph *flt, const nq_graph *quant, const nq_dataset *d, int64_t batch,
                            int num_threads, nq_compare_result *out, nq_error *err)
{
    /* compare against the float model as PTQ sees it (BatchNorm folded into
     * the convolutions, equalized when the quantized model was), so that the
     * same names hold the same activations */
    nq_graph *prepared = NULL;
    memset(out, 0, sizeof *out);
    nq_status s = nq_graph_clone(flt, &prepared, err);
    if (s == NQ_OK) s = nq_prepare_network(prepared, err);
    const char *cle = nq_graph_meta(quant, NQ_META_CLE_DELTA); /* equalized channels too */
    if (s == NQ_OK && cle != NULL) s = nq_cross_layer_equalization(prepared, atof(cle), NULL, err);
    if (s == NQ_OK) s = compare_prepared(prepared, quant, d, batch, num_threads, out, err);
    nq_graph_free(prepared);
    return s;
}

static nq_status compare_prepared(const nq_graph *flt, const nq_graph *quant, const nq_dataset *d,
                                  int64_t batch, int num_threads, nq_compare_result *out, nq_error *err)
{
    if (flt->n_inputs != 1 || quant->n_inputs != 1 || flt->n_outputs < 1 || quant->n_outputs < 1)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "compare needs models with one input and one output");
    cmp_state st = {0};
    st.err = err;
    st.map = calloc((size_t)quant->n_nodes + 1, sizeof(layer_map));
    st.by_fvalue = malloc(sizeof(int) * (size_t)(flt->n_values + 1));
    st.by_qvalue = malloc(sizeof(int) * (size_t)(quant->n_values + 1));
    nq_status s = st.map && st.by_fvalue && st.by_qvalue ? NQ_OK : nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int v = 0; s == NQ_OK && v < flt->n_values; v++) st.by_fvalue[v] = -1;
    for (int v = 0; s == NQ_OK && v < quant->n_values; v++) st.by_qvalue[v] = -1;
    for (int i = 0; s == NQ_OK && i < quant->n_nodes; i++) {
        const nq_node *q = quant->nodes[i];
        if (!nq_ptq_is_scaling(q) || nq_node_attr(q, NQ_ATTR_DEQUANT) == NULL) continue;
        int fv = nq_graph_find_value(flt, nq_node_attr_string(q, NQ_ATTR_SOURCE, quant->values[q->inputs[0]]->name));
        if (fv < 0 || st.by_fvalue[fv] >= 0) continue;
        layer_map *m = &st.map[st.n];
        m->qvalue = q->outputs[0];
        m->fvalue = fv;
        m->dequant = nq_node_attr_float(q, NQ_ATTR_DEQUANT, 1.0f);
        m->relu = nq_node_attr_float(q, "clip_min", -1.0f) >= 0.0f ||
                  nq_ptq_consumers_all(quant, q->outputs[0], "Relu");
        st.by_fvalue[fv] = st.n;
        st.by_qvalue[m->qvalue] = st.n++;
    }
    out->layers = calloc((size_t)st.n + 1, sizeof(nq_layer_sqnr));
    if (s == NQ_OK && out->layers == NULL) s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    st.out = out->layers;
    out->n_layers = st.n;
    for (int k = 0; s == NQ_OK && k < st.n; k++) {
        snprintf(out->layers[k].name, sizeof out->layers[k].name, "%s", flt->values[st.map[k].fvalue]->name);
        const nq_node *q = quant->values[st.map[k].qvalue]->producer;
        snprintf(out->layers[k].dtype, sizeof out->layers[k].dtype, "%s",
                 nq_node_attr_string(q, "quantization.ptq.dtype", nq_node_attr_string(q, "to", "?")));
    }
    if (s == NQ_OK) s = run_batches(flt, quant, d, batch > 0 ? batch : 64, num_threads, &st, out, err);
    for (int k = 0; k < st.n; k++) {
        nq_layer_sqnr *l = &out->layers[k];
        l->sqnr_db = l->noise > 0 ? 10.0 * log10(l->signal / l->noise) : INFINITY;
        nq_tensor_free(&st.map[k].ref);
    }
    free(st.map);
    free(st.by_fvalue);
    free(st.by_qvalue);
    if (s != NQ_OK) nq_compare_result_free(out);
    return s;
}
