/*
 * nnquant quantization-aware training (QAT): the LSQ and SAT graph
 * transforms of the reference Aidge quantization module, under C names.
 * The operators they insert (domain ai.nnquant) are documented in
 * docs/qat.md: LSQ(range), DoReFa(range, mode), CGPACT(range),
 * TanhClamp, ScaleAdjust (outputs: data, scaling), FixedQ(nb_bits, span,
 * is_output_unsigned). Their backward passes are in src/train/grad_qat_*.c
 * (the trainer of include/nnquant/train.h uses them).
 *
 * LSQ flow:
 *   nq_lsq_setup_quantizers(g, 4, &err);        // float model -> LSQ graph
 *   ... train g (step sizes start at 0 and are set from the first batch) ...
 *   nq_lsq_post_training_transform(g, 1, &err); // -> integer PTQ-form graph
 *
 * SAT flow:
 *   nq_sat_insert_sat_nodes(g, use_bn, &err);   // phase 1: TanhClamp + ScaleAdjust
 *   ... train ...
 *   nq_sat_insert_param_quantizers(g, 4, NQ_DOREFA_SYMMETRIC, &err);
 *   nq_sat_insert_activ_quantizers(g, 4, 8.0f, &err); // phase 2
 *   ... train ...
 *   nq_sat_post_training_transform(g, 1, &err);
 *
 * Every transform works in place on a float graph (the input model file is
 * never touched) and returns an error naming the node it cannot handle.
 */
#ifndef NNQUANT_QAT_H
#define NNQUANT_QAT_H

#include "nnquant/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Modes of the DoReFa weight quantizer (attribute "mode"). */
typedef enum nq_dorefa_mode {
    NQ_DOREFA_DEFAULT = 0,   /* levels (2k - R) / R, k = 0..R: no zero level */
    NQ_DOREFA_SYMMETRIC = 1  /* levels k / H, |k| <= H = floor(R / 2): zero included */
} nq_dorefa_mode;

/* Attributes the transforms leave on nodes (read by the post-training
 * transforms and the CLI; removed by them). */
#define NQ_ATTR_QAT_ROLE "quantization.qat.role"     /* "input", "scaling", "branch", "weight" */

/* ---- LSQ --------------------------------------------------------------- */

/*
 * Inserts LSQ quantizers (Esser et al. 2019) for nb_bits in [2, 8]:
 *  - weights: an LSQ on the weight input of every Conv / Gemm / MatMul
 *    with a constant weight, range [-(2^(b-1)-1), 2^(b-1)-1] (symmetric:
 *    the integer kernels' weight range), attribute weight = 1;
 *  - activations, at the points where PTQ quantizes (so that the trained
 *    grid maps one to one onto the integer network): after each graph
 *    input and each graph output (8 bits: first and last layer as in the
 *    paper), after each affine node (after its BatchNormalization when one
 *    follows), after each Add / Concat and each GlobalAveragePool /
 *    ReduceSum. A quantizer whose consumers are all Relu is unsigned,
 *    range [0, 2^b - 1] (it then replaces the ReLU's clamp); the others
 *    signed [-(2^(b-1)-1), 2^(b-1)-1];
 *  - every input of an Add / Concat is quantized by an LSQ of one shared
 *    step size (a branch LSQ is put on inputs that do not come straight
 *    from one), so the branches add on one integer grid.
 * Step sizes are float initializers set to 0 ("not initialized"): the
 * first training forward sets each to 2 mean|x| / sqrt(Qp) from its batch.
 */
nq_status nq_lsq_setup_quantizers(nq_graph *g, int nb_bits, nq_error *err);

/*
 * Replaces the LSQ nodes of a trained graph by PTQ Quantizers and runs the
 * PTQ pipeline's own steps on the learned grids (include/nnquant/ptq.h):
 * weights become k = round(clamp(w / s)) (the trained integers), BatchNorm
 * is folded into the per-channel rescaling, activation ranges are s * qmax
 * of the learned steps, then normalize_activations,
 * quantize_normalized_network (optimize_signs), and with true_integers
 * cast_quantized_network, then fold_producer_quantizers: the same form as
 * `nnquant quantize` output (integer weights, int32 bias, Quantizer
 * requantization; integer outputs). true_integers = 0 stops before the cast
 * (fake-quantized float graph). Every activation step must be initialized
 * (the graph trained for at least one batch).
 */
nq_status nq_lsq_post_training_transform(nq_graph *g, int true_integers, nq_error *err);

/* ---- SAT --------------------------------------------------------------- */

/* A TanhClamp after every weight producer (the weight input of Conv, Gemm,
 * MatMul), on that edge. */
nq_status nq_sat_insert_param_clamping(nq_graph *g, nq_error *err);
/* A ScaleAdjust on the weight input of every Conv / Gemm / MatMul (after its
 * TanhClamp / DoReFa when present); with use_batchnorms, skipped for a node
 * whose output goes to a BatchNormalization (which normalizes anyway). */
nq_status nq_sat_insert_param_scaling_adjust(nq_graph *g, int use_batchnorms, nq_error *err);
/* Phase 1 (pre-training): insert_param_clamping then
 * insert_param_scaling_adjust. */
nq_status nq_sat_insert_sat_nodes(nq_graph *g, int use_batchnorms, nq_error *err);
/* Phase 2: a DoReFa(range = 2^nb_bits - 1, mode) after every TanhClamp. */
nq_status nq_sat_insert_param_quantizers(nq_graph *g, int nb_bits, nq_dorefa_mode mode, nq_error *err);
/* Phase 2: a CGPACT(range = 2^nb_bits - 1) with a learnable alpha (initial
 * value init_alpha) after every Relu (the graph input gets an 8-bit one). */
nq_status nq_sat_insert_activ_quantizers(nq_graph *g, int nb_bits, float init_alpha, nq_error *err);
/* Fine-tuning a trained float model (nnquant's addition; run after
 * insert_param_quantizers): TanhClamp and ScaleAdjust change each layer's
 * weight scale, which a network trained without them does not expect. A
 * Mul by a learnable per-layer gain g (initially the least-squares ratio
 * of the original weights to the chain's output) goes after each weight
 * chain so that training starts from the float model's function; the
 * post-training transform folds it into the weight scale. */
nq_status nq_sat_preserve_gains(nq_graph *g, nq_error *err);
/* Folds TanhClamp / DoReFa / ScaleAdjust into integer weights and turns
 * CGPACT into PTQ Quantizers, as nq_lsq_post_training_transform does. */
nq_status nq_sat_post_training_transform(nq_graph *g, int true_integers, nq_error *err);

/* ---- starting from a PTQ result ----------------------------------------- */

/* The quantization ranges of a quantized model, by tensor name (opaque). */
typedef struct nq_qat_ranges nq_qat_ranges;

/*
 * Turns a quantized model (the integer form `nnquant quantize` writes, or
 * a QDQ model) into the float graph it computes, for QAT to fine-tune:
 * weights and biases are their dequantized values (BatchNorm already
 * folded, equalized by CLE if PTQ did it), and the quantization of each
 * activation is removed. *ranges keeps, for each removed activation
 * quantization and each per-tensor weight, the real value of its largest
 * integer level (scale * qmax: PTQ's clipping range). `quant` is not
 * modified. A fake-quantized graph is refused (no integer form). Caller
 * frees *out (nq_graph_free) and *ranges (nq_qat_ranges_free).
 */
nq_status nq_qat_from_quantized(const nq_graph *quant, nq_graph **out, nq_qat_ranges **ranges,
                                nq_error *err);
/* Starts the trained quantizers of g (after the LSQ or SAT insertion on
 * the graph nq_qat_from_quantized returned) on PTQ's ranges: an LSQ step
 * becomes range / Qp of its own bit width (a step shared by the inputs of
 * a join: the widest range), a CG-PACT alpha becomes the range. A
 * quantizer with no recorded range (per-channel PTQ weights, a point PTQ
 * did not quantize) keeps its usual initialization. *n_set / *n_total
 * (may be NULL): how many quantizers were set / exist. */
nq_status nq_qat_init_from_ranges(nq_graph *g, const nq_qat_ranges *ranges, int *n_set, int *n_total,
                                  nq_error *err);
/* Number of recorded ranges. */
int nq_qat_ranges_count(const nq_qat_ranges *ranges);
void nq_qat_ranges_free(nq_qat_ranges *ranges);

#ifdef __cplusplus
}
#endif
#endif
