/* nq_graph -> ONNX ModelProto: initializers as raw_data, inputs/outputs
 * and value_info with types and shapes, nodes in topological order,
 * opsets and metadata. All message memory comes from one arena. */
#include <stdlib.h>
#include <string.h>

#include "nnquant/data.h"
#include "nnquant/onnx.h"
#include "onnx/onnx_internal.h"

typedef struct writer {
    const nq_graph *g;
    nq_onnx_arena *a;
    nq_error *err;
} writer;

static nq_status nomem(writer *w) { return nq_error_set(w->err, NQ_ERR_NOMEM, "out of memory"); }

/* Stable Kahn order of the (const) node list; the graph is not modified. */
static nq_status topo_order(writer *w, const nq_node ***out)
{
    const nq_graph *g = w->g;
    int nn = g->n_nodes;
    const nq_node **order = nq_onnx_arena_array(w->a, (size_t)nn + 1, sizeof *order);
    char *ready = nq_onnx_arena_alloc(w->a, (size_t)g->n_values + 1);
    char *done = nq_onnx_arena_alloc(w->a, (size_t)nn + 1);
    if (order == NULL || ready == NULL || done == NULL) return nomem(w);
    for (int v = 0; v < g->n_values; v++) ready[v] = g->values[v]->producer == NULL;
    int placed = 0, progress = 1;
    while (placed < nn && progress) {
        progress = 0;
        for (int i = 0; i < nn; i++) {
            const nq_node *n = g->nodes[i];
            int ok = !done[i];
            for (int k = 0; k < n->n_inputs && ok; k++)
                if (n->inputs[k] >= 0 && !ready[n->inputs[k]]) ok = 0;
            if (!ok) continue;
            done[i] = 1;
            order[placed++] = n;
            for (int k = 0; k < n->n_outputs; k++)
                if (n->outputs[k] >= 0) ready[n->outputs[k]] = 1;
            progress = 1;
        }
    }
    for (int i = 0; i < nn && placed < nn; i++)
        if (!done[i])
            return nq_error_set(w->err, NQ_ERR_INVALID_ARG, "graph has a cycle through node '%s' (%s)",
                                g->nodes[i]->name, g->nodes[i]->op_type);
    *out = order;
    return NQ_OK;
}

static char *value_name(writer *w, int v) /* "" for an absent optional value */
{
    return nq_onnx_arena_strdup(w->a, v >= 0 ? w->g->values[v]->name : "");
}

static nq_status write_node(writer *w, const nq_node *n, Onnx__NodeProto **out)
{
    Onnx__NodeProto *np = nq_onnx_arena_alloc(w->a, sizeof *np);
    if (np == NULL) return nomem(w);
    onnx__node_proto__init(np);
    np->name = nq_onnx_arena_strdup(w->a, n->name);
    np->op_type = nq_onnx_arena_strdup(w->a, n->op_type);
    if (n->domain != NULL && n->domain[0] != '\0' && /* "" is not written */
        (np->domain = nq_onnx_arena_strdup(w->a, n->domain)) == NULL)
        return nomem(w);
    np->input = nq_onnx_arena_array(w->a, (size_t)n->n_inputs, sizeof(char *));
    np->output = nq_onnx_arena_array(w->a, (size_t)n->n_outputs, sizeof(char *));
    np->attribute = nq_onnx_arena_array(w->a, (size_t)n->n_attrs, sizeof *np->attribute);
    if (!np->name || !np->op_type || !np->input || !np->output || !np->attribute)
        return nomem(w);
    for (int k = 0; k < n->n_inputs; k++)
        if ((np->input[np->n_input++] = value_name(w, n->inputs[k])) == NULL) return nomem(w);
    for (int k = 0; k < n->n_outputs; k++)
        if ((np->output[np->n_output++] = value_name(w, n->outputs[k])) == NULL) return nomem(w);
    for (int k = 0; k < n->n_attrs; k++) {
        nq_status s = nq_onnx_attr_write(&n->attrs[k], w->a, &np->attribute[k], w->err);
        if (s != NQ_OK) {
            nq_error_prefix(w->err, "node '%s' (%s)", n->name, n->op_type);
            return s;
        }
        np->n_attribute++;
    }
    *out = np;
    return NQ_OK;
}

static int has_int4(const nq_graph *g)
{
    for (int i = 0; i < g->n_values; i++) {
        nq_dtype t = g->values[i]->dtype;
        if (t == NQ_DTYPE_INT4 || t == NQ_DTYPE_UINT4) return 1;
    }
    return 0;
}

static nq_status write_values(writer *w, Onnx__GraphProto *gp, int64_t ir)
{
    const nq_graph *g = w->g;
    size_t nv = (size_t)g->n_values;
    gp->initializer = nq_onnx_arena_array(w->a, nv, sizeof *gp->initializer);
    gp->input = nq_onnx_arena_array(w->a, nv + (size_t)g->n_inputs, sizeof *gp->input);
    gp->output = nq_onnx_arena_array(w->a, (size_t)g->n_outputs, sizeof *gp->output);
    gp->value_info = nq_onnx_arena_array(w->a, nv, sizeof *gp->value_info);
    if (!gp->initializer || !gp->input || !gp->output || !gp->value_info) return nomem(w);
    nq_status s = NQ_OK;
    for (int i = 0; i < g->n_inputs && s == NQ_OK; i++)
        s = nq_onnx_value_info_write(g->values[g->inputs[i]], w->a, &gp->input[gp->n_input++], w->err);
    for (int i = 0; i < g->n_outputs && s == NQ_OK; i++)
        s = nq_onnx_value_info_write(g->values[g->outputs[i]], w->a, &gp->output[gp->n_output++],
                                     w->err);
    for (size_t i = 0; i < nv && s == NQ_OK; i++) {
        const nq_value *v = g->values[i];
        if (v->init != NULL) {
            Onnx__TensorProto *tp = nq_onnx_arena_alloc(w->a, sizeof *tp);
            if (tp == NULL) return nomem(w);
            s = nq_onnx_tensor_write(v->init, v->name, w->a, tp, w->err);
            gp->initializer[gp->n_initializer++] = tp;
            /* before IR 4, every initializer must also be a graph input */
            if (s == NQ_OK && ir < 4 && !v->is_input)
                s = nq_onnx_value_info_write(v, w->a, &gp->input[gp->n_input++], w->err);
        } else if (v->producer != NULL && !v->is_output && !v->is_input &&
                   (v->dtype != NQ_DTYPE_UNDEFINED || v->ndim >= 0)) {
            s = nq_onnx_value_info_write(v, w->a, &gp->value_info[gp->n_value_info++], w->err);
        }
    }
    return s;
}

static int is_default_domain(const char *d)
{
    return d == NULL || d[0] == '\0' || strcmp(d, "ai.onnx") == 0;
}

static int opset_listed(const Onnx__ModelProto *m, const char *domain)
{
    for (size_t k = 0; k < m->n_opset_import; k++) {
        const char *d = m->opset_import[k]->domain;
        if (is_default_domain(d) ? is_default_domain(domain) : strcmp(d, domain ? domain : "") == 0)
            return 1;
    }
    return 0;
}

static nq_status add_opset(writer *w, Onnx__ModelProto *m, const char *domain, int64_t version)
{
    if (opset_listed(m, domain)) return NQ_OK;
    Onnx__OperatorSetIdProto *o = nq_onnx_arena_alloc(w->a, sizeof *o);
    if (o == NULL) return nomem(w);
    onnx__operator_set_id_proto__init(o);
    if ((o->domain = nq_onnx_arena_strdup(w->a, domain)) == NULL) return nomem(w);
    o->has_version = 1;
    o->version = version;
    m->opset_import[m->n_opset_import++] = o;
    return NQ_OK;
}

/* The graph's opsets, then one for every node domain missing from them
 * (the default domain at NQ_ONNX_DEFAULT_OPSET, others at version 1, as
 * checkers require an import for every domain used). */
static nq_status write_opsets(writer *w, Onnx__ModelProto *m)
{
    const nq_graph *g = w->g;
    size_t no = (size_t)g->n_opsets + (size_t)g->n_nodes + 1;
    if ((m->opset_import = nq_onnx_arena_array(w->a, no, sizeof *m->opset_import)) == NULL)
        return nomem(w);
    nq_status s = NQ_OK;
    for (int i = 0; i < g->n_opsets && s == NQ_OK; i++)
        s = add_opset(w, m, g->opsets[i].domain, g->opsets[i].version);
    for (int i = 0; i < g->n_nodes && s == NQ_OK; i++) {
        const char *d = g->nodes[i]->domain;
        s = add_opset(w, m, d, is_default_domain(d) ? NQ_ONNX_DEFAULT_OPSET : 1);
    }
    if (s == NQ_OK && m->n_opset_import == 0) s = add_opset(w, m, "", NQ_ONNX_DEFAULT_OPSET);
    return s;
}

static nq_status write_model_meta(writer *w, Onnx__ModelProto *m)
{
    const nq_graph *g = w->g;
    nq_status s = write_opsets(w, m);
    if (s != NQ_OK) return s;
    m->metadata_props = nq_onnx_arena_array(w->a, (size_t)g->n_meta, sizeof *m->metadata_props);
    if (m->metadata_props == NULL) return nomem(w);
    for (int i = 0; i < g->n_meta; i++) {
        Onnx__StringStringEntryProto *e = nq_onnx_arena_alloc(w->a, sizeof *e);
        if (e == NULL) return nomem(w);
        onnx__string_string_entry_proto__init(e);
        e->key = nq_onnx_arena_strdup(w->a, g->meta_keys[i]);
        e->value = nq_onnx_arena_strdup(w->a, g->meta_values[i]);
        if (e->key == NULL || e->value == NULL) return nomem(w);
        m->metadata_props[m->n_metadata_props++] = e;
    }
    m->producer_name = nq_onnx_arena_strdup(w->a, g->producer_name ? g->producer_name : "nnquant");
    return m->producer_name ? NQ_OK : nomem(w);
}

static nq_status write_model(writer *w, Onnx__ModelProto *m)
{
    const nq_graph *g = w->g;
    Onnx__GraphProto *gp = nq_onnx_arena_alloc(w->a, sizeof *gp);
    if (gp == NULL) return nomem(w);
    onnx__model_proto__init(m);
    onnx__graph_proto__init(gp);
    m->graph = gp;
    m->has_ir_version = 1;
    m->ir_version = g->ir_version > 0 ? g->ir_version : 8;
    if (has_int4(g) && m->ir_version < NQ_ONNX_IR_VERSION_INT4) m->ir_version = NQ_ONNX_IR_VERSION_INT4;
    gp->name = nq_onnx_arena_strdup(w->a, g->name && g->name[0] ? g->name : "graph");
    if (gp->name == NULL) return nomem(w);
    nq_status s = write_model_meta(w, m);
    if (s == NQ_OK) s = write_values(w, gp, m->ir_version);
    const nq_node **order = NULL;
    if (s == NQ_OK) s = topo_order(w, &order);
    if (s != NQ_OK || order == NULL) return s != NQ_OK ? s : nomem(w);
    if ((gp->node = nq_onnx_arena_array(w->a, (size_t)g->n_nodes, sizeof *gp->node)) == NULL)
        return nomem(w);
    for (int i = 0; i < g->n_nodes; i++) {
        if ((s = write_node(w, order[i], &gp->node[i])) != NQ_OK) return s;
        gp->n_node++;
    }
    return NQ_OK;
}

nq_status nq_onnx_save_buffer(const nq_graph *g, void **buf, size_t *size, nq_error *err)
{
    if (buf == NULL || size == NULL || g == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_onnx_save_buffer: NULL argument");
    *buf = NULL;
    *size = 0;
    nq_status s = nq_graph_validate(g, err);
    if (s != NQ_OK) return s;
    nq_onnx_arena arena = {NULL};
    writer w = {g, &arena, err};
    Onnx__ModelProto m;
    s = write_model(&w, &m);
    if (s == NQ_OK) {
        size_t n = onnx__model_proto__get_packed_size(&m);
        if (n > (size_t)INT32_MAX) {
            s = nq_error_set(err, NQ_ERR_UNSUPPORTED,
                             "model needs %zu bytes, over protobuf's 2 GiB limit "
                             "(external data export is not supported)", n);
        } else if ((*buf = malloc(n ? n : 1)) == NULL) {
            s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory (%zu bytes)", n);
        } else if (onnx__model_proto__pack(&m, *buf) != n) {
            free(*buf);
            *buf = NULL;
            s = nq_error_set(err, NQ_ERR_INTERNAL, "protobuf packing wrote an unexpected size");
        } else {
            *size = n;
        }
    }
    nq_onnx_arena_free(&arena);
    return s;
}

nq_status nq_onnx_save(const nq_graph *g, const char *path, nq_error *err)
{
    if (path == NULL) return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_onnx_save: NULL path");
    void *buf = NULL;
    size_t size = 0;
    nq_status s = nq_onnx_save_buffer(g, &buf, &size, err);
    if (s != NQ_OK) {
        nq_error_prefix(err, "%s", path);
        return s;
    }
    s = nq_write_file_atomic(path, buf, size, err); /* its messages name the path */
    free(buf);
    return s;
}
