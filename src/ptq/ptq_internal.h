/* Private helpers shared by the PTQ passes. */
#ifndef NQ_PTQ_INTERNAL_H
#define NQ_PTQ_INTERNAL_H

#include "nnquant/ops.h"
#include "nnquant/ptq.h"
#include "nnquant/run.h"

/* How PTQ treats an operator. */
typedef enum nq_ptq_kind {
    NQ_PTQ_UNSUPPORTED = 0,
    NQ_PTQ_AFFINE,      /* Conv, Gemm, MatMul: integer weights, accumulator output */
    NQ_PTQ_SUM,         /* ReduceSum: accumulator output, no weights */
    NQ_PTQ_JOIN,        /* Add, Concat: inputs must share one scale */
    NQ_PTQ_PASS,        /* scale-equivariant: Relu, MaxPool, Flatten, ... */
    NQ_PTQ_CLIP,        /* Clip: bounds follow the scale */
    NQ_PTQ_QUANTIZER,   /* a Quantizer node */
    NQ_PTQ_FLOAT        /* Sigmoid, Softmax, ...: no integer form, kept in float between
                           an island Quantizer (integers to float) and an input-role
                           one (float to integers, where integer nodes read it) */
} nq_ptq_kind;

nq_ptq_kind nq_ptq_kind_of(const nq_node *n);

/* Roles of PTQ Quantizers (attribute NQ_ATTR_ROLE). */
#define NQ_ROLE_INPUT "input"
#define NQ_ROLE_SCALING "scaling"
#define NQ_ROLE_BRANCH "branch"
#define NQ_ROLE_WEIGHT "weight"
#define NQ_ROLE_BIAS "bias"
#define NQ_ROLE_OUTPUT "output"
/* Single shift (single_shift.c): a Mul by an integer coefficient before a
 * scaling Quantizer that no affine node precedes, and the Quantizer of
 * scale 1 that widens its input to int32 once cast. */
#define NQ_ROLE_COMPENSATION "compensation"
#define NQ_ROLE_WIDEN "widen"
/* A float island (an affine node tagged float32, cast.c): the Quantizer of
 * scale 1 that turns its integer input into float once cast; before a
 * NQ_PTQ_FLOAT node, the Quantizer (scale unit / integer factor) that turns
 * its integer input back into real values. */
#define NQ_ROLE_ISLAND "island"
/* Name of the float value a PTQ Quantizer quantizes, as it was in the
 * float model (compare matches layers by it). */
#define NQ_ATTR_SOURCE "quantization.ptq.source"

const char *nq_ptq_role(const nq_node *n);    /* NULL if not a PTQ Quantizer */
int nq_ptq_is_scaling(const nq_node *n);      /* input, scaling or branch role */
int nq_ptq_is_island(const nq_node *n);       /* island role */
/* 1 if the output of NQ_PTQ_FLOAT node n is quantized again: some node
 * other than a float one reads it (else it stays in float). */
int nq_ptq_float_output_requantized(const nq_graph *g, const nq_node *n);

/* Inserts Quantizer(scale) after value v with the given role; the scale is
 * a new float32 initializer (scalar). Returns the node or NULL. */
nq_node *nq_ptq_insert_quantizer(nq_graph *g, int v, const char *role, float scale, nq_error *err);
/* The same on one edge only: consumer's input slot `input` (reading v). */
nq_node *nq_ptq_insert_quantizer_on(nq_graph *g, int v, nq_node *consumer, int input, const char *role,
                                    float scale, nq_error *err);

/* The scale initializer of a Quantizer (float32, scalar or [C]). */
nq_tensor *nq_ptq_scale(const nq_graph *g, const nq_node *q);
/* Replaces the scale of q by a per-channel one of c values (copying the
 * scalar into every channel) if it is scalar; returns the tensor. */
nq_tensor *nq_ptq_scale_per_channel(nq_graph *g, nq_node *q, int64_t c, nq_error *err);
/* Multiplies the scale by f (all channels). */
void nq_ptq_scale_mul(nq_graph *g, nq_node *q, double f);

/* Affine node parameters: weight and bias initializers (bias may be NULL),
 * and the output-channel layout of the weight: channel c's weights are
 * w[c * stride + k * cstride] for k in [0, per). */
typedef struct nq_affine_params {
    nq_tensor *w, *b;
    int64_t channels, per, stride, cstride;
} nq_affine_params;
nq_status nq_ptq_affine_params(const nq_graph *g, const nq_node *n, nq_affine_params *p,
                               nq_error *err);

/* The weight/bias Quantizer feeding input `input` of n, or NULL. */
nq_node *nq_ptq_param_quantizer(const nq_graph *g, const nq_node *n, int input);
/* The constant behind input `input` of n (through its weight/bias
 * quantizer), made private to it so that it can change in place. */
nq_tensor *nq_ptq_param(nq_graph *g, nq_node *n, int input, nq_error *err);

/* The only consumer of value v when it has exactly one, else NULL. */
nq_node *nq_ptq_single_consumer(const nq_graph *g, int v);
/* 1 if v has consumers, all of type op_type (e.g. "Relu"), and is no graph output. */
int nq_ptq_consumers_all(const nq_graph *g, int v, const char *op_type);
/* An initializer that only node n reads, copied first if shared, so that
 * a pass may change it in place. */
nq_tensor *nq_ptq_private_init(nq_graph *g, nq_node *n, int input, nq_error *err);

/* Precision of a node's output (NQ_ATTR_PRECISION), or dflt. */
nq_dtype nq_ptq_precision(const nq_node *n, nq_dtype dflt);
/* 1 if n is an affine node kept in float (precision tag float32). */
int nq_ptq_is_float_island(const nq_node *n);
/* Largest magnitude of a signed (or unsigned) integer dtype: 2^(n-1)-1 or 2^n-1. */
double nq_ptq_qmax(nq_dtype t, int is_unsigned);

/* Single shift, for cast_quantized_network (single_shift.c). */
int nq_ptq_is_compensation(const nq_node *n); /* a compensation Mul */
/* Checks that every scale of q is a power of two and sets single_shift=1. */
nq_status nq_ptq_require_single_shift(nq_graph *g, nq_node *q, nq_error *err);
/* Makes compensation Muls with an integer input (dt: dtypes of the values,
 * n_dt of them) compute in int32: integer coefficients, narrower inputs
 * widened by a Quantizer of scale 1. */
nq_status nq_ptq_cast_compensation(nq_graph *g, const nq_dtype *dt, int n_dt, nq_error *err);

/* An observer for a calibration pass (nq_ptq_calibrate): fn(user, ...)
 * sees every value and returns nonzero to end the batch, either after
 * setting *status (an error) or after setting *stopped (may be NULL: the
 * rest of the batch is not needed; reset to 0 before each batch). */
typedef struct nq_ptq_watch {
    nq_observer_fn fn;
    void *user;
    const nq_status *status;
    int *stopped;
} nq_ptq_watch;
/* Runs every calibration batch through g (one input) under w; reports
 * progress as `stage` (NULL: none). */
nq_status nq_ptq_calibrate(const nq_graph *g, const nq_dataset *calib, const nq_ptq_options *o,
                           const nq_ptq_watch *w, const char *stage, nq_error *err);

/* nq_bias_correction with a bound on the activation memory of its single
 * pass: the whole (first) calibration set runs as one batch when that
 * takes at most max_bytes, else one pass per layer in batches. */
#define NQ_BIAS_CORRECTION_BATCH_BYTES (512.0 * 1024 * 1024)
nq_status nq_ptq_bias_correction_within(nq_graph *g, const nq_graph *ref, const nq_dataset *calib,
                                        const nq_ptq_options *o, double max_bytes, int *corrected, nq_error *err);

#endif
