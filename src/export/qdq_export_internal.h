/* Private pieces of the QDQ export (qdq_export.c, qdq_scales.c). */
#ifndef NQ_QDQ_EXPORT_INTERNAL_H
#define NQ_QDQ_EXPORT_INTERNAL_H

#include "export/qdq_internal.h"

/* Weighted union-find over value ids: r(v) = ratio chain * r(root). */
typedef struct nq_qdq_scales {
    int n;
    int *parent;
    double *ratio;      /* r(v) / r(parent[v]) */
    double *anchor;     /* r(root), when anchor_kind[root] > 0 */
    int *anchor_kind;   /* 0 none, 1 soft (PTQ's dequant attribute), 2 hard */
} nq_qdq_scales;

nq_status nq_qdq_scales_init(nq_qdq_scales *s, int n, nq_error *err);
void nq_qdq_scales_free(nq_qdq_scales *s);
/* Records r(a) = k * r(b); n names the node in errors. */
nq_status nq_qdq_scales_relate(nq_qdq_scales *s, int a, int b, double k, const nq_node *n,
                               nq_error *err);
/* Fixes r(v) = r (hard: from the graph's semantics; soft: a hint). */
nq_status nq_qdq_scales_anchor(nq_qdq_scales *s, int v, double r, int hard, const nq_node *n,
                               nq_error *err);
/* r(v), once every relation and anchor is recorded. */
double nq_qdq_scales_get(nq_qdq_scales *s, int v);

#endif
