/*
 * Element-wise binary operators with numpy (multidirectional) broadcasting:
 * Add, Sub, Mul, Div, Pow, PRelu (opset 7+ broadcasting; the opset < 7
 * `broadcast`/`axis` attributes are not supported, except that PRelu before
 * opset 7 takes a 1-D slope of C values per channel, dim 1).
 *
 * One broadcast engine serves them all. The output shape is collapsed to as
 * few dims as possible (dropping 1s, merging neighbours along which both
 * inputs are contiguous or both repeated), so that in the innermost dim each
 * input is either contiguous (stride 1) or one repeated value (stride 0).
 * A per-op, per-dtype row function (the kernel lists below) runs over each
 * such row. Same-shape and scalar operands collapse to a single row (split
 * across threads); a per-channel [C,1,1] operand to rows of H*W against a
 * repeated value; [.., W] against [W] to contiguous rows.
 *
 * Integer semantics: Add/Sub/Mul wrap around (two's complement, as numpy);
 * Div truncates toward zero (C, ONNX Runtime); x / 0 gives 0 and
 * INT_MIN / -1 gives INT_MIN instead of trapping. Integer Pow with an
 * integer exponent is exact with wrap-around; a negative exponent gives the
 * truncated 1 / x^-e (0 unless |x| == 1). Integer base with a float
 * exponent: pow() in double, truncated toward zero and saturated.
 * Float Pow with an integer exponent: powf(x, (float)e).
 */
#include <math.h>
#include <string.h>

#include "ops/elemwise.h"

/* Y[i] = f(A[i*sa], B[i*sb]) for i < n; sa, sb are 0 (repeat) or 1. */
typedef void (*bin_row_fn)(const void *a, int64_t sa, const void *b, int64_t sb, void *y,
                           int64_t n);

#define BIN_ROW(name, TA, TB, TY, expr)                                                   \
    static void name(const void *pa, int64_t sa, const void *pb, int64_t sb, void *py,     \
                     int64_t n)                                                            \
    {                                                                                      \
        const TA *A = pa;                                                                  \
        const TB *B = pb;                                                                  \
        TY *Y = py;                                                                        \
        if (sa && sb) {                                                                    \
            for (int64_t i = 0; i < n; i++) {                                              \
                TA a = A[i];                                                               \
                TB b = B[i];                                                               \
                Y[i] = (expr);                                                             \
            }                                                                              \
        } else if (sa) {                                                                   \
            const TB b = B[0];                                                             \
            for (int64_t i = 0; i < n; i++) {                                              \
                TA a = A[i];                                                               \
                Y[i] = (expr);                                                             \
            }                                                                              \
        } else if (sb) {                                                                   \
            const TA a = A[0];                                                             \
            for (int64_t i = 0; i < n; i++) {                                              \
                TB b = B[i];                                                               \
                Y[i] = (expr);                                                             \
            }                                                                              \
        } else {                                                                           \
            const TA a = A[0];                                                             \
            const TB b = B[0];                                                             \
            const TY v = (expr);                                                           \
            for (int64_t i = 0; i < n; i++) Y[i] = v;                                      \
        }                                                                                  \
    }

/* ---- scalar helpers for integers (no undefined behaviour on overflow) ---- */
#define INT_HELPERS(sfx, T, UT, TMIN)                                                      \
    static inline T add_##sfx(T a, T b) { return (T)((UT)a + (UT)b); }                     \
    static inline T sub_##sfx(T a, T b) { return (T)((UT)a - (UT)b); }                     \
    static inline T mul_##sfx(T a, T b) { return (T)((UT)a * (UT)b); }                     \
    static inline T div_##sfx(T a, T b)                                                    \
    {                                                                                      \
        if (b == 0) return 0;                                                              \
        if (b == -1) return (T)((UT)0 - (UT)a);                                            \
        return (T)(a / b);                                                                 \
    }                                                                                      \
    static inline T ipow_##sfx(T a, int64_t e)                                             \
    {                                                                                      \
        if (e < 0) return a == 1 ? 1 : a == -1 ? ((e & 1) ? -1 : 1) : 0;                   \
        UT r = 1, base = (UT)a;                                                            \
        while (e) {                                                                        \
            if (e & 1) r *= base;                                                          \
            base *= base;                                                                  \
            e >>= 1;                                                                       \
        }                                                                                  \
        return (T)r;                                                                       \
    }                                                                                      \
    static inline T fpow_##sfx(T a, double e)                                              \
    {                                                                                      \
        double v = pow((double)a, e);                                                      \
        if (v != v) return 0;                                                              \
        if (v <= (double)TMIN) return TMIN;                                                \
        if (v >= -(double)TMIN) return (T)(-(TMIN + 1));                                   \
        return (T)v;                                                                       \
    }
INT_HELPERS(i32, int32_t, uint32_t, INT32_MIN)
INT_HELPERS(i64, int64_t, uint64_t, INT64_MIN)

static inline uint8_t div_u8(uint8_t a, uint8_t b) { return b ? (uint8_t)(a / b) : 0; }

/* ---- row functions ---- */
#define ARITH_ROWS(sfx, T)                                                                 \
    BIN_ROW(add_##sfx##_row, T, T, T, a + b)                                               \
    BIN_ROW(sub_##sfx##_row, T, T, T, a - b)                                               \
    BIN_ROW(mul_##sfx##_row, T, T, T, a * b)                                               \
    BIN_ROW(div_##sfx##_row, T, T, T, a / b)
ARITH_ROWS(f32, float)
ARITH_ROWS(f64, double)
#define IARITH_ROWS(sfx, T)                                                                \
    BIN_ROW(add_##sfx##_row, T, T, T, add_##sfx(a, b))                                     \
    BIN_ROW(sub_##sfx##_row, T, T, T, sub_##sfx(a, b))                                     \
    BIN_ROW(mul_##sfx##_row, T, T, T, mul_##sfx(a, b))                                     \
    BIN_ROW(div_##sfx##_row, T, T, T, div_##sfx(a, b))
IARITH_ROWS(i32, int32_t)
IARITH_ROWS(i64, int64_t)
BIN_ROW(add_u8_row, uint8_t, uint8_t, uint8_t, (uint8_t)(a + b))
BIN_ROW(sub_u8_row, uint8_t, uint8_t, uint8_t, (uint8_t)(a - b))
BIN_ROW(mul_u8_row, uint8_t, uint8_t, uint8_t, (uint8_t)(a * b))
BIN_ROW(div_u8_row, uint8_t, uint8_t, uint8_t, div_u8(a, b))

BIN_ROW(pow_f32_f32_row, float, float, float, powf(a, b))
BIN_ROW(pow_f32_i32_row, float, int32_t, float, powf(a, (float)b))
BIN_ROW(pow_f32_i64_row, float, int64_t, float, powf(a, (float)b))
BIN_ROW(pow_f64_f64_row, double, double, double, pow(a, b))
BIN_ROW(pow_i32_i32_row, int32_t, int32_t, int32_t, ipow_i32(a, b))
BIN_ROW(pow_i32_i64_row, int32_t, int64_t, int32_t, ipow_i32(a, b))
BIN_ROW(pow_i64_i64_row, int64_t, int64_t, int64_t, ipow_i64(a, b))
BIN_ROW(pow_i64_i32_row, int64_t, int32_t, int64_t, ipow_i64(a, b))
BIN_ROW(pow_i32_f32_row, int32_t, float, int32_t, fpow_i32(a, b))
BIN_ROW(pow_i64_f32_row, int64_t, float, int64_t, fpow_i64(a, b))

BIN_ROW(prelu_f32_row, float, float, float, a < 0 ? a * b : a)

/* ---- per-op kernel lists: (dtype of A, dtype of B) -> row; output has A's dtype ---- */
typedef struct bin_kernel {
    nq_dtype a, b;
    bin_row_fn fn;
} bin_kernel;

#define SAME(sfx, DT) {NQ_DTYPE_##DT, NQ_DTYPE_##DT, sfx}
#define ARITH_KERNELS(op)                                                                  \
    static const bin_kernel op##_kernels[] = {                                             \
        SAME(op##_f32_row, FLOAT32), SAME(op##_f64_row, FLOAT64), SAME(op##_i32_row, INT32), \
        SAME(op##_i64_row, INT64),   SAME(op##_u8_row, UINT8),    {0, 0, NULL}};
ARITH_KERNELS(add)
ARITH_KERNELS(sub)
ARITH_KERNELS(mul)
ARITH_KERNELS(div)

static const bin_kernel pow_kernels[] = {
    {NQ_DTYPE_FLOAT32, NQ_DTYPE_FLOAT32, pow_f32_f32_row},
    {NQ_DTYPE_FLOAT32, NQ_DTYPE_INT32, pow_f32_i32_row},
    {NQ_DTYPE_FLOAT32, NQ_DTYPE_INT64, pow_f32_i64_row},
    {NQ_DTYPE_FLOAT64, NQ_DTYPE_FLOAT64, pow_f64_f64_row},
    {NQ_DTYPE_INT32, NQ_DTYPE_INT32, pow_i32_i32_row},
    {NQ_DTYPE_INT32, NQ_DTYPE_INT64, pow_i32_i64_row},
    {NQ_DTYPE_INT64, NQ_DTYPE_INT64, pow_i64_i64_row},
    {NQ_DTYPE_INT64, NQ_DTYPE_INT32, pow_i64_i32_row},
    {NQ_DTYPE_INT32, NQ_DTYPE_FLOAT32, pow_i32_f32_row},
    {NQ_DTYPE_INT64, NQ_DTYPE_FLOAT32, pow_i64_f32_row},
    {0, 0, NULL}};

static const bin_kernel prelu_kernels[] = {{NQ_DTYPE_FLOAT32, NQ_DTYPE_FLOAT32, prelu_f32_row},
                                           {0, 0, NULL}};

typedef struct bin_op {
    const bin_kernel *kernels;
    int unidirectional; /* B must broadcast to A's shape (PRelu's slope) */
} bin_op;

static bin_row_fn find_kernel(const bin_op *op, nq_dtype a, nq_dtype b)
{
    for (const bin_kernel *k = op->kernels; k->fn != NULL; k++)
        if (k->a == a && k->b == b) return k->fn;
    return NULL;
}

/* ---- the broadcast plan ---- */
typedef struct bin_plan {
    int nd;                     /* collapsed rank, >= 1 */
    int64_t dims[NQ_MAX_DIMS];  /* collapsed output dims */
    int64_t sa[NQ_MAX_DIMS];    /* element strides of A per dim, 0 = repeated */
    int64_t sb[NQ_MAX_DIMS];
} bin_plan;

/* Strides of t aligned to the right of an output of rank nd (0 where t repeats). */
static void bcast_strides(const nq_tensor *t, int nd, int64_t *s)
{
    int64_t step = 1;
    for (int i = nd - 1; i >= 0; i--) {
        int j = i - (nd - t->ndim);
        if (j < 0 || t->dims[j] == 1) {
            s[i] = 0;
        } else {
            s[i] = step;
            step *= t->dims[j];
        }
    }
}

static void plan_build(bin_plan *p, int nd, const int64_t *dims, const nq_tensor *a,
                       const nq_tensor *b)
{
    int64_t sa[NQ_MAX_DIMS], sb[NQ_MAX_DIMS];
    bcast_strides(a, nd, sa);
    bcast_strides(b, nd, sb);
    p->nd = 0;
    for (int i = 0; i < nd; i++) {
        if (dims[i] == 1) continue;
        int k = p->nd - 1;
        if (k >= 0 && p->sa[k] == sa[i] * dims[i] && p->sb[k] == sb[i] * dims[i]) {
            p->dims[k] *= dims[i];
            p->sa[k] = sa[i];
            p->sb[k] = sb[i];
            continue;
        }
        p->dims[p->nd] = dims[i];
        p->sa[p->nd] = sa[i];
        p->sb[p->nd] = sb[i];
        p->nd++;
    }
    if (p->nd == 0) {
        p->nd = 1;
        p->dims[0] = 1;
        p->sa[0] = p->sb[0] = 0;
    }
}

typedef struct bin_job {
    const bin_plan *p;
    bin_row_fn fn;
    const char *a, *b;
    char *y;
    size_t ea, eb, ey; /* element sizes */
} bin_job;

/* Rows [r0, r1) of the collapsed output (a row is the innermost dim). */
static void run_rows(void *ctx, int64_t r0, int64_t r1)
{
    const bin_job *j = ctx;
    const bin_plan *p = j->p;
    int outer = p->nd - 1;
    int64_t n = p->dims[outer], ia = p->sa[outer], ib = p->sb[outer];
    int64_t idx[NQ_MAX_DIMS], oa = 0, ob = 0, rem = r0;
    for (int d = outer - 1; d >= 0; d--) {
        idx[d] = rem % p->dims[d];
        rem /= p->dims[d];
        oa += idx[d] * p->sa[d];
        ob += idx[d] * p->sb[d];
    }
    for (int64_t r = r0; r < r1; r++) {
        j->fn(j->a + (size_t)oa * j->ea, ia, j->b + (size_t)ob * j->eb, ib,
              j->y + (size_t)(r * n) * j->ey, n);
        for (int d = outer - 1; d >= 0; d--) {
            oa += p->sa[d];
            ob += p->sb[d];
            if (++idx[d] < p->dims[d]) break;
            oa -= p->sa[d] * p->dims[d];
            ob -= p->sb[d] * p->dims[d];
            idx[d] = 0;
        }
    }
}

/* Elements [i0, i1) of a single-row output (same shape or scalar operand). */
static void run_span(void *ctx, int64_t i0, int64_t i1)
{
    const bin_job *j = ctx;
    int64_t ia = j->p->sa[0], ib = j->p->sb[0];
    j->fn(j->a + (size_t)(i0 * ia) * j->ea, ia, j->b + (size_t)(i0 * ib) * j->eb, ib,
          j->y + (size_t)i0 * j->ey, i1 - i0);
}

/* ---- infer / forward shared by all binary ops ---- */
/* PRelu before opset 7: a 1-D slope of C values is per channel (dim 1). */
static void legacy_channel_view(const nq_tensor *a, nq_tensor *b)
{
    if (a->ndim < 2 || b->ndim != 1 || b->dims[0] == 1 || b->dims[0] != a->dims[1]) return;
    b->ndim = a->ndim - 1;
    for (int d = 1; d < b->ndim; d++) b->dims[d] = 1;
}

/* Checks the inputs; *bv is input 1 as broadcast (a view of the same data). */
static nq_status bin_shape(nq_kctx *c, const bin_op *op, nq_tensor *bv, int *nd, int64_t *dims,
                           bin_row_fn *fn)
{
    nq_status s = nq_elem_check_io(c, 2, 2);
    if (s != NQ_OK) return s;
    const nq_tensor *a = c->in[0], *b = c->in[1];
    char sa[96], sb[96];
    *fn = find_kernel(op, a->dtype, b->dtype);
    if (*fn == NULL)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "unsupported input dtypes (%s, %s)",
                            nq_dtype_name(a->dtype), nq_dtype_name(b->dtype));
    *bv = *b;
    bv->owns_data = 0;
    if (op->unidirectional && c->opset < 7) legacy_channel_view(a, bv);
    if (nq_broadcast_shape(a->ndim, a->dims, bv->ndim, bv->dims, nd, dims) != NQ_OK)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "shapes %s and %s do not broadcast",
                            nq_shape_str(a->ndim, a->dims, sa, sizeof sa),
                            nq_shape_str(b->ndim, b->dims, sb, sizeof sb));
    if (op->unidirectional &&
        (*nd != a->ndim || memcmp(dims, a->dims, sizeof(int64_t) * (size_t)*nd) != 0))
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "input %s does not broadcast to input %s",
                            nq_shape_str(b->ndim, b->dims, sb, sizeof sb),
                            nq_shape_str(a->ndim, a->dims, sa, sizeof sa));
    return NQ_OK;
}

static nq_status bin_infer(nq_kctx *c, const bin_op *op)
{
    int nd;
    int64_t dims[NQ_MAX_DIMS];
    bin_row_fn fn;
    nq_tensor bv;
    nq_status s = bin_shape(c, op, &bv, &nd, dims, &fn);
    if (s != NQ_OK) return s;
    nq_tensor *y = c->out[0];
    y->dtype = c->in[0]->dtype;
    y->ndim = nd;
    memcpy(y->dims, dims, sizeof(int64_t) * (size_t)nd);
    return NQ_OK;
}

static nq_status bin_forward(nq_kctx *c, const bin_op *op)
{
    int nd;
    int64_t dims[NQ_MAX_DIMS];
    bin_row_fn fn;
    nq_tensor bv;
    nq_status s = bin_shape(c, op, &bv, &nd, dims, &fn);
    if (s != NQ_OK) return s;
    const nq_tensor *a = c->in[0], *b = &bv;
    nq_tensor *y = c->out[0];
    int64_t total = nq_tensor_numel(y);
    if (total == 0) return NQ_OK;
    if (a->data == NULL || b->data == NULL || y->data == NULL)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "tensor data missing");
    bin_plan p;
    plan_build(&p, nd, dims, a, b);
    bin_job j = {&p, fn, a->data, b->data, y->data, nq_dtype_size(a->dtype),
                 nq_dtype_size(b->dtype), nq_dtype_size(y->dtype)};
    int64_t row = p.dims[p.nd - 1];
    if (row == total) {
        nq_par_range(total, NQ_PAR_GRAIN, c->num_threads, run_span, &j);
    } else {
        int64_t grain = NQ_PAR_GRAIN / row;
        nq_par_range(total / row, grain, c->num_threads, run_rows, &j);
    }
    return NQ_OK;
}

static const bin_op op_add = {add_kernels, 0};
static const bin_op op_sub = {sub_kernels, 0};
static const bin_op op_mul = {mul_kernels, 0};
static const bin_op op_div = {div_kernels, 0};
static const bin_op op_pow = {pow_kernels, 0};
static const bin_op op_prelu = {prelu_kernels, 1};

#define BIN_DEF(Op, opvar)                                                                 \
    static nq_status Op##_infer(nq_kctx *c) { return bin_infer(c, &opvar); }              \
    static nq_status Op##_forward(nq_kctx *c) { return bin_forward(c, &opvar); }          \
    const nq_op_def nq_def_##Op = {.name = #Op, .infer = Op##_infer, .forward = Op##_forward};

BIN_DEF(Add, op_add)
BIN_DEF(Sub, op_sub)
BIN_DEF(Mul, op_mul)
BIN_DEF(Div, op_div)
BIN_DEF(Pow, op_pow)
BIN_DEF(PRelu, op_prelu)
