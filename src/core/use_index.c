/* Value -> consumers index of a graph (core_internal.h), and the node
 * position hints that put consumers in graph order.
 *
 * g->uses holds, for each value, one entry per node input slot reading it.
 * It is built on the first query and kept by the core's edits (add, delete,
 * replace_uses, nq_node_set_input(s)); compaction, which renumbers values,
 * drops it. A query checks that each indexed node still reads the value;
 * an entry that does not (an input changed by hand) drops the index and
 * the query scans. An input set by hand to a new value cannot be seen that
 * way: nq_graph_validate compares the index with a scan. Out of memory,
 * the index is dropped too: queries scan until it can be built again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"

typedef struct use_list {
    int n, cap;
    nq_node **nodes;
} use_list;

struct nq_use_index {
    int cap; /* lists */
    use_list *lists;
};

void nq_uses_free(nq_graph *g)
{
    if (g->uses == NULL) return;
    for (int v = 0; v < g->uses->cap; v++) free(g->uses->lists[v].nodes);
    free(g->uses->lists);
    free(g->uses);
    g->uses = NULL;
}

static void add_entry(nq_graph *g, int v, nq_node *n)
{
    struct nq_use_index *u = g->uses;
    if (u == NULL || v < 0) return;
    if (v >= u->cap) {
        int cap = u->cap * 2 > v + 1 ? u->cap * 2 : v + 1;
        use_list *l = realloc(u->lists, sizeof(use_list) * (size_t)cap);
        if (l == NULL) {
            nq_uses_free(g);
            return;
        }
        memset(l + u->cap, 0, sizeof(use_list) * (size_t)(cap - u->cap));
        u->lists = l, u->cap = cap;
    }
    use_list *l = &u->lists[v];
    if (!nq_grow((void **)&l->nodes, &l->cap, l->n + 1, sizeof(nq_node *))) {
        nq_uses_free(g);
        return;
    }
    l->nodes[l->n++] = n;
}

static void del_entry(nq_graph *g, int v, const nq_node *n)
{
    if (g->uses == NULL || v < 0 || v >= g->uses->cap) return;
    use_list *l = &g->uses->lists[v];
    for (int i = 0; i < l->n; i++)
        if (l->nodes[i] == n) {
            l->nodes[i] = l->nodes[--l->n];
            return;
        }
}

void nq_uses_link(nq_graph *g, nq_node *n)
{
    for (int k = 0; k < n->n_inputs; k++) add_entry(g, n->inputs[k], n);
}

void nq_uses_unlink(nq_graph *g, nq_node *n)
{
    for (int k = 0; k < n->n_inputs; k++) del_entry(g, n->inputs[k], n);
}

void nq_uses_move(nq_graph *g, nq_node *n, int from, int to)
{
    del_entry(g, from, n);
    add_entry(g, to, n);
}

static int uses_ready(nq_graph *g)
{
    if (g->uses != NULL) return 1;
    g->uses = calloc(1, sizeof *g->uses);
    if (g->uses == NULL) return 0;
    g->uses->cap = g->n_values > 0 ? g->n_values : 1;
    g->uses->lists = calloc((size_t)g->uses->cap, sizeof(use_list));
    if (g->uses->lists == NULL) {
        free(g->uses);
        g->uses = NULL;
        return 0;
    }
    for (int i = 0; i < g->n_nodes && g->uses != NULL; i++) nq_uses_link(g, g->nodes[i]);
    return g->uses != NULL;
}

int nq_graph_locate_node(const nq_graph *g, nq_node *n)
{
    /* the hint, then outwards from it: inserting or deleting a node moves
       the others by a few places at a time */
    const int p = n->pos >= 0 && n->pos < g->n_nodes ? n->pos : 0;
    for (int d = 0; p - d >= 0 || p + d < g->n_nodes; d++) {
        if (p + d < g->n_nodes && g->nodes[p + d] == n) return n->pos = p + d;
        if (d > 0 && p - d >= 0 && g->nodes[p - d] == n) return n->pos = p - d;
    }
    return -1;
}

static int by_pos(const void *a, const void *b)
{
    const nq_node *x = *(nq_node *const *)a, *y = *(nq_node *const *)b;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static int scan_consumers(const nq_graph *g, int v, nq_node **out, int max, int *slots)
{
    int count = 0;
    *slots = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *n = g->nodes[i];
        int reads = 0;
        for (int k = 0; k < n->n_inputs; k++) reads += n->inputs[k] == v;
        if (reads == 0) continue;
        if (count < max && out != NULL) out[count] = n;
        count++;
        *slots += reads;
    }
    return count;
}

/* The nodes reading v, in graph order, each once (up to max in out; the
 * count returned), and the input slots reading v in *slots. */
static int consumers(const nq_graph *cg, int v, nq_node **out, int max, int *slots)
{
    nq_graph *g = (nq_graph *)cg; /* the index and the hints are caches */
    if (v < 0 || v >= g->n_values || !uses_ready(g)) return scan_consumers(g, v, out, max, slots);
    if (v >= g->uses->cap || g->uses->lists[v].n == 0) {
        *slots = 0;
        return 0;
    }
    use_list *l = &g->uses->lists[v];
    for (int i = 0; i < l->n; i++)
        if (nq_graph_locate_node(g, l->nodes[i]) < 0) { /* cannot happen through the core */
            nq_uses_free(g);
            return scan_consumers(g, v, out, max, slots);
        }
    if (l->n > 1) qsort(l->nodes, (size_t)l->n, sizeof(nq_node *), by_pos);
    int count = 0;
    *slots = l->n;
    for (int i = 0, j; i < l->n; i = j) { /* a node's entries are adjacent now */
        nq_node *n = l->nodes[i];
        for (j = i + 1; j < l->n && l->nodes[j] == n;) j++;
        int reads = 0;
        for (int k = 0; k < n->n_inputs; k++) reads += n->inputs[k] == v;
        if (reads != j - i) { /* an input changed by hand: stale */
            nq_uses_free(g);
            return scan_consumers(g, v, out, max, slots);
        }
        if (count < max && out != NULL) out[count] = n;
        count++;
    }
    return count;
}

int nq_graph_consumers(const nq_graph *g, int v, nq_node **out, int max)
{
    int slots;
    return consumers(g, v, out, max, &slots);
}

int nq_graph_use_count(const nq_graph *g, int v)
{
    int slots;
    consumers(g, v, NULL, 0, &slots);
    return slots;
}

static int by_addr(const void *a, const void *b)
{
    const uintptr_t x = (uintptr_t)*(nq_node *const *)a, y = (uintptr_t)*(nq_node *const *)b;
    return (x > y) - (x < y);
}

int nq_uses_consistent(const nq_graph *g)
{
    const struct nq_use_index *u = g->uses;
    if (u == NULL) return 1;
    int *slots = calloc((size_t)(g->n_values > 0 ? g->n_values : 1), sizeof(int)), longest = 0, ok = 1;
    if (slots == NULL) return 1; /* cannot check */
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i]->n_inputs; k++)
            if (g->nodes[i]->inputs[k] >= 0 && g->nodes[i]->inputs[k] < g->n_values) slots[g->nodes[i]->inputs[k]]++;
    for (int v = 0; v < u->cap; v++) {
        if (u->lists[v].n != (v < g->n_values ? slots[v] : 0)) ok = 0;
        if (u->lists[v].n > longest) longest = u->lists[v].n;
    }
    for (int v = g->n_values; v < u->cap; v++) ok = ok && u->lists[v].n == 0;
    for (int v = u->cap; v < g->n_values; v++) ok = ok && slots[v] == 0;
    /* each indexed node, as many times as it reads the value */
    nq_node **tmp = ok && longest > 0 ? malloc(sizeof(nq_node *) * (size_t)longest) : NULL;
    for (int v = 0; tmp != NULL && ok && v < u->cap; v++) {
        const use_list *l = &u->lists[v];
        if (l->n == 0) continue;
        memcpy(tmp, l->nodes, sizeof(nq_node *) * (size_t)l->n);
        qsort(tmp, (size_t)l->n, sizeof(nq_node *), by_addr);
        for (int i = 0, j; ok && i < l->n; i = j) {
            for (j = i + 1; j < l->n && tmp[j] == tmp[i];) j++;
            int reads = 0;
            if (nq_graph_locate_node(g, tmp[i]) < 0) ok = 0;
            for (int k = 0; ok && k < tmp[i]->n_inputs; k++) reads += tmp[i]->inputs[k] == v;
            if (reads != j - i) ok = 0;
        }
    }
    free(tmp);
    free(slots);
    return ok;
}

nq_status nq_node_set_input(nq_graph *g, nq_node *n, int k, int v)
{
    if (k < 0 || k >= n->n_inputs || v < -1 || v >= g->n_values) return NQ_ERR_INVALID_ARG;
    nq_uses_move(g, n, n->inputs[k], v);
    n->inputs[k] = v;
    return NQ_OK;
}

nq_status nq_node_set_inputs(nq_graph *g, nq_node *n, int count, const int *ids, nq_error *err)
{
    for (int k = 0; k < count; k++)
        if (ids[k] < -1 || ids[k] >= g->n_values)
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "node '%s': bad input index %d", n->name, ids[k]);
    int *ins = malloc(sizeof(int) * (size_t)(count > 0 ? count : 1));
    if (ins == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    if (count > 0) memcpy(ins, ids, sizeof(int) * (size_t)count);
    nq_uses_unlink(g, n);
    free(n->inputs);
    n->inputs = ins;
    n->n_inputs = count;
    nq_uses_link(g, n);
    return NQ_OK;
}

void nq_graph_invalidate_uses(nq_graph *g)
{
    nq_uses_free(g);
}
