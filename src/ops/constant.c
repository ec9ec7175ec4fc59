/*
 * Constant (value tensor; value_float(s) / value_int(s) of opset 12) and
 * Shape (start/end of opset 15). Shape is shape_only: its forward reads
 * only the input's shape, never its data, so the runtime can run it at
 * plan time.
 */
#include "movement.h"

/* ---- Constant --------------------------------------------------------- */

static nq_status constant_attr(const nq_kctx *c, const nq_attr **out)
{
    static const char *const unsupported[] = {"sparse_value", "value_string", "value_strings"};
    static const char *const names[] = {"value", "value_float", "value_floats", "value_int",
                                        "value_ints"};
    for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
        if (nq_node_attr(c->node, unsupported[i]) != NULL)
            return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "attribute '%s' is not supported",
                                unsupported[i]);
    *out = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const nq_attr *a = nq_node_attr(c->node, names[i]);
        if (a == NULL) continue;
        if (*out != NULL) return nq_kctx_fail(c, NQ_ERR_SHAPE, "more than one value attribute");
        *out = a;
    }
    if (*out == NULL) return nq_kctx_fail(c, NQ_ERR_SHAPE, "missing attribute 'value'");
    nq_attr_type want = strcmp((*out)->name, "value") == 0 ? NQ_ATTR_TENSOR
                      : strcmp((*out)->name, "value_float") == 0 ? NQ_ATTR_FLOAT
                      : strcmp((*out)->name, "value_floats") == 0 ? NQ_ATTR_FLOATS
                      : strcmp((*out)->name, "value_int") == 0 ? NQ_ATTR_INT : NQ_ATTR_INTS;
    if ((*out)->type != want || (want == NQ_ATTR_TENSOR && (*out)->t == NULL))
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "attribute '%s' has the wrong type", (*out)->name);
    return NQ_OK;
}

static nq_status constant_infer(nq_kctx *c)
{
    const nq_attr *a;
    nq_status s = constant_attr(c, &a);
    if (s != NQ_OK) return s;
    int64_t n = a->n;
    switch (a->type) {
    case NQ_ATTR_TENSOR: return nq_mv_set_out(c, 0, a->t->dtype, a->t->ndim, a->t->dims);
    case NQ_ATTR_FLOAT: return nq_mv_set_out(c, 0, NQ_DTYPE_FLOAT32, 0, NULL);
    case NQ_ATTR_INT: return nq_mv_set_out(c, 0, NQ_DTYPE_INT64, 0, NULL);
    case NQ_ATTR_FLOATS: return nq_mv_set_out(c, 0, NQ_DTYPE_FLOAT32, 1, &n);
    default: return nq_mv_set_out(c, 0, NQ_DTYPE_INT64, 1, &n);
    }
}

static nq_status constant_forward(nq_kctx *c)
{
    const nq_attr *a;
    nq_status s = constant_attr(c, &a);
    if (s != NQ_OK) return s;
    nq_tensor *y = c->out[0];
    const void *src;
    switch (a->type) {
    case NQ_ATTR_TENSOR: src = a->t->data; break;
    case NQ_ATTR_FLOAT: src = &a->f; break;
    case NQ_ATTR_INT: src = &a->i; break;
    case NQ_ATTR_FLOATS: src = a->floats; break;
    default: src = a->ints; break;
    }
    size_t n = nq_tensor_nbytes(y);
    if (n > 0 && src == NULL) return nq_kctx_fail(c, NQ_ERR_SHAPE, "value tensor has no data");
    nq_mv_copy(y->data, src, n);
    return NQ_OK;
}

const nq_op_def nq_def_Constant = {.name = "Constant", .infer = constant_infer, .forward = constant_forward};

/* ---- Shape ------------------------------------------------------------ */

static void shape_range(const nq_kctx *c, int r, int64_t *start, int64_t *end)
{
    int64_t s = 0, e = r;
    if (c->opset >= 15) {
        s = nq_node_attr_int(c->node, "start", 0);
        e = nq_node_attr_int(c->node, "end", r);
    }
    if (s < 0) s += r;
    if (e < 0) e += r;
    *start = s < 0 ? 0 : s > r ? r : s;
    *end = e < 0 ? 0 : e > r ? r : e;
    if (*end < *start) *end = *start;
}

static nq_status shape_infer(nq_kctx *c)
{
    const nq_tensor *x;
    nq_status s = nq_mv_need_in(c, 0, "data", &x);
    if (s != NQ_OK) return s;
    int64_t start, end;
    shape_range(c, x->ndim, &start, &end);
    int64_t n = end - start;
    return nq_mv_set_out(c, 0, NQ_DTYPE_INT64, 1, &n);
}

static nq_status shape_forward(nq_kctx *c)
{
    const nq_tensor *x = c->in[0];
    int64_t start, end;
    shape_range(c, x->ndim, &start, &end);
    int64_t *y = (int64_t *)c->out[0]->data;
    for (int64_t i = start; i < end; i++) y[i - start] = x->dims[i];
    return NQ_OK;
}

const nq_op_def nq_def_Shape = {.name = "Shape", .infer = shape_infer, .forward = shape_forward, .shape_only = 1};
