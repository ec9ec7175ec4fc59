/* ONNX ModelProto -> nq_graph: metadata, opsets, initializers, inputs,
 * nodes, outputs and value_info; the result is toposorted and validated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/onnx.h"
#include "onnx/onnx_internal.h"

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL) memcpy(d, s, n);
    return d;
}

static nq_status read_meta(const Onnx__ModelProto *m, nq_graph *g, nq_error *err)
{
    g->ir_version = m->has_ir_version ? m->ir_version : 0;
    if (m->producer_name != NULL && m->producer_name[0] != '\0' &&
        (g->producer_name = dup_str(m->producer_name)) == NULL)
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        nq_status s = nq_graph_set_opset(g, o->domain ? o->domain : "", o->version, err);
        if (s != NQ_OK) return s;
    }
    size_t n = m->n_metadata_props;
    if (n == 0) return NQ_OK;
    if (n > 1000000) return nq_error_set(err, NQ_ERR_PARSE, "too many metadata_props");
    g->meta_keys = calloc(n, sizeof(char *));
    g->meta_values = calloc(n, sizeof(char *));
    if (g->meta_keys == NULL || g->meta_values == NULL)
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[i];
        g->meta_keys[i] = dup_str(e->key ? e->key : "");
        g->meta_values[i] = dup_str(e->value ? e->value : "");
        g->n_meta++; /* freed by nq_graph_free even if one failed */
        if (g->meta_keys[i] == NULL || g->meta_values[i] == NULL)
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    return NQ_OK;
}

static nq_status read_initializers(const Onnx__GraphProto *gp, const char *base_dir, nq_graph *g,
                                   nq_error *err)
{
    char what[300];
    if (gp->n_sparse_initializer > 0)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "sparse initializers are not supported");
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        const char *name = tp->name ? tp->name : "";
        if (name[0] == '\0')
            return nq_error_set(err, NQ_ERR_PARSE, "initializer #%zu has no name", i);
        snprintf(what, sizeof what, "initializer '%s'", name);
        if (nq_graph_find_value(g, name) >= 0)
            return nq_error_set(err, NQ_ERR_PARSE, "%s is defined twice", what);
        nq_tensor t;
        nq_status s = nq_onnx_tensor_read(tp, what, base_dir, &t, err);
        if (s != NQ_OK) return s;
        if (nq_graph_add_initializer(g, name, &t, err) < 0) {
            nq_tensor_free(&t);
            return err ? err->code : NQ_ERR_NOMEM;
        }
    }
    return NQ_OK;
}

/* Applies a ValueInfoProto's type to value v (kept unknown if absent). */
static nq_status read_type(const Onnx__ValueInfoProto *vi, const char *role, nq_value *v,
                           nq_error *err)
{
    char what[300];
    snprintf(what, sizeof what, "%s '%s'", role, v->name);
    nq_dtype dt;
    int ndim;
    int64_t dims[NQ_MAX_DIMS];
    nq_status s = nq_onnx_type_read(vi->type, what, &dt, &ndim, dims, err);
    if (s != NQ_OK) return s;
    v->dtype = dt;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++) v->dims[i] = dims[i];
    return NQ_OK;
}

static nq_status read_inputs(const Onnx__GraphProto *gp, nq_graph *g, nq_error *err)
{
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = vi->name ? vi->name : "";
        if (name[0] == '\0') return nq_error_set(err, NQ_ERR_PARSE, "graph input #%zu has no name", i);
        int v = nq_graph_find_value(g, name);
        if (v >= 0 && g->values[v]->init != NULL) continue; /* IR < 4 lists initializers */
        if (v >= 0)
            return nq_error_set(err, NQ_ERR_PARSE, "graph input '%s' is declared twice", name);
        if ((v = nq_graph_add_value(g, name, err)) < 0) return err ? err->code : NQ_ERR_NOMEM;
        nq_status s = read_type(vi, "graph input", g->values[v], err);
        if (s == NQ_OK) s = nq_graph_add_input(g, v, err);
        if (s != NQ_OK) return s;
    }
    return NQ_OK;
}

static nq_status read_outputs(const Onnx__GraphProto *gp, nq_graph *g, nq_error *err)
{
    for (size_t i = 0; i < gp->n_output; i++) {
        const Onnx__ValueInfoProto *vi = gp->output[i];
        const char *name = vi->name ? vi->name : "";
        int v = nq_graph_find_value(g, name);
        if (v < 0)
            return nq_error_set(err, NQ_ERR_PARSE,
                                "graph output '%s' is not defined (no node, input or initializer)", name);
        nq_status s = NQ_OK;
        if (g->values[v]->producer != NULL) s = read_type(vi, "graph output", g->values[v], err);
        if (s == NQ_OK) s = nq_graph_add_output(g, v, err);
        if (s != NQ_OK) return s;
    }
    return NQ_OK;
}

static nq_status read_value_info(const Onnx__GraphProto *gp, nq_graph *g, nq_error *err)
{
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[i];
        int v = nq_graph_find_value(g, vi->name ? vi->name : "");
        if (v < 0 || g->values[v]->producer == NULL || g->values[v]->is_output) continue;
        nq_status s = read_type(vi, "value", g->values[v], err);
        if (s != NQ_OK) return s;
    }
    return NQ_OK;
}

nq_status nq_onnx_model_read(const Onnx__ModelProto *m, const char *base_dir, nq_graph **out,
                             nq_error *err)
{
    *out = NULL;
    const Onnx__GraphProto *gp = m->graph;
    if (gp == NULL) return nq_error_set(err, NQ_ERR_PARSE, "not an ONNX model (no graph)");
    if (m->n_functions > 0)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "model-local functions are not supported");
    nq_graph *g = nq_graph_create(gp->name && gp->name[0] ? gp->name : NULL);
    if (g == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    nq_status s = read_meta(m, g, err);
    if (s == NQ_OK) s = read_initializers(gp, base_dir, g, err);
    if (s == NQ_OK) s = read_inputs(gp, g, err);
    if (s == NQ_OK) s = nq_onnx_nodes_read(gp, base_dir, g, err);
    if (s == NQ_OK) s = read_outputs(gp, g, err);
    if (s == NQ_OK) s = read_value_info(gp, g, err);
    /* (core's toposort memcpy's a NULL node list when there are no nodes) */
    if (s == NQ_OK && g->n_nodes > 0) s = nq_graph_toposort(g, err);
    if (s == NQ_OK) s = nq_graph_validate(g, err);
    if (s == NQ_ERR_INVALID_ARG) { /* core's graph checks: here the file is at fault */
        s = NQ_ERR_PARSE;
        if (err != NULL) err->code = s;
    }
    if (s != NQ_OK) {
        nq_graph_free(g);
        return s;
    }
    *out = g;
    return NQ_OK;
}

nq_status nq_onnx_load_buffer(const void *buf, size_t size, const char *base_dir,
                              nq_graph **out, nq_error *err)
{
    if (out == NULL) return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_onnx_load_buffer: out is NULL");
    *out = NULL;
    if (buf == NULL && size > 0)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_onnx_load_buffer: buffer is NULL");
    if (size == 0) return nq_error_set(err, NQ_ERR_PARSE, "empty file (0 bytes)");
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, buf);
    if (m == NULL)
        return nq_error_set(err, NQ_ERR_PARSE, "not a valid ONNX model (protobuf parse failed)");
    nq_status s = nq_onnx_model_read(m, base_dir, out, err);
    onnx__model_proto__free_unpacked(m, NULL);
    return s;
}
