/* The operator table: one entry per nq_op_id, each defined in its family file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/ops.h"

#define NQ_OP_EXTERN(name) extern const nq_op_def nq_def_##name;
NQ_OP_LIST(NQ_OP_EXTERN)
#undef NQ_OP_EXTERN

static const nq_op_def *const op_table[NQ_OP_COUNT] = {
#define NQ_OP_ENTRY(name) [NQ_OP_##name] = &nq_def_##name,
    NQ_OP_LIST(NQ_OP_ENTRY)
#undef NQ_OP_ENTRY
};

const nq_op_def *nq_op_get(int id)
{
    if (id < 0 || id >= NQ_OP_COUNT) return NULL;
    return op_table[id];
}

static int is_default_domain(const char *domain)
{
    return domain == NULL || domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0;
}

static int same_domain(const char *node_domain, const char *op_domain)
{
    if (op_domain == NULL) return is_default_domain(node_domain);
    return node_domain != NULL && strcmp(node_domain, op_domain) == 0;
}

int nq_op_find(const char *domain, const char *op_type)
{
    if (op_type == NULL) return -1;
    for (int i = 0; i < NQ_OP_COUNT; i++)
        if (op_table[i]->infer != NULL && strcmp(op_table[i]->name, op_type) == 0 &&
            same_domain(domain, op_table[i]->domain))
            return i;
    return -1;
}

typedef struct op_count {
    const char *domain, *op;
    int count;
} op_count;

nq_status nq_ops_resolve(nq_graph *g, nq_error *err)
{
    op_count missing[32];
    int n_missing = 0, total = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *n = g->nodes[i];
        n->op = nq_op_find(n->domain, n->op_type);
        if (n->op >= 0) continue;
        total++;
        int k = 0;
        while (k < n_missing && !(strcmp(missing[k].op, n->op_type) == 0 &&
                                  strcmp(missing[k].domain, n->domain ? n->domain : "") == 0))
            k++;
        if (k == n_missing && n_missing < 32)
            missing[n_missing++] = (op_count){n->domain ? n->domain : "", n->op_type, 0};
        if (k < n_missing) missing[k].count++;
    }
    if (total == 0) return NQ_OK;
    char list[400] = "";
    size_t len = 0;
    for (int k = 0; k < n_missing && len < sizeof list; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s%s%s (%d node%s)",
                                k ? ", " : "", missing[k].domain, missing[k].domain[0] ? "." : "",
                                missing[k].op, missing[k].count, missing[k].count > 1 ? "s" : "");
    return nq_error_set(err, NQ_ERR_UNSUPPORTED, "unsupported operator%s: %s",
                        n_missing > 1 ? "s" : "", list);
}
