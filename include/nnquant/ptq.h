/*
 * nnquant post-training quantization (PTQ).
 *
 * The pipeline of the reference Aidge quantization module, one public
 * function per step, each usable alone, and nq_quantize_network() running
 * them in order:
 *
 *   check_architecture -> prepare_network -> [cross_layer_equalization]
 *   -> insert_scaling_nodes -> normalize_parameters -> compute_ranges
 *   -> adjust_ranges (MAX | MSE | AA | KL) -> normalize_activations
 *   -> quantize_normalized_network -> [dequantize]
 *   -> [insert_compensation_nodes -> perform_single_shift_approximation
 *       with single_shift]
 *   -> [cast_quantized_network unless fake_quantize]
 *   -> [fold_producer_quantizers]
 *
 * Quantization is nodes in the graph: `Quantizer` nodes (docs/quantizer.md)
 * after the graph inputs, after weight and bias producers, after affine
 * nodes (Conv, Gemm, MatMul, ReduceSum) and joining nodes (Add, Concat),
 * and on the branches entering a joining node. Each Quantizer inserted by
 * PTQ carries the attribute "quantization.ptq.role" (input, scaling,
 * branch, weight, bias, output; "widen" for the int32 widening before a
 * compensation Mul, which carries the role "compensation").
 *
 * Precisions are node attributes, named as in the reference module:
 *   "quantization.ptq.precision"             dtype name of the node's output
 *   "quantization.ptq.accumulationprecision" dtype name of an affine node's
 *                                            accumulator (int32 or int64)
 * set by nq_auto_assign_node_precision() unless already present, so a user
 * may tag single nodes first (mixed precision).
 *
 * Example:
 *   nq_ptq_options o;
 *   nq_ptq_options_default(&o);
 *   o.clipping = NQ_CLIP_MSE;
 *   nq_status s = nq_quantize_network(graph, calib_dataset, &o, &err);
 */
#ifndef NNQUANT_PTQ_H
#define NNQUANT_PTQ_H

#include "nnquant/clipping.h"
#include "nnquant/core.h"
#include "nnquant/data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NQ_ATTR_PRECISION "quantization.ptq.precision"
#define NQ_ATTR_ACC_PRECISION "quantization.ptq.accumulationprecision"
#define NQ_ATTR_ROLE "quantization.ptq.role"
/* Model metadata key: the target_delta cross-layer equalization ran with
 * (absent when nothing was equalized). */
#define NQ_META_CLE_DELTA "nnquant.ptq.cle_target_delta"

/* Text the library wants to show (verbose mode, progress); never printed by
 * the library itself. */
typedef void (*nq_log_fn)(void *user, const char *line);
typedef void (*nq_ptq_progress_fn)(void *user, const char *stage, int64_t done, int64_t total);

/* Mirrors the keyword arguments of the reference quantize_network(), with
 * the same defaults; nnquant's own additions (bias_correction on,
 * relu_ranges off) are marked. */
typedef struct nq_ptq_options {
    nq_dtype act_dtype;       /* activations: int8 (int4, uint8, int16 ...) */
    nq_dtype weight_dtype;    /* weights: int8 (int2..int8, int16) */
    nq_dtype bias_dtype;      /* biases and accumulators: int32 */
    nq_clip_mode clipping;    /* NQ_CLIP_MAX */
    int no_quant;             /* 0: round (1: keep the normalized float scales) */
    int optimize_signs;       /* 0: unsigned outputs where values are >= 0 */
    int single_shift;         /* 0: rescale by powers of two (with compensation) */
    int fold_graph;           /* 1: fold weight/bias quantizers into constants */
    int fake_quantize;        /* 0: cast to true integers (1: stay float) */
    int dequantize;           /* 0: outputs are integers (1: float again) */
    int channel_wise;         /* 0: per-tensor weight scales (1: per output channel) */
    int equalize;             /* 1: cross-layer equalization where applicable */
    int bias_correction;      /* 1: empirical bias correction (nq_bias_correction);
                               * not in the reference, on by default in nnquant */
    int64_t bias_correction_samples; /* 256: bias correction measures on the first N
                                      * calibration samples (0: all of them) */
    int relu_ranges;          /* 0: ranges of outputs read only by Relu from max(x, 0) */
    double cle_target_delta;  /* 0.01 */
    int verbose;              /* 0 */
    int64_t batch;            /* calibration batch size (64) */
    int num_threads;          /* 0: nq_default_num_threads() */
    nq_log_fn log;            /* may be NULL */
    nq_ptq_progress_fn progress; /* may be NULL */
    void *user;
} nq_ptq_options;

void nq_ptq_options_default(nq_ptq_options *o);

/* Per-value activation statistics from calibration (indexed by value id of
 * the graph they were computed on). Only tracked values have valid = 1. */
typedef struct nq_ranges {
    int n;
    double *max_abs;   /* range used for normalization (adjusted by clipping) */
    double *min;       /* smallest value seen */
    double *max;       /* largest value seen */
    unsigned char *valid;
    nq_histogram *hist; /* per value: the histograms nq_adjust_ranges needs, when
                           nq_compute_ranges gathered them (o->clipping not MAX);
                           else NULL */
} nq_ranges;
void nq_ranges_free(nq_ranges *r);

/* The whole pipeline, in place. The graph must have been loaded as float32. */
nq_status nq_quantize_network(nq_graph *g, const nq_dataset *calib, const nq_ptq_options *o,
                              nq_error *err);

/* 1. Can this graph be quantized? NQ_OK, or an error naming every node
 * whose operator PTQ does not handle. */
nq_status nq_check_architecture(const nq_graph *g, nq_error *err);

/* Quantizability report: how PTQ treats every node of a float graph. */
typedef enum nq_ptq_support {
    NQ_PTQ_SUPPORT_INTEGER = 0,  /* runs in integers after quantization */
    NQ_PTQ_SUPPORT_FOLDED,       /* folded or removed by prepare_network */
    NQ_PTQ_SUPPORT_REWRITTEN,    /* rewritten by prepare_network into integer-friendly nodes */
    NQ_PTQ_SUPPORT_NONE,         /* PTQ cannot handle it: quantization fails */
    NQ_PTQ_SUPPORT_FLOAT         /* stays in float: dequantized before, quantized again after */
} nq_ptq_support;
typedef struct nq_report_entry {
    const nq_node *node;        /* points into the graph */
    nq_ptq_support support;
    const char *note;           /* static text */
} nq_report_entry;
/* Fills one entry per node (entries: g->n_nodes of them, caller-allocated);
 * returns the number of unsupported nodes. */
int nq_quantizability_report(const nq_graph *g, nq_report_entry *entries);
const char *nq_ptq_support_name(nq_ptq_support s);

/* Tags every node with precision attributes unless it already has them. */
nq_status nq_auto_assign_node_precision(nq_graph *g, nq_dtype act, nq_dtype weight, nq_dtype bias,
                                        nq_error *err);

/* Folds BatchNormalization into the preceding Conv/Gemm, removes Identity
 * and inference-mode Dropout, folds constants, and rewrites
 * GlobalAveragePool as ReduceSum + scaling so that it can run in integers. */
nq_status nq_prepare_network(nq_graph *g, nq_error *err);

/* Cross-layer equalization (Nagel et al. 2019) of consecutive affine layers
 * (Conv, Gemm, MatMul) joined by positive-homogeneous nodes (Relu, MaxPool,
 * Flatten, ...), iterated until no range changes by more than target_delta.
 * As in the reference, only single-branch networks are equalized: a graph
 * with a joining node is left as it is (*pairs = 0). *pairs (may be NULL)
 * receives the number of layer pairs equalized. */
nq_status nq_cross_layer_equalization(nq_graph *g, double target_delta, int *pairs, nq_error *err);

/* Inserts a scaling Quantizer (scale 1, no rounding) after each graph input,
 * affine node and joining node, and on each branch entering a joining node
 * that does not start at a scaling node. */
nq_status nq_insert_scaling_nodes(nq_graph *g, int channel_wise, nq_error *err);

/* Scales every affine node's weights (and biases) into [-1, 1], per tensor
 * or per output channel, moving the factor into the following scaling node. */
nq_status nq_normalize_parameters(nq_graph *g, int channel_wise, nq_error *err);

/* Runs the calibration set through the graph and records min, max and
 * max |x| of every scaling node's output (and of every node's output when
 * scaling_nodes_only is 0). With o->relu_ranges, a scaling node's output
 * read only by Relu nodes is recorded as after the Relu, max(x, 0): min 0,
 * max |x| = max (o may be NULL: off). With o->clipping other than MAX, the
 * same pass also fills the scaling nodes' |x| histograms for
 * nq_adjust_ranges (out->hist), saving it a pass: 16 * NQ_HISTOGRAM_BINS
 * fine bins whose range starts at the first batch's max |x| and doubles
 * as larger values come (nq_histogram_grow), then rebinned onto
 * NQ_HISTOGRAM_BINS bins over [0, max |x|] (nq_histogram_rebin), close
 * to what adjust_ranges' own pass over that known range gives. */
nq_status nq_compute_ranges(const nq_graph *g, const nq_dataset *calib, int scaling_nodes_only,
                            const nq_ptq_options *o, nq_ranges *out, nq_error *err);

/* Replaces each tracked max |x| by the clipping threshold of `mode` at the
 * precision of the node's output, from the histograms in ranges->hist or,
 * when compute_ranges did not gather them, from histograms over [0, max |x|]
 * filled in one more pass (of max(x, 0) where compute_ranges folded a Relu,
 * with o->relu_ranges). */
nq_status nq_adjust_ranges(const nq_graph *g, nq_clip_mode mode, nq_ranges *ranges,
                           const nq_dataset *calib, const nq_ptq_options *o, nq_error *err);

/* Rescales the scaling nodes so that every activation is in [-1, 1]
 * (joining nodes arbitrate their branches by maximum), adjusting biases
 * and Clip bounds along the way. */
nq_status nq_normalize_activations(nq_graph *g, const nq_ranges *ranges, nq_error *err);

/* Turns the normalized graph into an integer one: weight and bias
 * quantizers, integer scaling factors, rounding and clipping from the
 * precision tags. optimize_signs uses unsigned ranges for outputs known to
 * be >= 0. Accumulator overflow is checked and reported. */
nq_status nq_quantize_normalized_network(nq_graph *g, const nq_ranges *ranges, int no_quant,
                                         int optimize_signs, nq_error *err);

/* Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization",
 * sec. 4.2), after quantize_normalized_network on a fake-quantized graph
 * (fake rounding, not yet cast). `ref` is a copy of g taken just before
 * quantize_normalized_network (the same graph in float, unrounded). For
 * every affine node with a rounding weight and bias Quantizer, in
 * topological order (so that upstream corrections are already in place),
 * the mean per output channel c of its output over the calibration set is
 * measured in g (E[y_q]) and in ref (E[y], brought to g's units by the ratio
 * u_c of the two bias quantizer scales), and the float bias is moved by
 *   b_c -= (E[y_q]_c - u_c E[y]_c) / s_c      (s_c: g's bias scale)
 * before the bias Quantizer rounds it, so that the expected output error of
 * the layer on the calibration data is zero. Nodes of the same name are
 * matched; nodes without a bias are left alone. *corrected (may be NULL)
 * receives the number of layers corrected. It measures on the first
 * o->bias_correction_samples samples of calib (o NULL or 0: all of them).
 * Cost: one calibration pass of ref, then one of g with those samples as a
 * single batch, each layer's output corrected in place as the pass goes
 * (exact where the accumulator is: the same biases as a new pass per
 * layer). When that batch would need over 512 MiB of activations, one
 * pass of g per corrected layer instead (stopped at that layer). */
nq_status nq_bias_correction(nq_graph *g, const nq_graph *ref, const nq_dataset *calib, const nq_ptq_options *o,
                             int *corrected, nq_error *err);

/* Appends a dequantizing Quantizer at every graph output. */
nq_status nq_perform_dequantization(nq_graph *g, nq_error *err);

/* Single shift, step 1 (after quantize_normalized_network and the optional
 * dequantization): before every scaling/branch Quantizer that rescales
 * integers and does not follow an affine node (after ReduceSum, Add,
 * Concat, on the branches of a joining node), inserts a compensation `Mul`
 * (role "compensation") by an integer coefficient c = 2^(n-1)-1 of the
 * weight precision (127 for int8; fewer bits if c times the largest input
 * could pass int32) and divides the Quantizer's scale by c. With no_quant,
 * c is 1 and stays a float. The input Quantizer (float input) is left
 * alone. */
nq_status nq_insert_compensation_nodes(nq_graph *g, int no_quant, nq_error *err);

/* Single shift, step 2: every scaling/branch Quantizer that rescales
 * integers gets the power of two p = 2^ceil(log2 s) >= s of its scale s
 * (per channel for a per-channel scale) and single_shift=1; the ratio
 * r = s / p, in (0.5, 1], is compensated upstream in integers:
 *  - after an affine node, in its weights and bias as its Quantizers
 *    produce them: W' = round(W_int * r), b' = round(b_int * r) (half to
 *    even; not rounded when they do not round), stored in the constants,
 *    whose Quantizers get scale 1;
 *  - after a compensation Mul, in its coefficient: c' = round(c * r).
 * Fails, naming it, on a scaling node with neither before it. */
nq_status nq_perform_single_shift_approximation(nq_graph *g, nq_error *err);

/* Sets integer dtypes on quantizers so the graph runs on integer kernels.
 * Compensation Muls compute in int32 (a narrower input is widened by a
 * Quantizer of scale 1). With single_shift, every Quantizer that rescales
 * integers (integer input and output) must have power-of-two scales
 * (perform_single_shift_approximation) and gets single_shift=1: it then
 * rescales by a pure shift. */
nq_status nq_cast_quantized_network(nq_graph *g, int single_shift, nq_error *err);

/* Folds Quantizers of constant producers (weights, biases) into constants. */
nq_status nq_fold_producer_quantizers(nq_graph *g, nq_error *err);

/* Per-layer comparison of a float model and its quantized version on the
 * same samples: for every scaling Quantizer of `quant` whose input value
 * exists (by name) in `flt`, the signal-to-quantization-noise ratio
 * SQNR = 10 log10(sum x^2 / sum (x - x_q)^2) in dB, where x is the float
 * activation and x_q the quantized one brought back to float units. For an
 * unsigned quantizer (sign optimization folds the following ReLU into its
 * range) x is max(x, 0). */
typedef struct nq_layer_sqnr {
    char name[128];      /* the float value compared */
    char dtype[16];      /* the quantized dtype */
    double signal, noise; /* sums of squares */
    double sqnr_db;      /* +inf when noise is 0 */
} nq_layer_sqnr;
typedef struct nq_compare_result {
    int n_layers;
    nq_layer_sqnr *layers; /* in graph order (owned) */
    int64_t samples, float_correct, quant_correct, agree; /* top-1 counts (labels may be absent) */
} nq_compare_result;
nq_status nq_compare_layers(const nq_graph *flt, const nq_graph *quant, const nq_dataset *d, int64_t batch,
                            int num_threads, nq_compare_result *out, nq_error *err);
void nq_compare_result_free(nq_compare_result *r);

#ifdef __cplusplus
}
#endif
#endif
