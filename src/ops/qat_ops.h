/*
 * Private helpers of the QAT operators (domain ai.nnquant): LSQ, DoReFa,
 * CGPACT, TanhClamp, ScaleAdjust, FixedQ (docs/qat.md). The element
 * formulas live here once, as inline functions, so that the forward kernels
 * (src/ops/qat_*.c), their backward passes (src/train/grad_qat_*.c) and the
 * graph transforms (src/qat/) compute exactly the same values.
 * Rounding is half to even (nq_qat_round), as nearbyintf and the Quantizer's
 * float input.
 */
#ifndef NQ_OPS_QAT_OPS_H
#define NQ_OPS_QAT_OPS_H

#include <math.h>

#include "nnquant/ops.h"
#include "nnquant/qat.h"

static inline float nq_qat_clampf(float x, float lo, float hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* Round half to even, as nearbyintf in the default rounding mode, without
 * a library call: adding and subtracting 1.5 * 2^23 leaves the integer
 * part (|v| >= 2^22 is already an integer). */
static inline float nq_qat_round(float v)
{
    const float magic = 12582912.0f;
    if (!(fabsf(v) < 4194304.0f)) return v;
    float t = v + magic; /* not folded away: C compilers keep IEEE semantics by default */
    return t - magic;
}

/* LSQ: the integer level round(clamp(x * (1 / s), lo, hi)) of x
 * (inv = 1 / s); y = level * s. Forward, backward and the post-training
 * transform all use this one expression. */
static inline float nq_lsq_level(float x, float inv, float lo, float hi)
{
    return nq_qat_round(nq_qat_clampf(x * inv, lo, hi));
}
/* s <= 0 (not yet initialized) passes x through. */
static inline float nq_lsq_fwd(float x, float s, float lo, float hi)
{
    if (!(s > 0.0f)) return x;
    return nq_lsq_level(x, 1.0f / s, lo, hi) * s;
}

/* DoReFa on [-1, 1] with `range` R steps (R = 2^b - 1).
 * Default:   y = 2 round(R (x + 1) / 2) / R - 1      (levels (2k - R) / R)
 * Symmetric: y = round(x H) / H, H = floor(R / 2)     (levels k / H, zero included) */
static inline float nq_dorefa_fwd(float x, float range, nq_dorefa_mode mode)
{
    float c = nq_qat_clampf(x, -1.0f, 1.0f);
    if (mode == NQ_DOREFA_SYMMETRIC) {
        float h = floorf(range / 2.0f);
        return nq_qat_round(c * h) / h;
    }
    return 2.0f * nq_qat_round(range * (c + 1.0f) / 2.0f) / range - 1.0f;
}

/* CG-PACT: y = round(clamp(x, 0, a) R / a) a / R. */
static inline float nq_cgpact_fwd(float x, float a, float range)
{
    return nq_qat_round(nq_qat_clampf(x, 0.0f, a) * range / a) * a / range;
}

/* FixedQ: fixed-point step d = span / 2^(b-1) (signed, range [-span, span - d])
 * or span / 2^b (unsigned, range [0, span - d]); y = clamp(round(x / d)) d. */
typedef struct nq_fixedq_params {
    float step, lo, hi; /* lo, hi in steps */
} nq_fixedq_params;
static inline nq_fixedq_params nq_fixedq_params_of(int nb_bits, float span, int is_unsigned)
{
    nq_fixedq_params p;
    float levels = ldexpf(1.0f, is_unsigned ? nb_bits : nb_bits - 1);
    p.step = span / levels;
    p.lo = is_unsigned ? 0.0f : -levels;
    p.hi = levels - 1.0f;
    return p;
}
static inline float nq_fixedq_fwd(float x, nq_fixedq_params p)
{
    return nq_qat_clampf(nq_qat_round(x / p.step), p.lo, p.hi) * p.step;
}

/* Attribute readers shared by the QAT operators (qat_common.c); each fails
 * naming the node. */
/* LSQ `range`: two integers [lo, hi], lo < hi (default {0, 255}). */
nq_status nq_qat_lsq_range(const nq_kctx *c, float *lo, float *hi);
/* `range` as one integer >= 1 (DoReFa, CGPACT; default 255). */
nq_status nq_qat_range(const nq_kctx *c, float *range);
/* DoReFa `mode`: "default" (or 0) / "symmetric" (or 1). */
nq_status nq_qat_dorefa_mode(const nq_kctx *c, nq_dorefa_mode *mode);
/* FixedQ nb_bits in [1, 24], span > 0, is_output_unsigned 0/1. */
nq_status nq_qat_fixedq(const nq_kctx *c, nq_fixedq_params *p);
/* Input k must be a float32 tensor holding one value (scalar or [1]); its
 * value is returned in *v when its data is known (forward). */
nq_status nq_qat_scalar_input(const nq_kctx *c, int k, const char *what, float *v);
/* infer() of the QAT operators: float32 input 0, `n_in` inputs, output 0
 * like input 0; output 1 (optional, when n_out is 2) a [1] float32. */
nq_status nq_qat_infer_io(nq_kctx *c, int n_in, int n_out);

#endif
