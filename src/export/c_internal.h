/* Private to src/export/c_*.c: the plan of a C export (nnquant/export.h).
 *
 * c_plan.c    graph -> steps (one kernel call per node, or an alias)
 * c_arena.c   buffer liveness and offsets in the static arena
 * c_weights.c const arrays (weights.c / weights.h)
 * c_emit.c    kernels.c / kernels.h / model.c
 * c_project.c model.h, model_float.[ch], Makefile, test_main.c, golden, nq_export_c
 * c_golden.c  golden vectors from nnquant's runtime
 * c_deploy.c  nq_deploy_stats_compute
 */
#ifndef NQ_EXPORT_C_INTERNAL_H
#define NQ_EXPORT_C_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "nnquant/export.h"
#include "nnquant/kernels.h"

/* Text of the runtime files, embedded at build time (embed.cmake). */
extern const unsigned char nq_embed_requant_core[];
extern const unsigned long nq_embed_requant_core_len;
extern const unsigned char nq_embed_nqrt[];
extern const unsigned long nq_embed_nqrt_len;

typedef enum cx_kind {
    CX_ALIAS = 0, /* layout only: the output is the input's buffer */
    CX_CONV,
    CX_GEMM,
    CX_REQUANT,
    CX_RELU,
    CX_CLIP,
    CX_MAXPOOL,
    CX_ADD,
    CX_MUL,
    CX_REDUCESUM,
    CX_KIND_COUNT
} cx_kind;

/* Weight storage in weights.c. */
typedef enum cx_wkind { CX_W8 = 0, CX_W4, CX_W16 } cx_wkind;

typedef struct cx_step {
    cx_kind kind;
    const nq_node *node;     /* in plan->g */
    int x, b2;               /* data inputs (value indices; b2 = second operand or -1) */
    int y;                   /* output value */
    int w, bias;             /* weight / bias initializers (-1: none) */
    cx_wkind wkind;
    int32_t p[16];           /* kernel parameters, in the struct order of nqrt.h */
    int np;
    nq_requant *rq;          /* requantization factors (owned): CX_REQUANT, fused steps */
    int64_t rq_dims[3];      /* requantization layout: outer, channels, inner */
    int32_t lo, hi;          /* requantization / CX_CLIP range */
    const nq_node *fused;    /* CONV/GEMM: the Quantizer fused into the step, or NULL */
    int64_t scratch_bytes;   /* arena scratch while the step runs (Conv: one output row) */
    int64_t scratch_off;
    int64_t macs;
    size_t weight_bytes;
} cx_step;

/* Where a value lives. */
typedef enum cx_loc { CX_LOC_NONE = 0, CX_LOC_INPUT, CX_LOC_ARENA, CX_LOC_CONST } cx_loc;

#define CX_MAX_OUTPUTS 8

typedef struct cx_plan {
    nq_graph *g;             /* owned clone, shapes inferred for batch 1 */
    /* input */
    int in_value;            /* the integer input of model_run */
    int has_in_quant;        /* a float -> integer Quantizer feeds it */
    float in_scale;
    int32_t in_lo, in_hi;
    int graph_in;            /* the graph input value */
    /* outputs */
    int n_out;
    int out_value[CX_MAX_OUTPUTS];     /* integer values model_run writes */
    int graph_out[CX_MAX_OUTPUTS];     /* the graph outputs */
    const nq_node *out_deq[CX_MAX_OUTPUTS]; /* trailing int -> float Quantizer, or NULL */
    /* steps */
    int n_steps;
    cx_step *steps;
    /* buffers (per value index) */
    cx_loc *loc;
    int *root;               /* alias root value */
    int64_t *offset;         /* CX_LOC_ARENA: byte offset */
    size_t arena_bytes;
    size_t weight_bytes;
    int64_t macs;
} cx_plan;

nq_status cx_plan_build(const nq_graph *g, cx_plan *p, nq_error *err);
void cx_plan_free(cx_plan *p);
/* Assigns offsets in the arena (c_arena.c). */
nq_status cx_arena_assign(cx_plan *p, nq_error *err);

/* C element type of a value's storage: "int8_t", ...; and the short
 * suffix used in kernel names: "s8", "u8", "s16", "s32". NULL if none. */
const char *cx_ctype(nq_dtype t);
const char *cx_suffix(nq_dtype t);
int64_t cx_numel(const nq_value *v);

/* Name of the kernel a step calls ("nqrt_conv_s8_w8"), "" for aliases. */
void cx_kernel_name(const cx_plan *p, const cx_step *s, char *buf, size_t size);
/* Whether two steps use the same kernel instantiation. */

/* Writes weights.c and weights.h (c_weights.c); C names nqw_<step>_<what>. */
nq_status cx_write_weights(const cx_plan *p, const char *dir, nq_error *err);
/* Writes kernels.c, kernels.h, model.c (c_emit.c); *n_kernels = distinct kernels. */
nq_status cx_write_code(const cx_plan *p, const char *dir, int *n_kernels, nq_error *err);
/* Estimated code bytes (Cortex-M4, -Os) of the kernels and model_run. */
size_t cx_code_estimate(const cx_plan *p);

/* A growing text buffer, written to a file atomically at the end. */
typedef struct cx_text {
    char *s;
    size_t n, cap;
    int oom;
} cx_text;
void cx_printf(cx_text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void cx_write_raw(cx_text *t, const void *buf, size_t n);
/* Writes dir/name and frees the text. */
nq_status cx_text_save(cx_text *t, const char *dir, const char *name, nq_error *err);
/* Values as C initializers, 16 a line. */
void cx_print_ints(cx_text *t, const int64_t *v, int64_t n);

/* Golden vectors (c_golden.c): runs g on the float inputs `in` and fills
 * q_in (the integer input of model_run), q_out[k] (integer outputs) and
 * f_out[k] (the graph outputs as nnquant run writes them). */
nq_status cx_golden_run(const cx_plan *p, const nq_graph *g, const nq_tensor *in,
                        int num_threads, nq_tensor *q_in, nq_tensor *q_out, nq_tensor *f_out,
                        nq_error *err);
/* Synthesized float inputs (see nq_export_c_opts.golden_in). */
nq_status cx_golden_synth(const cx_plan *p, int64_t n, nq_tensor *out, nq_error *err);

#endif
