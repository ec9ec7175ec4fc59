/* The static activation arena of a C export: every buffer computed by a
 * step lives from the step that writes it to the last step that reads it
 * (or to the end, for outputs, which model_run copies out last); buffers
 * whose lifetimes overlap never share bytes, the others reuse them. A
 * step's inputs are still live while it writes its output, except that an
 * element-wise step (Relu, Clip, Quantizer, Add, Mul) whose input is read
 * for the last time writes over it (in place) when its elements are no
 * wider. Placement: buffers in the order they are written, each at
 * the lowest 4-byte aligned offset that collides with no live buffer
 * (first fit). A Conv's row accumulators (scratch) take arena bytes too,
 * live during that step only. */
#include <stdlib.h>

#include "export/c_internal.h"

typedef struct cx_buf {
    int value;       /* -1: the scratch of step `def` */
    int def, last;
    int64_t size, off;
    int merged;      /* >= 0: written in place over that buffer */
    int placed;
} cx_buf;

/* The buffer b's bytes belong to, following in-place links. */
static int find(const cx_buf *bufs, int b)
{
    while (bufs[b].merged >= 0) b = bufs[b].merged;
    return b;
}

/* Steps whose output element i depends on input element i only, read
 * before it is written: they may run in place. */
static int elementwise(const cx_step *s)
{
    return s->kind == CX_RELU || s->kind == CX_CLIP || s->kind == CX_REQUANT ||
           s->kind == CX_ADD || s->kind == CX_MUL;
}

static int64_t align4(int64_t n) { return (n + 3) & ~(int64_t)3; }

static int overlaps(const cx_buf *a, const cx_buf *b)
{
    return a->def <= b->last && b->def <= a->last;
}

/* Lowest offset >= 0 where [off, off + b->size) meets no placed buffer
 * live at the same time: the candidates are 0 and the ends of those. */
static int64_t first_fit(const cx_buf *bufs, int nb, const cx_buf *b)
{
    int64_t best = -1;
    for (int c = -1; c < nb; c++) {
        if (c >= 0 && (!bufs[c].placed || !overlaps(&bufs[c], b))) continue;
        int64_t off = c < 0 ? 0 : align4(bufs[c].off + bufs[c].size);
        if (best >= 0 && off >= best) continue;
        int ok = 1;
        for (int k = 0; k < nb && ok; k++)
            if (bufs[k].placed && overlaps(&bufs[k], b) && off < bufs[k].off + bufs[k].size &&
                bufs[k].off < off + b->size)
                ok = 0;
        if (ok) best = off;
    }
    return best;
}

nq_status cx_arena_assign(cx_plan *p, nq_error *err)
{
    const nq_graph *g = p->g;
    cx_buf *bufs = calloc(2 * (size_t)p->n_steps + 1, sizeof *bufs);
    int *buf_of = malloc((size_t)g->n_values * sizeof *buf_of);
    if (bufs == NULL || buf_of == NULL) {
        free(bufs);
        free(buf_of);
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    for (int v = 0; v < g->n_values; v++) buf_of[v] = -1;
    int nb = 0;
    for (int i = 0; i < p->n_steps; i++) {
        const cx_step *s = &p->steps[i];
        if (s->kind == CX_ALIAS || p->loc[s->y] != CX_LOC_ARENA) continue;
        const nq_value *y = g->values[s->y];
        bufs[nb].merged = -1;
        bufs[nb].value = s->y;
        bufs[nb].def = i;
        bufs[nb].last = i;
        bufs[nb].size = cx_numel(y) * (int64_t)nq_dtype_size(y->dtype);
        buf_of[s->y] = nb++;
        if (s->scratch_bytes > 0) {
            bufs[nb].merged = -1;
            bufs[nb].value = -1;
            bufs[nb].def = bufs[nb].last = i;
            bufs[nb++].size = s->scratch_bytes;
        }
    }
    /* last reads: every data input of a step, through aliases */
    for (int i = 0; i < p->n_steps; i++) {
        const nq_node *n = p->steps[i].node;
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            if (v < 0 || p->loc[v] != CX_LOC_ARENA) continue;
            int b = buf_of[p->root[v]];
            if (b >= 0 && bufs[b].last < i) bufs[b].last = i;
        }
    }
    for (int k = 0; k < p->n_out; k++) {
        int v = p->out_value[k];
        if (p->loc[v] != CX_LOC_ARENA) continue;
        int b = buf_of[p->root[v]];
        if (b >= 0) bufs[b].last = p->n_steps;
    }
    /* in place: element-wise steps write over an input read for the last time */
    for (int i = 0; i < p->n_steps; i++) {
        const cx_step *s = &p->steps[i];
        if (!elementwise(s) || p->loc[s->y] != CX_LOC_ARENA) continue;
        const int ins[2] = {s->x, s->b2};
        for (int k = 0; k < 2; k++) {
            int v = ins[k];
            if (v < 0 || p->loc[v] != CX_LOC_ARENA ||
                cx_numel(g->values[v]) != cx_numel(g->values[s->y]) ||
                nq_dtype_size(g->values[v]->dtype) < nq_dtype_size(g->values[s->y]->dtype))
                continue;
            int bx = find(bufs, buf_of[p->root[v]]), by = buf_of[s->y];
            if (bufs[bx].last != i || by < 0 || bufs[by].merged >= 0) continue;
            bufs[by].merged = bx;
            bufs[bx].last = bufs[by].last;
            break;
        }
    }
    int64_t total = 0;
    for (int b = 0; b < nb; b++) {
        if (bufs[b].merged >= 0) continue;
        bufs[b].off = first_fit(bufs, nb, &bufs[b]);
        bufs[b].placed = 1;
        if (bufs[b].off + bufs[b].size > total) total = bufs[b].off + bufs[b].size;
    }
    for (int b = 0; b < nb; b++)
        if (bufs[b].merged >= 0) bufs[b].off = bufs[find(bufs, b)].off;
    for (int v = 0; v < g->n_values; v++)
        if (p->loc[v] == CX_LOC_ARENA) p->offset[v] = bufs[buf_of[p->root[v]]].off;
    for (int b = 0; b < nb; b++)
        if (bufs[b].value < 0) p->steps[bufs[b].def].scratch_off = bufs[b].off;
    p->arena_bytes = (size_t)align4(total);
    free(bufs);
    free(buf_of);
    return NQ_OK;
}
