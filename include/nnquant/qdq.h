/*
 * nnquant <-> standard QDQ ONNX (QuantizeLinear / DequantizeLinear).
 *
 * nnquant's quantized graphs use its own Quantizer node (domain ai.nnquant,
 * docs/quantizer.md) and standard operators on integer tensors
 * (docs/numerics.md), which other runtimes cannot run. The QDQ form is the
 * one ONNX Runtime, TensorRT and OpenVINO consume: float operators whose
 * inputs come from DequantizeLinear and whose outputs go through
 * QuantizeLinear. docs/qdq.md gives the mapping both ways.
 *
 * Scale conventions: nnquant's Quantizer multiplies (q = round(x * s)),
 * ONNX divides (q = round(x / y_scale)). Every integer tensor t of the
 * nnquant graph gets a real scale r(t) (its float value is q * r(t));
 * the export writes y_scale = r(t), zero point 0 (int8 or uint8). Weights
 * are int8 initializers (int2..int4 widened to int8: onnx opset 13 has no
 * int4) with a per-tensor or per-output-channel DequantizeLinear; biases
 * are int32 with scale r(x) * r(w).
 *
 * Exactness: the QDQ model computes in float what nnquant computes in
 * integers; requantization rounds half up in nnquant and half to even in
 * QuantizeLinear, int8 clip ranges [-127, 127] become [-128, 127], and
 * int32 intermediates (residual branches, single-shift compensation) are
 * not rounded in QDQ. Outputs agree to the bit except near such ties
 * (docs/qdq.md gives the measured top-1 agreement).
 */
#ifndef NNQUANT_QDQ_H
#define NNQUANT_QDQ_H

#include "nnquant/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Converts an nnquant integer graph (as `nnquant quantize` writes it:
 * Quantizer nodes, integer Conv/Gemm/MatMul, Relu, Clip, MaxPool, Add,
 * ReduceSum, Concat, shape ops, single-shift compensation Mul; float parts
 * copied as they are) into a new QDQ graph (opset >= 13, no ai.nnquant
 * node, no quantization.* attribute). `g` is not modified. Fails naming
 * the node on what has no QDQ form (a fake-quantized graph, int16
 * weights, a per-channel scale on an activation). Caller frees *out. */
nq_status nq_graph_to_qdq(const nq_graph *g, nq_graph **out, nq_error *err);

/* nq_graph_to_qdq and nq_onnx_save in one call (atomic write). */
nq_status nq_export_qdq(const nq_graph *g, const char *path, nq_error *err);

/* 1 if g holds QuantizeLinear or DequantizeLinear nodes (default domain). */
int nq_graph_is_qdq(const nq_graph *g);

/* Rewrites a QDQ graph in place into nnquant's quantized form, which runs
 * on the integer kernels:
 *   Q(x float)                              -> Quantizer(x, 1/y_scale, to int8|uint8)
 *   DQ(x)->Conv|Gemm|MatMul(DQ(W), DQ(b))->[Relu]->Q
 *                                           -> integer op (W int8, b int32)
 *                                              -> Quantizer(acc, s_x*s_w/s_y)
 *   DQ->Relu|MaxPool|Flatten|Reshape|Clip|... ->Q  -> the op on integers
 *                                              (+ Quantizer if scales differ)
 *   DQ->Q                                   -> Quantizer (requantization)
 *   Add(DQ(a), DQ(b))->Q                    -> int32 branch Quantizers, Add,
 *                                              Quantizer to y
 *   DQ->GlobalAveragePool|ReduceSum->Q      -> ReduceSum + Quantizer
 *   Concat(DQ(a), DQ(b), ...) of one scale  -> integer Concat
 *   DQ -> graph output                      -> Quantizer(x, s, to float32)
 * Zero points must be 0 (nnquant quantization is symmetric) and scales
 * constant; anything else fails with an error naming the node. On
 * failure g is left as it was. */
nq_status nq_qdq_import(nq_graph *g, nq_error *err);

#ifdef __cplusplus
}
#endif
#endif
