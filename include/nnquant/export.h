/*
 * nnquant export: a true-integer quantized graph (from nq_quantize_network
 * or `nnquant quantize`) as a standalone C99 project for microcontrollers,
 * and its deployment statistics (docs/export.md).
 *
 * What is exported: the integer part of the graph, from the output of the
 * input Quantizer (float -> integer) to the integer outputs (the graph
 * outputs, or the inputs of trailing integer -> float Quantizers when the
 * model was quantized with dequantize). The generated model_run() takes
 * the integer input and writes the integer outputs; optional float
 * wrappers (model_float.c) apply the input quantizer and the output scales.
 *
 * Supported integer operators: Conv (2-D, groups, depthwise), Gemm,
 * MatMul (constant 2-D weights), Quantizer (integer -> integer, per-tensor
 * or per-channel, fixed-point or single shift), Relu, Clip, MaxPool (2-D),
 * Add and Mul (int32), ReduceSum (contiguous axes), and the layout-only
 * Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout. Batch size 1,
 * int32 accumulators. Anything else fails with NQ_ERR_UNSUPPORTED naming
 * the node.
 *
 * Example:
 *   nq_export_c_opts o;
 *   nq_export_c_opts_default(&o);
 *   nq_export_c_info info;
 *   nq_status s = nq_export_c(graph, "out_dir", &o, &info, &err);
 */
#ifndef NNQUANT_EXPORT_H
#define NNQUANT_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "nnquant/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default number of synthesized golden samples (see golden_in). */
#define NQ_EXPORT_DEFAULT_GOLDEN 4

typedef struct nq_export_c_opts {
    /* Golden inputs: float32 samples [N, ...] for the graph input (the
     * model's float input, as `nnquant run` takes it), or NULL to
     * synthesize n_default_golden deterministic samples uniformly inside
     * the float range the input quantizer represents (a fixed
     * pseudo-random sequence, seed 1). */
    const nq_tensor *golden_in;
    int64_t n_default_golden;  /* NQ_EXPORT_DEFAULT_GOLDEN */
    int num_threads;           /* for the golden run; 0: default */
} nq_export_c_opts;

void nq_export_c_opts_default(nq_export_c_opts *o);

typedef struct nq_export_c_info {
    size_t arena_bytes;    /* the static activation arena */
    size_t weight_bytes;   /* const data as exported (weights, biases, requant tables) */
    int64_t macs;          /* multiply-accumulates per inference */
    int n_layers;          /* kernel calls in model_run() */
    int n_kernels;         /* distinct kernels in kernels.c */
    int64_t n_golden;      /* golden vectors written */
    int float_free;        /* 1: model.c, kernels.c and weights.c use no floating point */
} nq_export_c_info;

/* Writes the C project into `dir` (created if missing; files in it are
 * replaced, each atomically): model.h, model.c, kernels.c, kernels.h,
 * nqrt.h, nq_requant_core.h, weights.c, weights.h, model_float.c,
 * model_float.h, golden.c, golden.h, test_main.c, Makefile,
 * golden_in.npy (float input), golden_out.npy (the graph's outputs as
 * nnquant's runtime computes them; with several outputs, output k goes to
 * golden_out_k.npy). g is not modified. info may be NULL. */
nq_status nq_export_c(const nq_graph *g, const char *dir, const nq_export_c_opts *o,
                      nq_export_c_info *info, nq_error *err);

/* Deployment statistics of the exported form of g (no files written). */
typedef struct nq_deploy_layer {
    char name[96];         /* node name */
    char op[24];           /* op_type */
    nq_dtype dtype;        /* output dtype */
    int ndim;
    int64_t dims[NQ_MAX_DIMS]; /* output shape, batch 1 */
    int64_t macs;
    size_t weight_bytes;   /* const bytes this layer owns */
    int alias;             /* 1: layout only, no code (Flatten, Reshape, ...) */
} nq_deploy_layer;

typedef struct nq_deploy_stats {
    int n_layers;
    nq_deploy_layer *layers;
    int64_t macs;
    size_t weight_bytes;   /* const data as exported */
    size_t code_bytes;     /* estimate of the kernels' and model_run's code (Cortex-M4, -Os) */
    size_t flash_bytes;    /* weight_bytes + code_bytes */
    size_t arena_bytes;    /* RAM: the static activation arena */
    size_t io_bytes;       /* the caller's input and output buffers */
    int float_free;
} nq_deploy_stats;

nq_status nq_deploy_stats_compute(const nq_graph *g, nq_deploy_stats *out, nq_error *err);
void nq_deploy_stats_free(nq_deploy_stats *s);

#ifdef __cplusplus
}
#endif
#endif
