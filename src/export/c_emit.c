/* kernels.c, kernels.h and model.c of a C export. kernels.c instantiates
 * the templates of nqrt.h that the model needs, once per type combination;
 * model.c holds the parameter structs, the arena and model_run(), one
 * kernel call per step. No floating point anywhere in these files. */
#include <stdlib.h>
#include <string.h>

#include "export/c_internal.h"

/* Per kernel family: name stem, the template macros, and an estimate of
 * its code size (bytes, Cortex-M4 Thumb-2, arm-none-eabi-gcc -Os, read
 * with arm-none-eabi-nm from the example models' kernels.o). */
typedef struct cx_family {
    const char *stem, *define, *proto;
    const char *define_rq, *proto_rq; /* with the following Quantizer fused */
    int typed_w;  /* instantiated per weight kind */
    int typed_y;  /* instantiated per output type */
    size_t code;
} cx_family;

static const cx_family families[CX_KIND_COUNT] = {
    [CX_CONV] = {"conv", "NQRT_DEFINE_CONV", "NQRT_CONV_PROTO", "NQRT_DEFINE_CONV_RQ",
                 "NQRT_CONV_RQ_PROTO", 1, 0, 830},
    [CX_GEMM] = {"gemm", "NQRT_DEFINE_GEMM", "NQRT_GEMM_PROTO", "NQRT_DEFINE_GEMM_RQ",
                 "NQRT_GEMM_RQ_PROTO", 1, 0, 190},
    [CX_REQUANT] = {"requant", "NQRT_DEFINE_REQUANT", "NQRT_REQUANT_PROTO", NULL, NULL, 0, 1, 110},
    [CX_RELU] = {"relu", "NQRT_DEFINE_RELU", "NQRT_RELU_PROTO", NULL, NULL, 0, 0, 40},
    [CX_CLIP] = {"clip", "NQRT_DEFINE_CLIP", "NQRT_CLIP_PROTO", NULL, NULL, 0, 0, 40},
    [CX_MAXPOOL] = {"maxpool", "NQRT_DEFINE_MAXPOOL", "NQRT_MAXPOOL_PROTO", NULL, NULL, 0, 0, 260},
    [CX_ADD] = {"add", "NQRT_DEFINE_BINARY", "NQRT_BINARY_PROTO", NULL, NULL, 0, 0, 40},
    [CX_MUL] = {"mul", "NQRT_DEFINE_BINARY", "NQRT_BINARY_PROTO", NULL, NULL, 0, 0, 40},
    [CX_REDUCESUM] = {"reducesum", "NQRT_DEFINE_REDUCESUM", "NQRT_REDUCESUM_PROTO", NULL, NULL, 0, 0, 80},
};

/* Code of model_run per step (call, pointers), its fixed part, nq_rq_apply
 * (once, when anything requantizes) and a requantization parameter struct. */
enum { CX_CODE_PER_STEP = 26, CX_CODE_FIXED = 64, CX_CODE_RQ_APPLY = 380, CX_CODE_RQ_STRUCT = 28 };

static const char *const wsuffix[] = {[CX_W8] = "w8", [CX_W4] = "w4", [CX_W16] = "w16"};
static const char *const wctype[] = {[CX_W8] = "int8_t", [CX_W4] = "uint8_t",
                                     [CX_W16] = "int16_t"};
static const char *const wread[] = {[CX_W8] = "NQRT_W8", [CX_W4] = "NQRT_W4",
                                    [CX_W16] = "NQRT_W8"};

static nq_dtype xdtype(const cx_plan *p, const cx_step *s)
{
    return p->g->values[s->x]->dtype;
}

void cx_kernel_name(const cx_plan *p, const cx_step *s, char *buf, size_t size)
{
    const cx_family *f = &families[s->kind];
    if (s->kind == CX_ALIAS) {
        buf[0] = '\0';
    } else if (s->kind == CX_ADD || s->kind == CX_MUL) {
        snprintf(buf, size, "nqrt_%s_s32", f->stem);
    } else if (s->fused) {
        snprintf(buf, size, "nqrt_%s_rq_%s_%s_%s", f->stem, cx_suffix(xdtype(p, s)),
                 wsuffix[s->wkind], cx_suffix(p->g->values[s->y]->dtype));
    } else if (f->typed_w) {
        snprintf(buf, size, "nqrt_%s_%s_%s", f->stem, cx_suffix(xdtype(p, s)), wsuffix[s->wkind]);
    } else if (f->typed_y) {
        snprintf(buf, size, "nqrt_%s_%s_%s", f->stem, cx_suffix(xdtype(p, s)),
                 cx_suffix(p->g->values[s->y]->dtype));
    } else {
        snprintf(buf, size, "nqrt_%s_%s", f->stem, cx_suffix(xdtype(p, s)));
    }
}

/* Template arguments after NAME. */
static void template_args(const cx_plan *p, const cx_step *s, int define, char *buf, size_t size)
{
    const char *xt = cx_ctype(xdtype(p, s));
    switch (s->kind) {
    case CX_CONV:
    case CX_GEMM: {
        char yt[32] = "";
        if (s->fused) snprintf(yt, sizeof yt, ", %s", cx_ctype(p->g->values[s->y]->dtype));
        if (define)
            snprintf(buf, size, ", %s, %s, %s%s", xt, wctype[s->wkind], wread[s->wkind], yt);
        else
            snprintf(buf, size, ", %s, %s%s", xt, wctype[s->wkind], yt);
        break;
    }
    case CX_REQUANT: snprintf(buf, size, ", %s, %s", xt, cx_ctype(p->g->values[s->y]->dtype)); break;
    case CX_ADD: snprintf(buf, size, "%s", define ? ", +" : ""); break;
    case CX_MUL: snprintf(buf, size, "%s", define ? ", *" : ""); break;
    default: snprintf(buf, size, ", %s", xt); break;
    }
}

/* Distinct kernels of the plan, in first-use order: indices of the first
 * step using each. Returns the count. */
static int distinct_kernels(const cx_plan *p, int *first)
{
    int n = 0;
    for (int i = 0; i < p->n_steps; i++) {
        if (p->steps[i].kind == CX_ALIAS) continue;
        char a[64], b[64];
        cx_kernel_name(p, &p->steps[i], a, sizeof a);
        int seen = 0;
        for (int k = 0; k < n && !seen; k++) {
            cx_kernel_name(p, &p->steps[first[k]], b, sizeof b);
            seen = strcmp(a, b) == 0;
        }
        if (!seen) first[n++] = i;
    }
    return n;
}

size_t cx_code_estimate(const cx_plan *p)
{
    int *first = malloc(((size_t)p->n_steps + 1) * sizeof *first);
    if (first == NULL) return 0;
    int nk = distinct_kernels(p, first);
    size_t code = CX_CODE_FIXED;
    for (int k = 0; k < nk; k++) code += families[p->steps[first[k]].kind].code;
    int rq = 0;
    for (int i = 0; i < p->n_steps; i++) {
        if (p->steps[i].kind == CX_ALIAS) continue;
        code += CX_CODE_PER_STEP + (size_t)p->steps[i].np * 4;
        if (p->steps[i].rq != NULL) {
            code += CX_CODE_RQ_STRUCT;
            rq = 1;
        }
    }
    if (rq) code += CX_CODE_RQ_APPLY;
    free(first);
    return code;
}

/* C expression for the data of value v (steps read and write through it). */
static void value_ptr(const cx_plan *p, int v, int step, char which, int is_const, char *buf,
                      size_t size)
{
    const nq_value *val = p->g->values[v];
    const char *ct = cx_ctype(val->dtype);
    switch (p->loc[v]) {
    case CX_LOC_INPUT: snprintf(buf, size, "input"); break;
    case CX_LOC_CONST: snprintf(buf, size, "nqw_%d_%c", step, which); break;
    default:
        snprintf(buf, size, "(%s%s *)(%svoid *)(a + %lld)", is_const ? "const " : "", ct,
                 is_const ? "const " : "", (long long)p->offset[v]);
    }
}

static void emit_kernels(const cx_plan *p, const int *first, int nk, cx_text *c, cx_text *h)
{
    cx_printf(c, "/* Generated by nnquant export: the kernels this model uses, instantiated\n"
                 " * from the templates of nqrt.h (nnquant's own integer semantics). */\n"
                 "#include \"kernels.h\"\n\n");
    cx_printf(h, "/* Generated by nnquant export: the kernels of kernels.c. */\n"
                 "#ifndef MODEL_KERNELS_H\n#define MODEL_KERNELS_H\n\n#include \"nqrt.h\"\n\n");
    for (int k = 0; k < nk; k++) {
        const cx_step *s = &p->steps[first[k]];
        const cx_family *f = &families[s->kind];
        char name[64], dargs[96], pargs[96];
        cx_kernel_name(p, s, name, sizeof name);
        template_args(p, s, 1, dargs, sizeof dargs);
        template_args(p, s, 0, pargs, sizeof pargs);
        cx_printf(c, "%s(%s%s)\n", s->fused ? f->define_rq : f->define, name, dargs);
        cx_printf(h, "%s(%s%s);\n", s->fused ? f->proto_rq : f->proto, name, pargs);
    }
    cx_printf(h, "\n#endif\n");
}

static void emit_params(const cx_plan *p, int i, cx_text *m)
{
    const cx_step *s = &p->steps[i];
    static const char *const structs[CX_KIND_COUNT] = {
        [CX_CONV] = "nqrt_conv", [CX_GEMM] = "nqrt_gemm", [CX_MAXPOOL] = "nqrt_pool"};
    if (s->rq != NULL)
        cx_printf(m, "static const nqrt_rq nqq_%d = {%lld, %lld, %lld, nqw_%d_mult, nqw_%d_shift, "
                     "%ld, %ld};\n",
                  i, (long long)s->rq_dims[0], (long long)s->rq_dims[1], (long long)s->rq_dims[2],
                  i, i, (long)s->lo, (long)s->hi);
    if (structs[s->kind] == NULL) return;
    cx_printf(m, "static const %s nqp_%d = {", structs[s->kind], i);
    for (int k = 0; k < s->np; k++) cx_printf(m, "%s%ld", k ? ", " : "", (long)s->p[k]);
    cx_printf(m, "};\n");
}

static void emit_call(const cx_plan *p, int i, cx_text *m)
{
    const cx_step *s = &p->steps[i];
    char name[64], x[128], y[128], b[128];
    const nq_value *yv = p->g->values[s->y];
    char shape[96];
    cx_printf(m, "    /* %d: %s%s %s %s */\n", i, s->node->op_type, s->fused ? " + Quantizer" : "",
              nq_dtype_name(yv->dtype), nq_shape_str(yv->ndim, yv->dims, shape, sizeof shape));
    if (s->kind == CX_ALIAS) {
        cx_printf(m, "    /* (layout only: same buffer) */\n");
        return;
    }
    cx_kernel_name(p, s, name, sizeof name);
    value_ptr(p, s->x, i, 'a', 1, x, sizeof x);
    value_ptr(p, s->y, i, 'y', 0, y, sizeof y);
    switch (s->kind) {
    case CX_CONV:
    case CX_GEMM: {
        char q[32] = "", acc[96] = "";
        if (s->fused) snprintf(q, sizeof q, "&nqq_%d, ", i);
        if (s->kind == CX_CONV)
            snprintf(acc, sizeof acc, "(uint32_t *)(void *)(a + %lld), ", (long long)s->scratch_off);
        if (s->bias >= 0) snprintf(b, sizeof b, "nqw_%d_b", i);
        else snprintf(b, sizeof b, "0");
        cx_printf(m, "    %s(&nqp_%d, %s%s, nqw_%d_w, %s, %s%s);\n", name, i, q, x, i, b, acc, y);
        break;
    }
    case CX_REQUANT: cx_printf(m, "    %s(&nqq_%d, %s, %s);\n", name, i, x, y); break;
    case CX_MAXPOOL: cx_printf(m, "    %s(&nqp_%d, %s, %s);\n", name, i, x, y); break;
    case CX_RELU: cx_printf(m, "    %s(%ld, %s, %s);\n", name, (long)s->p[0], x, y); break;
    case CX_CLIP:
        cx_printf(m, "    %s(%ld, %ld, %ld, %s, %s);\n", name, (long)s->p[0], (long)s->lo,
                  (long)s->hi, x, y);
        break;
    case CX_ADD:
    case CX_MUL:
        value_ptr(p, s->b2, i, 'c', 1, b, sizeof b);
        cx_printf(m, "    %s(%ld, %s, %ld, %s, %ld, %s);\n", name, (long)s->p[0], x,
                  (long)s->p[1], b, (long)s->p[2], y);
        break;
    case CX_REDUCESUM:
        cx_printf(m, "    %s(%ld, %ld, %ld, %s, %s);\n", name, (long)s->p[0], (long)s->p[1],
                  (long)s->p[2], x, y);
        break;
    default: break;
    }
}

static void emit_model(const cx_plan *p, cx_text *m)
{
    cx_printf(m, "/* Generated by nnquant export: integer inference of one sample.\n"
                 " * No allocation, no floating point; see model.h. */\n"
                 "#include \"model.h\"\n#include \"kernels.h\"\n#include \"weights.h\"\n\n");
    cx_printf(m, "/* The activation arena: every intermediate tensor at a fixed offset,\n"
                 " * buffers reused once their last reader has run. */\n"
                 "static union {\n    int32_t align;\n    uint8_t bytes[MODEL_ARENA_BYTES];\n"
                 "} model_arena;\n\n");
    for (int i = 0; i < p->n_steps; i++) emit_params(p, i, m);
    cx_printf(m, "\nint model_run(const %s *input", cx_ctype(p->g->values[p->in_value]->dtype));
    for (int k = 0; k < p->n_out; k++)
        cx_printf(m, ", %s *output%d", cx_ctype(p->g->values[p->out_value[k]]->dtype), k);
    cx_printf(m, ")\n{\n    uint8_t *const a = model_arena.bytes;\n    int32_t i;\n\n");
    for (int i = 0; i < p->n_steps; i++) emit_call(p, i, m);
    cx_printf(m, "\n    /* outputs */\n");
    for (int k = 0; k < p->n_out; k++) {
        char src[128];
        const nq_value *v = p->g->values[p->out_value[k]];
        value_ptr(p, p->out_value[k], -1, 'o', 1, src, sizeof src);
        cx_printf(m, "    for (i = 0; i < %lld; i++) output%d[i] = (%s)[i];\n",
                  (long long)cx_numel(v), k, src);
    }
    cx_printf(m, "    (void)a;\n    return 0;\n}\n");
}

nq_status cx_write_code(const cx_plan *p, const char *dir, int *n_kernels, nq_error *err)
{
    int *first = malloc(((size_t)p->n_steps + 1) * sizeof *first);
    if (first == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    const int nk = distinct_kernels(p, first);
    cx_text c = {0}, h = {0}, m = {0};
    emit_kernels(p, first, nk, &c, &h);
    emit_model(p, &m);
    free(first);
    nq_status st = cx_text_save(&c, dir, "kernels.c", err);
    if (st == NQ_OK) st = cx_text_save(&h, dir, "kernels.h", err);
    if (st == NQ_OK) st = cx_text_save(&m, dir, "model.c", err);
    free(c.s);
    free(h.s);
    free(m.s);
    if (n_kernels) *n_kernels = nk;
    return st;
}
