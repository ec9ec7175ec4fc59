/* Graph containers: values, nodes, inputs/outputs, opsets, metadata. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/core.h"
#include "core/core_internal.h"
#include "core/name_index.h"

/* the name indexes read an item's name as its first member */
_Static_assert(offsetof(nq_value, name) == 0, "nq_value: name first");
_Static_assert(offsetof(struct nq_node, name) == 0, "nq_node: name first");

char *nq_strdup(const char *s)
{
    if (s == NULL) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL) memcpy(d, s, n);
    return d;
}

int nq_grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap) return 1;
    int ncap = *cap ? *cap : 8;
    while (ncap < need) ncap *= 2;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (p == NULL) return 0;
    *arr = p;
    *cap = ncap;
    return 1;
}

nq_graph *nq_graph_create(const char *name)
{
    nq_graph *g = calloc(1, sizeof *g);
    if (g == NULL) return NULL;
    g->name = nq_strdup(name ? name : "graph");
    g->ir_version = 8;
    g->value_names = calloc(1, sizeof *g->value_names);
    g->node_names = calloc(1, sizeof *g->node_names);
    if (g->name == NULL || g->value_names == NULL || g->node_names == NULL) {
        nq_graph_free(g);
        return NULL;
    }
    return g;
}

const char *nq_graph_meta(const nq_graph *g, const char *key)
{
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta_keys[i], key) == 0) return g->meta_values[i];
    return NULL;
}

nq_status nq_graph_set_meta(nq_graph *g, const char *key, const char *value, nq_error *err)
{
    char *v = nq_strdup(value);
    if (v == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_meta; i++)
        if (strcmp(g->meta_keys[i], key) == 0) {
            free(g->meta_values[i]);
            g->meta_values[i] = v;
            return NQ_OK;
        }
    char **k = realloc(g->meta_keys, sizeof(char *) * (size_t)(g->n_meta + 1));
    if (k != NULL) g->meta_keys = k;
    char **vals = k ? realloc(g->meta_values, sizeof(char *) * (size_t)(g->n_meta + 1)) : NULL;
    if (vals != NULL) g->meta_values = vals;
    char *kc = vals ? nq_strdup(key) : NULL;
    if (kc == NULL) {
        free(v);
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    g->meta_keys[g->n_meta] = kc;
    g->meta_values[g->n_meta++] = v;
    return NQ_OK;
}

static void value_free(nq_value *v)
{
    if (v == NULL) return;
    free(v->name);
    nq_tensor_delete(v->init);
    free(v);
}

void nq_node_free_internal(nq_node *n)
{
    if (n == NULL) return;
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->inputs);
    free(n->outputs);
    for (int i = 0; i < n->n_attrs; i++) nq_attr_clear(&n->attrs[i]);
    free(n->attrs);
    free(n);
}

void nq_graph_free(nq_graph *g)
{
    if (g == NULL) return;
    for (int i = 0; i < g->n_values; i++) value_free(g->values[i]);
    for (int i = 0; i < g->n_nodes; i++) nq_node_free_internal(g->nodes[i]);
    for (int i = 0; i < g->n_opsets; i++) free(g->opsets[i].domain);
    for (int i = 0; i < g->n_meta; i++) {
        free(g->meta_keys[i]);
        free(g->meta_values[i]);
    }
    free(g->meta_keys);
    free(g->meta_values);
    free(g->opsets);
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->name);
    free(g->producer_name);
    if (g->value_names) nq_name_index_clear(g->value_names);
    if (g->node_names) nq_name_index_clear(g->node_names);
    free(g->value_names);
    free(g->node_names);
    nq_uses_free(g);
    free(g);
}

static int same_domain(const char *a, const char *b)
{
    if (a == NULL || strcmp(a, "ai.onnx") == 0) a = "";
    if (b == NULL || strcmp(b, "ai.onnx") == 0) b = "";
    return strcmp(a, b) == 0;
}

int64_t nq_graph_opset(const nq_graph *g, const char *domain)
{
    for (int i = 0; i < g->n_opsets; i++)
        if (same_domain(g->opsets[i].domain, domain)) return g->opsets[i].version;
    return 0;
}

nq_status nq_graph_set_opset(nq_graph *g, const char *domain, int64_t version, nq_error *err)
{
    for (int i = 0; i < g->n_opsets; i++)
        if (same_domain(g->opsets[i].domain, domain)) {
            g->opsets[i].version = version;
            return NQ_OK;
        }
    nq_opset *p = realloc(g->opsets, sizeof(nq_opset) * (size_t)(g->n_opsets + 1));
    if (p == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    g->opsets = p;
    p[g->n_opsets].domain = nq_strdup(domain ? domain : "");
    if (p[g->n_opsets].domain == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    p[g->n_opsets++].version = version;
    return NQ_OK;
}

/* The index holds every value (or node) exactly when its live count is the
 * graph's; otherwise (values dropped, out of memory) lookups scan. */
static int values_indexed(const nq_graph *g) { return g->value_names->live == g->n_values; }
static int nodes_indexed(const nq_graph *g) { return g->node_names->live == g->n_nodes; }

void nq_graph_reindex_values(nq_graph *g)
{
    nq_name_index_clear(g->value_names);
    for (int i = 0; i < g->n_values; i++)
        if (!nq_name_index_put(g->value_names, g->values[i]->name, g->values[i], i)) return;
}

static void reindex_nodes(nq_graph *g)
{
    nq_name_index_clear(g->node_names);
    for (int i = 0; i < g->n_nodes; i++)
        if (!nq_name_index_put(g->node_names, g->nodes[i]->name, g->nodes[i], 0)) return;
}

int nq_graph_find_value(const nq_graph *g, const char *name)
{
    if (name == NULL) return -1;
    if (values_indexed(g)) {
        int suspect;
        const nq_name_entry *e = nq_name_index_get(g->value_names, name, &suspect);
        if (e != NULL && e->id < g->n_values && g->values[e->id] == e->item) return e->id;
        if (e == NULL && !suspect) return -1;
    }
    for (int i = 0; i < g->n_values; i++) /* the index is stale: scan */
        if (strcmp(g->values[i]->name, name) == 0) return i;
    return -1;
}

void nq_graph_swap_value_names(nq_graph *g, int a, int b)
{
    nq_value *va = g->values[a], *vb = g->values[b];
    int indexed = values_indexed(g);
    if (indexed) {
        nq_name_index_remove(g->value_names, va->name, va);
        nq_name_index_remove(g->value_names, vb->name, vb);
    }
    char *t = va->name;
    va->name = vb->name;
    vb->name = t;
    if (indexed && nq_name_index_put(g->value_names, va->name, va, a))
        nq_name_index_put(g->value_names, vb->name, vb, b);
}

void nq_graph_set_node_name(nq_graph *g, nq_node *n, char *name)
{
    int indexed = nodes_indexed(g);
    if (indexed) nq_name_index_remove(g->node_names, n->name, n);
    free(n->name);
    n->name = name;
    if (indexed) nq_name_index_put(g->node_names, n->name, n, 0);
}

void nq_graph_unindex_node(nq_graph *g, nq_node *n)
{
    /* not found: the index was already incomplete; its entries stay a
     * subset of the graph's nodes, so equal counts still mean complete */
    nq_name_index_remove(g->node_names, n->name, n);
}

static int name_taken(const nq_graph *g, const char *name)
{
    return nq_graph_find_value(g, name) >= 0 || nq_graph_find_node(g, name) != NULL;
}

static int suffix_taken(const nq_graph *g, char *buf, size_t len, const char *prefix, long k)
{
    snprintf(buf, len, "%s_%ld", prefix, k);
    return name_taken(g, buf);
}

char *nq_graph_unique_name(const nq_graph *g, const char *prefix)
{
    if (prefix == NULL || prefix[0] == '\0') prefix = "v";
    size_t len = strlen(prefix) + 24;
    char *buf = malloc(len);
    if (buf == NULL) return NULL;
    snprintf(buf, len, "%s", prefix);
    if (!name_taken(g, buf)) return buf;
    /* The suffixes in use are usually 1..m: double up to a free one, then
     * bisect to a free one right after a taken one (m + 1, as a count from 1
     * would find, in O(log m) lookups instead of m). */
    long lo = 0, hi = 1; /* lo: 0 or a taken suffix; hi: the candidate */
    while (suffix_taken(g, buf, len, prefix, hi)) lo = hi, hi *= 2;
    while (hi - lo > 1) {
        long mid = lo + (hi - lo) / 2;
        if (suffix_taken(g, buf, len, prefix, mid)) lo = mid;
        else hi = mid;
    }
    snprintf(buf, len, "%s_%ld", prefix, hi);
    return buf;
}

int nq_graph_add_value(nq_graph *g, const char *name, nq_error *err)
{
    if (name != NULL && nq_graph_find_value(g, name) >= 0) {
        nq_error_set(err, NQ_ERR_INVALID_ARG, "value '%s' is defined twice", name);
        return -1;
    }
    if (!values_indexed(g)) nq_graph_reindex_values(g);
    if (!nq_grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(nq_value *))) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    nq_value *v = calloc(1, sizeof *v);
    if (v == NULL) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    v->name = name ? nq_strdup(name) : nq_graph_unique_name(g, "v");
    if (v->name == NULL) {
        free(v);
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    v->ndim = -1;
    g->values[g->n_values] = v;
    int indexed = values_indexed(g);
    g->n_values++;
    if (indexed) nq_name_index_put(g->value_names, v->name, v, g->n_values - 1); /* else scans */
    return g->n_values - 1;
}

int nq_graph_add_initializer(nq_graph *g, const char *name, nq_tensor *t, nq_error *err)
{
    int id = nq_graph_add_value(g, name, err);
    if (id < 0) return -1;
    nq_value *v = g->values[id];
    v->init = nq_tensor_new();
    if (v->init == NULL) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    *v->init = *t; /* ownership moves */
    memset(t, 0, sizeof *t);
    v->dtype = v->init->dtype;
    v->ndim = v->init->ndim;
    memcpy(v->dims, v->init->dims, sizeof v->dims);
    return id;
}

static nq_status append_id(int **arr, int *n, int id, nq_error *err)
{
    int *p = realloc(*arr, sizeof(int) * (size_t)(*n + 1));
    if (p == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    p[(*n)++] = id;
    *arr = p;
    return NQ_OK;
}

nq_status nq_graph_add_input(nq_graph *g, int value, nq_error *err)
{
    if (value < 0 || value >= g->n_values)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "graph input: bad value index %d", value);
    g->values[value]->is_input = 1;
    return append_id(&g->inputs, &g->n_inputs, value, err);
}

nq_status nq_graph_add_output(nq_graph *g, int value, nq_error *err)
{
    if (value < 0 || value >= g->n_values)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "graph output: bad value index %d", value);
    g->values[value]->is_output = 1;
    return append_id(&g->outputs, &g->n_outputs, value, err);
}

nq_node *nq_graph_find_node(const nq_graph *g, const char *name)
{
    if (name == NULL) return NULL;
    if (nodes_indexed(g)) {
        int suspect;
        const nq_name_entry *e = nq_name_index_get(g->node_names, name, &suspect);
        if (e != NULL) return e->item;
        if (!suspect) return NULL;
    }
    for (int i = 0; i < g->n_nodes; i++) /* the index is stale: scan */
        if (g->nodes[i]->name != NULL && strcmp(g->nodes[i]->name, name) == 0) return g->nodes[i];
    return NULL;
}

int nq_graph_node_index(const nq_graph *g, const nq_node *n)
{
    return nq_graph_locate_node(g, (nq_node *)n); /* only its position hint changes */
}

static int *copy_ids(int n, const int *ids)
{
    int *p = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (p != NULL && n > 0) memcpy(p, ids, sizeof(int) * (size_t)n);
    return p;
}

nq_node *nq_graph_add_node(nq_graph *g, const char *op_type, const char *name,
                           int n_inputs, const int *inputs,
                           int n_outputs, const int *outputs, nq_error *err)
{
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] < -1 || inputs[i] >= g->n_values) {
            nq_error_set(err, NQ_ERR_INVALID_ARG, "node '%s' (%s): bad input index %d",
                         name ? name : "?", op_type, inputs[i]);
            return NULL;
        }
    for (int i = 0; i < n_outputs; i++) {
        if (outputs[i] < -1 || outputs[i] >= g->n_values) {
            nq_error_set(err, NQ_ERR_INVALID_ARG, "node '%s' (%s): bad output index %d",
                         name ? name : "?", op_type, outputs[i]);
            return NULL;
        }
        if (outputs[i] >= 0 && (g->values[outputs[i]]->producer != NULL ||
                                g->values[outputs[i]]->init != NULL)) {
            nq_error_set(err, NQ_ERR_INVALID_ARG, "node '%s' (%s): value '%s' already has a producer",
                         name ? name : "?", op_type, g->values[outputs[i]]->name);
            return NULL;
        }
    }
    if (!nq_grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(nq_node *))) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    nq_node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    n->op = -1;
    n->op_type = nq_strdup(op_type);
    n->domain = nq_strdup("");
    n->name = name ? nq_strdup(name) : nq_graph_unique_name(g, op_type);
    n->inputs = copy_ids(n_inputs, inputs);
    n->outputs = copy_ids(n_outputs, outputs);
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    if (!n->op_type || !n->domain || !n->name || !n->inputs || !n->outputs) {
        nq_node_free_internal(n);
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n_outputs; i++)
        if (outputs[i] >= 0) g->values[outputs[i]]->producer = n;
    if (!nodes_indexed(g)) reindex_nodes(g);
    int indexed = nodes_indexed(g);
    n->pos = g->n_nodes;
    g->nodes[g->n_nodes++] = n;
    if (indexed) nq_name_index_put(g->node_names, n->name, n, 0);
    nq_uses_link(g, n);
    return n;
}

static nq_status clone_into(const nq_graph *g, nq_graph *c, nq_error *err)
{
    for (int i = 0; i < g->n_values; i++) {
        const nq_value *v = g->values[i];
        int id = nq_graph_add_value(c, v->name, err);
        if (id < 0) return err ? err->code : NQ_ERR_NOMEM;
        nq_value *cv = c->values[id];
        cv->dtype = v->dtype;
        cv->ndim = v->ndim;
        memcpy(cv->dims, v->dims, sizeof cv->dims);
        if (v->init != NULL) {
            cv->init = nq_tensor_new();
            if (cv->init == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
            nq_status s = nq_tensor_copy(cv->init, v->init, err);
            if (s != NQ_OK) return s;
        }
    }
    for (int i = 0; i < g->n_inputs; i++)
        if (nq_graph_add_input(c, g->inputs[i], err) != NQ_OK) return err ? err->code : NQ_ERR_NOMEM;
    for (int i = 0; i < g->n_outputs; i++)
        if (nq_graph_add_output(c, g->outputs[i], err) != NQ_OK) return err ? err->code : NQ_ERR_NOMEM;
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        nq_node *cn = nq_graph_add_node(c, n->op_type, n->name, n->n_inputs, n->inputs,
                                        n->n_outputs, n->outputs, err);
        if (cn == NULL) return err ? err->code : NQ_ERR_NOMEM;
        cn->op = n->op;
        free(cn->domain);
        cn->domain = nq_strdup(n->domain ? n->domain : "");
        if (cn->domain == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        if (n->n_attrs > 0) {
            cn->attrs = calloc((size_t)n->n_attrs, sizeof(nq_attr));
            if (cn->attrs == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
            for (int a = 0; a < n->n_attrs; a++) {
                if (nq_attr_copy(&cn->attrs[a], &n->attrs[a]) != NQ_OK)
                    return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
                cn->n_attrs++;
            }
        }
    }
    for (int i = 0; i < g->n_opsets; i++)
        if (nq_graph_set_opset(c, g->opsets[i].domain, g->opsets[i].version, err) != NQ_OK)
            return NQ_ERR_NOMEM;
    c->ir_version = g->ir_version;
    if (g->producer_name && (c->producer_name = nq_strdup(g->producer_name)) == NULL)
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    if (g->n_meta > 0) {
        c->meta_keys = calloc((size_t)g->n_meta, sizeof(char *));
        c->meta_values = calloc((size_t)g->n_meta, sizeof(char *));
        if (!c->meta_keys || !c->meta_values) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        for (int i = 0; i < g->n_meta; i++) {
            c->meta_keys[i] = nq_strdup(g->meta_keys[i]);
            c->meta_values[i] = nq_strdup(g->meta_values[i]);
            c->n_meta++;
            if (!c->meta_keys[i] || !c->meta_values[i])
                return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        }
    }
    return NQ_OK;
}

nq_status nq_graph_clone(const nq_graph *g, nq_graph **out, nq_error *err)
{
    *out = NULL;
    nq_graph *c = nq_graph_create(g->name);
    if (c == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    nq_status s = clone_into(g, c, err);
    if (s != NQ_OK) {
        nq_graph_free(c);
        return s;
    }
    *out = c;
    return NQ_OK;
}
