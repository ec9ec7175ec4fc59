/* Private helpers of the core layer (also usable by other layers). */
#ifndef NQ_CORE_INTERNAL_H
#define NQ_CORE_INTERNAL_H
#include <stddef.h>

/* strdup that accepts NULL (returns NULL) and is C11. */
char *nq_strdup(const char *s);
/* Grows *arr (element size `elem`) so that it can hold `need` elements. */
int nq_grow(void **arr, int *cap, int need, size_t elem);
/* Seconds on a monotonic clock (for differences only). */
double nq_now_seconds(void);

#include "nnquant/core.h"
/* Frees a node and everything it owns (does not touch the graph). */
void nq_node_free_internal(nq_node *n);
/* Name changes and removals that keep the graph's name indexes right (a
 * name changed any other way makes lookups fall back to scanning, or miss). */
void nq_graph_swap_value_names(nq_graph *g, int a, int b);
void nq_graph_set_node_name(nq_graph *g, nq_node *n, char *name); /* takes `name` */
void nq_graph_unindex_node(nq_graph *g, nq_node *n);              /* before removing n */
void nq_graph_reindex_values(nq_graph *g);                        /* after renumbering */
/* The consumer index (use_index.c): edge changes that keep it right. */
void nq_uses_link(nq_graph *g, nq_node *n);   /* n (new) reads its inputs */
void nq_uses_unlink(nq_graph *g, nq_node *n); /* n stops reading them (removal) */
void nq_uses_move(nq_graph *g, nq_node *n, int from, int to); /* one slot of n */
void nq_uses_free(nq_graph *g);
int nq_uses_consistent(const nq_graph *g); /* the index agrees with a scan (or is absent) */
/* Input slots (of all nodes) reading v. */
int nq_graph_use_count(const nq_graph *g, int v);
/* n's index in g->nodes (-1 if absent), starting from its position hint. */
int nq_graph_locate_node(const nq_graph *g, nq_node *n);
#endif
