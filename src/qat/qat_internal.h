/* Private helpers shared by the LSQ and SAT transforms (src/qat/). */
#ifndef NQ_QAT_INTERNAL_H
#define NQ_QAT_INTERNAL_H

#include "nnquant/qat.h"
#include "ptq/ptq_internal.h"

/* Attributes the transforms use between steps (removed at the end). */
#define NQ_ATTR_QAT_STEP "quantization.qat.step"   /* activation grid step (float) */
#define NQ_ATTR_QAT_LO "quantization.qat.lo"       /* integer range of the grid */
#define NQ_ATTR_QAT_HI "quantization.qat.hi"
#define NQ_ATTR_QAT_WINT "quantization.qat.wint"   /* affine node: trained integer weights (tensor) */
#define NQ_ATTR_QAT_WMAX "quantization.qat.wmax"   /* affine node: largest |integer weight| of the grid */

/* A fresh float32 scalar initializer; value index or -1. */
int nq_qat_add_scalar(nq_graph *g, const char *prefix, float v, nq_error *err);
/* 1 for Conv, Gemm, MatMul with a constant float weight (input 1). */
int nq_qat_is_affine(const nq_graph *g, const nq_node *n);
/* 1 if every consumer of v is a Relu (and v is not a graph output). */
int nq_qat_feeds_relu_only(const nq_graph *g, int v);

/* Turns node q (one data input, one output) into a float PTQ Quantizer of
 * role `role` (scale 1, no rounding) that records the activation grid
 * step and integer range [lo, hi] for nq_qat_finish. */
nq_status nq_qat_to_quantizer(nq_graph *g, nq_node *q, const char *role, float step, int lo, int hi,
                              nq_error *err);
/* Records on affine node n its trained integer weights k (same shape as
 * the weight, float values) and the bound wmax of |k|; the weight initializer is
 * replaced by k * step (the fake-quantized weight). */
nq_status nq_qat_set_int_weights(nq_graph *g, nq_node *n, const float *k, float step, int wmax,
                                 nq_error *err);

/* LSQ placement (lsq.c): with weights = 1, everything
 * nq_lsq_setup_quantizers inserts; with weights = 0 (SAT), only the
 * activation LSQs at points not followed by Relus only (the others get
 * CG-PACT). */
nq_status nq_qat_lsq_points(nq_graph *g, int nb_bits, int weights, nq_error *err);
/* Every LSQ node -> trained integer weights / a learned Quantizer; bias
 * LSQs removed (PTQ rounds biases onto the same grid). */
nq_status nq_qat_convert_lsq(nq_graph *g, nq_error *err);

/* The common end of both post-training transforms: from a graph whose
 * activation quantizers were converted (nq_qat_to_quantizer) and whose
 * affine nodes carry integer weights (nq_qat_set_int_weights), runs
 * prepare_network (BatchNorm folding), insert_scaling_nodes, the
 * weight normalization on the learned grids, normalize_activations and
 * quantize_normalized_network on the learned ranges, then (true_integers)
 * cast_quantized_network and fold_producer_quantizers. */
nq_status nq_qat_finish(nq_graph *g, int true_integers, nq_error *err);

#endif
