/* Execution plans: shapes for the inputs at hand, plan-time folding of
 * values that do not depend on input data, and one arena whose buffers are
 * reused by liveness. */
#include <stdlib.h>
#include <string.h>

#include "run/run_internal.h"

#define NQ_ALIGN 64
#define NQ_SMALL_INT_INPUT 64 /* int inputs up to this many elements are plan-time known */

int nq_input_is_small_int(const nq_tensor *t)
{
    return (t->dtype == NQ_DTYPE_INT64 || t->dtype == NQ_DTYPE_INT32) &&
           nq_tensor_numel(t) <= NQ_SMALL_INT_INPUT;
}

static size_t align_up(size_t n) { return (n + NQ_ALIGN - 1) / NQ_ALIGN * NQ_ALIGN; }

void nq_plan_free(nq_plan *p)
{
    if (p == NULL) return;
    for (int v = 0; v < p->n_values; v++) nq_tensor_free(&p->slots[v].t);
    for (int s = 0; s < p->n_steps; s++) {
        free(p->steps[s].in);
        free(p->steps[s].out);
        for (int k = 0; k < p->steps[s].n_epi; k++) {
            free((void *)p->steps[s].epi[k].c.in);
            free((void *)p->steps[s].epi[k].c.out);
        }
    }
    free(p->uses);
    for (int i = 0; i < p->n_inputs; i++) nq_tensor_free(&p->keys[i]);
    free(p->keys);
    free(p->slots);
    free(p->steps);
    free(p->arena);
    free(p->scratch);
    free(p);
}

int nq_plan_matches(const nq_plan *p, const nq_tensor *inputs, int n_inputs)
{
    if (p == NULL || p->n_inputs != n_inputs) return 0;
    for (int i = 0; i < n_inputs; i++) {
        if (!nq_tensor_same_shape(&p->keys[i], &inputs[i])) return 0;
        if (p->keys[i].data != NULL && !nq_tensor_equal(&p->keys[i], &inputs[i])) return 0;
    }
    return 1;
}

static nq_status check_input(const nq_graph *g, int i, const nq_tensor *t, nq_error *err)
{
    const nq_value *v = g->values[g->inputs[i]];
    char want[96], got[96];
    if (v->dtype != NQ_DTYPE_UNDEFINED && v->dtype != t->dtype)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "input '%s': expected %s data, got %s",
                            v->name, nq_dtype_name(v->dtype), nq_dtype_name(t->dtype));
    if (v->ndim < 0) return NQ_OK;
    int ok = v->ndim == t->ndim;
    for (int d = 0; ok && d < v->ndim; d++)
        if (v->dims[d] >= 0 && v->dims[d] != t->dims[d]) ok = 0;
    if (!ok)
        return nq_error_set(err, NQ_ERR_SHAPE, "input '%s': expected shape %s, got %s", v->name,
                            nq_shape_str(v->ndim, v->dims, want, sizeof want),
                            nq_shape_str(t->ndim, t->dims, got, sizeof got));
    return NQ_OK;
}

/* Greedy-by-size placement: largest first (by bytes before alignment,
 * equal sizes in value order), each at the lowest offset that overlaps no
 * placed buffer whose lifetime intersects its own. Only those placed
 * buffers are looked at, in offset order (a sweep), not every placed one
 * until nothing moves: 5,000 layers took seconds a plan. */
typedef struct placed_buf {
    int def, last;
    size_t off, size;
} placed_buf;

typedef struct sized_value {
    size_t size;
    int v;
} sized_value;

static int by_size(const void *a, const void *b)
{
    const sized_value *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return (x->v > y->v) - (x->v < y->v);
}

static int by_offset(const void *a, const void *b)
{
    const placed_buf *x = *(placed_buf *const *)a, *y = *(placed_buf *const *)b;
    return (x->off > y->off) - (x->off < y->off);
}

static nq_status place_buffers(nq_plan *p, nq_error *err)
{
    const size_t n_all = (size_t)p->n_values + 1;
    sized_value *order = malloc(sizeof(sized_value) * n_all);
    placed_buf *placed = malloc(sizeof(placed_buf) * n_all);
    placed_buf **hits = malloc(sizeof(placed_buf *) * n_all);
    if (order == NULL || placed == NULL || hits == NULL) {
        free(order), free(placed), free(hits);
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    int n = 0;
    for (int v = 0; v < p->n_values; v++)
        if (p->slots[v].kind == NQ_SLOT_ACT) order[n++] = (sized_value){nq_tensor_nbytes(&p->slots[v].t), v};
    qsort(order, (size_t)n, sizeof(sized_value), by_size);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        nq_slot *s = &p->slots[order[i].v];
        const size_t sz = align_up(order[i].size);
        int n_hits = 0;
        for (int k = 0; k < i; k++)
            if (!(placed[k].last < s->def_step || s->last_step < placed[k].def)) hits[n_hits++] = &placed[k];
        qsort(hits, (size_t)n_hits, sizeof(placed_buf *), by_offset);
        size_t offset = 0;
        for (int k = 0; k < n_hits && hits[k]->off < offset + sz; k++)
            if (hits[k]->off + hits[k]->size > offset) offset = hits[k]->off + hits[k]->size;
        s->offset = offset;
        placed[i] = (placed_buf){s->def_step, s->last_step, offset, sz};
        if (offset + sz > total) total = offset + sz;
    }
    p->arena_bytes = total;
    free(order), free(placed), free(hits);
    return NQ_OK;
}

static nq_status make_step(nq_plan *p, const nq_node *n, nq_step *st, nq_error *err)
{
    st->node = n;
    st->def = nq_op_get(n->op);
    st->in = calloc((size_t)(n->n_inputs + 1), sizeof(nq_tensor *));
    st->out = calloc((size_t)(n->n_outputs + 1), sizeof(nq_tensor *));
    if (st->in == NULL || st->out == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n->n_inputs; k++)
        st->in[k] = n->inputs[k] >= 0 ? &p->slots[n->inputs[k]].t : NULL;
    for (int k = 0; k < n->n_outputs; k++)
        st->out[k] = n->outputs[k] >= 0 ? &p->slots[n->outputs[k]].t : NULL;
    return NQ_OK;
}

/* Appends node n (its would-be step st, shapes inferred) to the fused nodes
 * of the step that makes its input 0, when that step takes epilogues, n has
 * an epilogue that fits this node (and needs no scratch), n alone reads that
 * float32 value, n's other inputs are known and it has one output, of the
 * same shape. Then
 * the step writes n's output, st's tensor lists belong to the step and 1 is
 * returned; else 0 and nothing changed. */
static int fuse_into_producer(const nq_graph *g, nq_plan *p, const nq_node *n, nq_step *st)
{
    const nq_epilogue_def *e = st->def->epilogue;
    const int v = n->n_inputs > 0 ? n->inputs[0] : -1;
    if (e == NULL || st->def->scratch != NULL || v < 0 || p->slots[v].kind != NQ_SLOT_ACT ||
        p->slots[v].def_step < 0 || p->uses[v] != 1)
        return 0;
    nq_slot *sv = &p->slots[v];
    nq_step *prod = &p->steps[sv->def_step];
    if (!prod->def->takes_epilogues || prod->n_epi >= NQ_MAX_FUSED || prod->out[0] != &sv->t ||
        prod->in[0] == NULL || prod->in[0]->dtype != NQ_DTYPE_FLOAT32 ||
        sv->t.dtype != NQ_DTYPE_FLOAT32)
        return 0;
    for (int k = 1; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0 && p->slots[n->inputs[k]].kind != NQ_SLOT_CONST) return 0;
    for (int k = 1; k < n->n_outputs; k++)
        if (n->outputs[k] >= 0) return 0;
    if (n->n_outputs < 1 || n->outputs[0] < 0 || !nq_tensor_same_shape(st->out[0], &sv->t)) return 0;
    /* no error sink: the plan outlives the caller's */
    nq_kctx c = {.node = n, .opset = nq_graph_opset(g, n->domain), .n_in = n->n_inputs,
                 .in = st->in, .n_out = n->n_outputs, .out = st->out, .num_threads = 1};
    if (!e->fusable(&c)) return 0;
    prod->epi[prod->n_epi++] = (nq_fused){e, c};
    prod->out[0] = st->out[0];
    sv->kind = NQ_SLOT_FUSED;
    nq_slot *so = &p->slots[n->outputs[0]];
    so->kind = NQ_SLOT_ACT;
    so->def_step = so->last_step = sv->def_step;
    st->in = NULL;
    st->out = NULL;
    return 1;
}

/* Plans one node: infer shapes; fold it when everything it reads is known. */
static nq_status plan_node(const nq_graph *g, nq_plan *p, const nq_node *n, int num_threads,
                           nq_error *err)
{
    const nq_op_def *def = nq_op_get(n->op);
    if (def == NULL || def->infer == NULL)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s': unsupported operator %s",
                            n->name, n->op_type);
    nq_step *st = &p->steps[p->n_steps];
    nq_status s = make_step(p, n, st, err);
    if (s != NQ_OK) return s;
    int known = 1;
    for (int k = 0; k < n->n_inputs; k++) {
        int v = n->inputs[k];
        if (v < 0) continue;
        if (p->slots[v].kind == NQ_SLOT_UNUSED)
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "node '%s' (%s): input '%s' is not defined",
                                n->name, n->op_type, g->values[v]->name);
        if (p->slots[v].kind != NQ_SLOT_CONST) known = 0;
    }
    if (def->shape_only) known = 1;
    s = nq_exec_node(g, n, st->in, st->out, known, num_threads, err);
    if (s != NQ_OK) {
        free(st->in);
        free(st->out);
        st->in = NULL;
        st->out = NULL;
        return s;
    }
    if (!known && p->fuse && fuse_into_producer(g, p, n, st)) return NQ_OK;
    for (int k = 0; k < n->n_outputs; k++) {
        int v = n->outputs[k];
        if (v < 0) continue;
        p->slots[v].kind = known ? NQ_SLOT_CONST : NQ_SLOT_ACT;
        p->slots[v].def_step = p->n_steps;
        p->slots[v].last_step = p->n_steps;
    }
    if (known) {
        free(st->in);
        free(st->out);
        st->in = NULL;
        st->out = NULL;
        return NQ_OK;
    }
    nq_kctx c = {.node = n, .opset = nq_graph_opset(g, n->domain), .n_in = n->n_inputs,
                 .in = st->in, .n_out = n->n_outputs, .out = st->out,
                 .num_threads = num_threads, .err = err};
    st->scratch = def->scratch ? def->scratch(&c) : 0;
    if (st->scratch > p->scratch_bytes) p->scratch_bytes = st->scratch;
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0) p->slots[n->inputs[k]].last_step = p->n_steps;
    p->n_steps++;
    return NQ_OK;
}

static nq_status init_slots(const nq_graph *g, nq_plan *p, const nq_tensor *inputs, nq_error *err)
{
    for (int v = 0; v < g->n_values; v++) {
        const nq_value *val = g->values[v];
        if (val->init == NULL) continue;
        p->slots[v].kind = NQ_SLOT_CONST;
        p->slots[v].t = *val->init;
        p->slots[v].t.owns_data = 0;
        p->slots[v].def_step = -1;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        nq_status s = check_input(g, i, &inputs[i], err);
        if (s != NQ_OK) return s;
        nq_slot *sl = &p->slots[g->inputs[i]];
        nq_tensor *key = &p->keys[i];
        if (nq_input_is_small_int(&inputs[i])) {
            s = nq_tensor_copy(key, &inputs[i], err);
            if (s != NQ_OK) return s;
            s = nq_tensor_copy(&sl->t, &inputs[i], err);
            if (s != NQ_OK) return s;
            sl->kind = NQ_SLOT_CONST;
        } else {
            s = nq_tensor_init(key, inputs[i].dtype, inputs[i].ndim, inputs[i].dims, err);
            if (s != NQ_OK) return s;
            sl->t = *key;
            sl->kind = NQ_SLOT_INPUT;
        }
        sl->def_step = -1;
    }
    p->n_inputs = g->n_inputs;
    return NQ_OK;
}

/* p->uses: input slots reading each value, plus one per graph output. */
static nq_status count_uses(const nq_graph *g, nq_plan *p, nq_error *err)
{
    p->uses = calloc((size_t)(g->n_values + 1), sizeof(int));
    if (p->uses == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i]->n_inputs; k++)
            if (g->nodes[i]->inputs[k] >= 0) p->uses[g->nodes[i]->inputs[k]]++;
    for (int i = 0; i < g->n_outputs; i++) p->uses[g->outputs[i]]++;
    return NQ_OK;
}

nq_status nq_plan_build(const nq_graph *g, const nq_tensor *inputs, int n_inputs,
                        int num_threads, int allocate, int fuse, nq_plan **out, nq_error *err)
{
    *out = NULL;
    if (n_inputs != g->n_inputs)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "the model has %d input%s, %d given",
                            g->n_inputs, g->n_inputs == 1 ? "" : "s", n_inputs);
    nq_plan *p = calloc(1, sizeof *p);
    if (p == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    p->n_values = g->n_values;
    p->slots = calloc((size_t)(g->n_values + 1), sizeof(nq_slot));
    p->steps = calloc((size_t)(g->n_nodes + 1), sizeof(nq_step));
    p->keys = calloc((size_t)(g->n_inputs + 1), sizeof(nq_tensor));
    nq_status s = NQ_OK;
    if (!p->slots || !p->steps || !p->keys) {
        s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((s = init_slots(g, p, inputs, err)) != NQ_OK) goto fail;
    p->fuse = fuse;
    if (fuse && (s = count_uses(g, p, err)) != NQ_OK) goto fail;
    for (int i = 0; i < g->n_nodes; i++)
        if ((s = plan_node(g, p, g->nodes[i], num_threads, err)) != NQ_OK) goto fail;
    for (int i = 0; i < g->n_outputs; i++) {
        nq_slot *sl = &p->slots[g->outputs[i]];
        if (sl->kind == NQ_SLOT_UNUSED) {
            s = nq_error_set(err, NQ_ERR_INVALID_ARG, "graph output '%s' is never computed",
                             g->values[g->outputs[i]]->name);
            goto fail;
        }
        sl->last_step = p->n_steps;
    }
    free(p->uses);
    p->uses = NULL;
    if (allocate) {
        if ((s = place_buffers(p, err)) != NQ_OK) goto fail;
        p->arena = aligned_alloc(NQ_ALIGN, p->arena_bytes ? p->arena_bytes : NQ_ALIGN);
        size_t sb = align_up(p->scratch_bytes ? p->scratch_bytes : 1);
        p->scratch = aligned_alloc(NQ_ALIGN, sb);
        if (p->arena == NULL || p->scratch == NULL) {
            s = nq_error_set(err, NQ_ERR_NOMEM, "cannot allocate %zu bytes of activations",
                             p->arena_bytes);
            goto fail;
        }
        for (int v = 0; v < p->n_values; v++)
            if (p->slots[v].kind == NQ_SLOT_ACT)
                p->slots[v].t.data = (char *)p->arena + p->slots[v].offset;
    }
    *out = p;
    return NQ_OK;
fail:
    nq_plan_free(p);
    return s;
}
