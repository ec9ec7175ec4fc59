/*
 * Cast between float32, float64, int8, uint8, int16, int32, int64 and bool
 * (every pair: one kernel each, generated below, in a table indexed by
 * [source dtype][target dtype]). The target is the ONNX `to` attribute, a
 * TensorProto.DataType number (or its name, "FLOAT", in Cast-1); other targets (float16, bfloat16, string,
 * uint16/32/64, float8, int4/uint4...) are NQ_ERR_UNSUPPORTED.
 *
 * Semantics (numpy / ONNX reference where it is defined):
 *  - float -> integer truncates toward zero; out-of-range values saturate to
 *    the target's min/max and NaN gives 0 (numpy leaves these undefined);
 *  - integer -> narrower integer wraps around (two's complement), as numpy;
 *  - anything -> bool is (x != 0) (NaN -> true); bool -> anything is 0/1;
 *  - float64 -> float32 rounds to nearest even; int64 -> float rounds.
 */
#include <float.h>
#include <string.h>

#include "ops/elemwise.h"

typedef void (*cast_fn)(const void *x, void *y, int64_t n);

/* Conversion of one value v of kind S (F float, I integer, B bool) to type
 * DT of kind D with range [MN, MX]. */
#define CONV_F_F(v, DT, MN, MX) ((DT)(v))
#define CONV_F_I(v, DT, MN, MX)                                                            \
    ((v) != (v) ? (DT)0                                                                    \
     : (double)(v) <= (double)(MN) ? (DT)(MN)                                              \
     : (double)(v) >= (double)(MX) ? (DT)(MX)                                              \
                                   : (DT)(v))
#define CONV_F_B(v, DT, MN, MX) ((DT)((v) != 0))
#define CONV_I_F(v, DT, MN, MX) ((DT)(v))
#define CONV_I_I(v, DT, MN, MX) ((DT)(v))
#define CONV_I_B(v, DT, MN, MX) ((DT)((v) != 0))
#define CONV_B_F CONV_I_F
#define CONV_B_I CONV_I_I
#define CONV_B_B CONV_I_B

/* Target list: X(source args..., target suffix, C type, kind, min, max, enum). */
#define CAST_TARGETS(X, sn, ST, SK, SE)                                                    \
    X(sn, ST, SK, SE, f32, float, F, -FLT_MAX, FLT_MAX, FLOAT32)                           \
    X(sn, ST, SK, SE, f64, double, F, -DBL_MAX, DBL_MAX, FLOAT64)                          \
    X(sn, ST, SK, SE, i8, int8_t, I, INT8_MIN, INT8_MAX, INT8)                             \
    X(sn, ST, SK, SE, u8, uint8_t, I, 0, UINT8_MAX, UINT8)                                 \
    X(sn, ST, SK, SE, i16, int16_t, I, INT16_MIN, INT16_MAX, INT16)                        \
    X(sn, ST, SK, SE, i32, int32_t, I, INT32_MIN, INT32_MAX, INT32)                        \
    X(sn, ST, SK, SE, i64, int64_t, I, INT64_MIN, INT64_MAX, INT64)                        \
    X(sn, ST, SK, SE, b, uint8_t, B, 0, 1, BOOL)

/* Source list: Y(suffix, C type, kind, enum). */
#define CAST_SOURCES(Y)                                                                    \
    Y(f32, float, F, FLOAT32)                                                              \
    Y(f64, double, F, FLOAT64)                                                             \
    Y(i8, int8_t, I, INT8)                                                                 \
    Y(u8, uint8_t, I, UINT8)                                                               \
    Y(i16, int16_t, I, INT16)                                                              \
    Y(i32, int32_t, I, INT32)                                                              \
    Y(i64, int64_t, I, INT64)                                                              \
    Y(b, uint8_t, B, BOOL)

#define DEF_CAST(sn, ST, SK, SE, dn, DT, DK, MN, MX, DE)                                   \
    static void cast_##sn##_##dn(const void *px, void *py, int64_t n)                      \
    {                                                                                      \
        const ST *x = px;                                                                  \
        DT *y = py;                                                                        \
        for (int64_t i = 0; i < n; i++) y[i] = CONV_##SK##_##DK(x[i], DT, MN, MX);         \
    }
#define DEF_CASTS_FROM(sn, ST, SK, SE) CAST_TARGETS(DEF_CAST, sn, ST, SK, SE)
CAST_SOURCES(DEF_CASTS_FROM)

#define CAST_ENTRY(sn, ST, SK, SE, dn, DT, DK, MN, MX, DE)                                 \
    [NQ_DTYPE_##SE][NQ_DTYPE_##DE] = cast_##sn##_##dn,
#define CAST_ENTRIES_FROM(sn, ST, SK, SE) CAST_TARGETS(CAST_ENTRY, sn, ST, SK, SE)
static const cast_fn cast_table[NQ_DTYPE_COUNT][NQ_DTYPE_COUNT] = {
    CAST_SOURCES(CAST_ENTRIES_FROM)};

/* ONNX TensorProto.DataType -> nq_dtype (0: not supported here) and names
 * for the error message. */
static const nq_dtype onnx_types[] = {
    [1] = NQ_DTYPE_FLOAT32, [2] = NQ_DTYPE_UINT8, [3] = NQ_DTYPE_INT8,
    [5] = NQ_DTYPE_INT16,   [6] = NQ_DTYPE_INT32, [7] = NQ_DTYPE_INT64,
    [9] = NQ_DTYPE_BOOL,    [11] = NQ_DTYPE_FLOAT64,
};
static const char *const onnx_type_names[] = {
    [0] = "UNDEFINED", [1] = "FLOAT",  [2] = "UINT8",      [3] = "INT8",
    [4] = "UINT16",    [5] = "INT16",  [6] = "INT32",      [7] = "INT64",
    [8] = "STRING",    [9] = "BOOL",   [10] = "FLOAT16",   [11] = "DOUBLE",
    [12] = "UINT32",   [13] = "UINT64", [14] = "COMPLEX64", [15] = "COMPLEX128",
    [16] = "BFLOAT16", [17] = "FLOAT8E4M3FN", [18] = "FLOAT8E4M3FNUZ", [19] = "FLOAT8E5M2",
    [20] = "FLOAT8E5M2FNUZ", [21] = "UINT4", [22] = "INT4", [23] = "FLOAT4E2M1",
};
#define N_ONNX_TYPES ((int64_t)(sizeof onnx_types / sizeof onnx_types[0]))
#define N_ONNX_NAMES ((int64_t)(sizeof onnx_type_names / sizeof onnx_type_names[0]))

/* The `to` attribute: a DataType number, or its name (Cast-1: "FLOAT"). */
static int64_t cast_target(const nq_attr *to)
{
    if (to->type == NQ_ATTR_INT) return to->i;
    for (int64_t i = 1; to->type == NQ_ATTR_STRING && to->s && i < N_ONNX_NAMES; i++)
        if (onnx_type_names[i] && strcmp(onnx_type_names[i], to->s) == 0) return i;
    return -1;
}

static nq_status cast_check(nq_kctx *c, cast_fn *fn)
{
    nq_status s = nq_elem_check_io(c, 1, 1);
    if (s != NQ_OK) return s;
    const nq_attr *to = nq_node_attr(c->node, "to");
    if (to == NULL || (to->type != NQ_ATTR_INT && to->type != NQ_ATTR_STRING))
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "missing integer attribute 'to'");
    int64_t t = cast_target(to);
    nq_dtype dst = t > 0 && t < N_ONNX_TYPES ? onnx_types[t] : NQ_DTYPE_UNDEFINED;
    if (dst == NQ_DTYPE_UNDEFINED) {
        const char *name = t >= 0 && t < N_ONNX_NAMES && onnx_type_names[t]
                               ? onnx_type_names[t]
                               : to->type == NQ_ATTR_STRING && to->s ? to->s : "unknown";
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "cast to %s (ONNX type %lld) is not supported",
                            name, (long long)t);
    }
    nq_dtype src = c->in[0]->dtype;
    *fn = src > NQ_DTYPE_UNDEFINED && src < NQ_DTYPE_COUNT ? cast_table[src][dst] : NULL;
    if (*fn == NULL)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "cast from %s is not supported",
                            nq_dtype_name(src));
    nq_elem_same_shape(c, 0, dst);
    return NQ_OK;
}

static nq_status cast_infer(nq_kctx *c)
{
    cast_fn fn;
    return cast_check(c, &fn);
}

typedef struct cast_job {
    cast_fn fn;
    const char *x;
    char *y;
    size_t ex, ey;
} cast_job;

static void cast_range(void *ctx, int64_t b, int64_t e)
{
    const cast_job *j = ctx;
    j->fn(j->x + (size_t)b * j->ex, j->y + (size_t)b * j->ey, e - b);
}

static nq_status cast_forward(nq_kctx *c)
{
    cast_fn fn;
    nq_status s = cast_check(c, &fn);
    if (s != NQ_OK) return s;
    const nq_tensor *x = c->in[0];
    nq_tensor *y = c->out[0];
    int64_t n = nq_tensor_numel(x);
    if (n == 0) return NQ_OK;
    if (x->data == NULL || y->data == NULL)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "tensor data missing");
    cast_job j = {fn, x->data, y->data, nq_dtype_size(x->dtype), nq_dtype_size(y->dtype)};
    nq_par_range(n, NQ_PAR_GRAIN, c->num_threads, cast_range, &j);
    return NQ_OK;
}

const nq_op_def nq_def_Cast = {.name = "Cast", .infer = cast_infer, .forward = cast_forward};
