/* The activation arena of a plan: on random graphs, buffers that are live
 * at the same time never share bytes, and each sits where the reference
 * greedy placement puts it (largest first, by bytes, equal sizes in value
 * order; the lowest offset clear of every live buffer placed before it,
 * found by bumping past conflicts until there are none). */
#include <stdint.h>
#include <string.h>

#include "nnquant/core.h"
#include "nnquant/run.h"
#include "nqtest.h"
#include "nnquant/ops.h"
#include "run/run_internal.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Du;
static int irand(int lo, int hi) /* [lo, hi] */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return lo + (int)((rng_state * 0x2545F4914F6CDD1Du) % (uint64_t)(hi - lo + 1));
}

static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

static int live_together(const nq_slot *a, const nq_slot *b)
{
    return !(a->last_step < b->def_step || b->last_step < a->def_step);
}

static int overlap_bytes(size_t a, size_t na, size_t b, size_t nb) { return a < b + nb && b < a + na; }

/* A random DAG of Relu, Add and Concat (axis 1) over inputs [1, w]. */
static nq_graph *random_graph(int nodes, int *n_inputs, int64_t *widths_in)
{
    nq_graph *g = nq_graph_create("plan");
    int64_t width[512];
    int vals = 0;
    char name[32];
    *n_inputs = irand(1, 3);
    for (int i = 0; i < *n_inputs; i++) {
        snprintf(name, sizeof name, "in%d", i);
        int v = nq_graph_add_value(g, name, NULL);
        REQUIRE(v == vals && nq_graph_add_input(g, v, NULL) == NQ_OK);
        g->values[v]->dtype = NQ_DTYPE_FLOAT32;
        g->values[v]->ndim = 2;
        g->values[v]->dims[0] = 1;
        g->values[v]->dims[1] = width[vals++] = widths_in[i] = irand(1, 300);
    }
    for (int i = 0; i < nodes && vals < 500; i++) {
        int a = irand(0, vals - 1), b = irand(0, vals - 1), op = irand(0, 2);
        if (op == 1 && width[a] != width[b]) op = 0;
        snprintf(name, sizeof name, "v%d", vals);
        int y = nq_graph_add_value(g, name, NULL);
        int ins[2] = {a, b};
        const char *types[3] = {"Relu", "Add", "Concat"};
        nq_node *n = nq_graph_add_node(g, types[op], NULL, op == 0 ? 1 : 2, ins, 1, &y, NULL);
        REQUIRE(y == vals && n != NULL);
        if (op == 2) REQUIRE(nq_node_set_int(n, "axis", 1) == NQ_OK);
        width[vals++] = op == 2 ? width[a] + width[b] : width[a];
        if (irand(0, 9) == 0) REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);
    }
    if (g->n_outputs == 0) REQUIRE(nq_graph_add_output(g, vals - 1, NULL) == NQ_OK);
    REQUIRE(nq_graph_set_opset(g, "", 13, NULL) == NQ_OK);
    REQUIRE(nq_ops_resolve(g, NULL) == NQ_OK);
    return g;
}

int main(void)
{
    int bad = 0, checked = 0;
    for (int it = 0; it < 60 && !bad; it++) {
        int n_in = 0;
        int64_t widths[3];
        nq_graph *g = random_graph(irand(1, 300), &n_in, widths);
        nq_tensor in[3];
        for (int i = 0; i < n_in; i++) {
            int64_t dims[2] = {1, widths[i]};
            REQUIRE(nq_tensor_alloc(&in[i], NQ_DTYPE_FLOAT32, 2, dims, NULL) == NQ_OK);
        }
        nq_plan *p = NULL;
        nq_error err = {0};
        if (nq_plan_build(g, in, n_in, 1, 1, 1, &p, &err) != NQ_OK) {
            fprintf(stderr, "plan: %s\n", err.msg);
            REQUIRE(0);
        }
        /* the reference placement */
        int order[512], n = 0;
        for (int v = 0; v < p->n_values; v++)
            if (p->slots[v].kind == NQ_SLOT_ACT) order[n++] = v;
        for (int i = 1; i < n; i++) /* stable: equal sizes keep value order */
            for (int j = i; j > 0 && nq_tensor_nbytes(&p->slots[order[j - 1]].t) <
                                         nq_tensor_nbytes(&p->slots[order[j]].t); j--) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        size_t off[512], total = 0;
        for (int i = 0; i < n; i++) {
            const nq_slot *s = &p->slots[order[i]];
            size_t o = 0, size = align64(nq_tensor_nbytes(&s->t));
            for (int again = 1; again;) {
                again = 0;
                for (int k = 0; k < i; k++) {
                    const nq_slot *q = &p->slots[order[k]];
                    size_t qs = align64(nq_tensor_nbytes(&q->t));
                    if (live_together(s, q) && overlap_bytes(o, size, off[k], qs)) o = off[k] + qs, again = 1;
                }
            }
            off[i] = o;
            if (o + size > total) total = o + size;
            bad += s->offset != o;
            checked++;
        }
        bad += p->arena_bytes != total;
        /* and, whatever the reference says, live buffers never collide */
        for (int i = 0; i < n; i++)
            for (int k = 0; k < i; k++) {
                const nq_slot *a = &p->slots[order[i]], *b = &p->slots[order[k]];
                if (live_together(a, b) && nq_tensor_nbytes(&a->t) && nq_tensor_nbytes(&b->t) &&
                    overlap_bytes(a->offset, nq_tensor_nbytes(&a->t), b->offset, nq_tensor_nbytes(&b->t)))
                    bad++;
            }
        if (bad) fprintf(stderr, "iteration %d: %d values, placement differs\n", it, p->n_values);
        nq_plan_free(p);
        for (int i = 0; i < n_in; i++) nq_tensor_free(&in[i]);
        nq_graph_free(g);
    }
    CHECK(bad == 0);
    CHECK(checked > 1000);
    TEST_MAIN_END();
}
