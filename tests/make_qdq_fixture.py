#!/usr/bin/python3
"""Writes a small hand-built QDQ ONNX model (as another tool would make it)
for tests/test_qdq.c, with an input and the expected int8 output computed
here with numpy in the QDQ float semantics (round half to even).

  x [2,1,6,6] float -> Q(1/64, int8) -> DQ -> Conv(DQ(W int8, per-channel),
  DQ(b int32, s_x*s_w)) -> Relu -> Q(s1) -> DQ -> MaxPool 2x2 -> Q(s1) -> DQ
  -> Flatten -> Gemm(DQ(W2 int8), float bias) -> Q(s2) = output int8 [2,4]

Variant "gap" replaces MaxPool -> Flatten -> Gemm by GlobalAveragePool ->
Q(s3) -> DQ -> Concat(itself twice) -> Q(s3) -> DQ -> Flatten -> Gemm.

Usage: make_qdq_fixture.py OUT.onnx [--variant ok|gap|zero-point|
       dynamic-scale|missing-scale|unsupported-op]; with ok and gap, also
       OUT.onnx.x.npy and OUT.onnx.y.npy (input, expected output).
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def q(x, s):
    return np.clip(np.rint(x / s), -128, 127).astype(np.int8)


def main():
    out = sys.argv[1]
    variant = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--variant" else "ok"
    rng = np.random.default_rng(7)
    sx, s1, s2 = np.float32(1 / 64), np.float32(0.05), np.float32(0.1)
    w = rng.integers(-100, 100, size=(3, 1, 3, 3)).astype(np.int8)
    sw = np.array([0.004, 0.003, 0.005], np.float32)
    b = rng.integers(-2000, 2000, size=3).astype(np.int32)
    sb = (sx * sw).astype(np.float32)
    gap = variant == "gap"
    w2 = rng.integers(-120, 120, size=(4, 6 if gap else 27)).astype(np.int8)
    s3 = np.float32(0.02)
    sw2 = np.float32(0.01)
    b2 = rng.standard_normal(4).astype(np.float32)
    inits = [
        numpy_helper.from_array(np.array(sx, np.float32), "sx"),
        numpy_helper.from_array(np.array(0, np.int8), "zp"),
        numpy_helper.from_array(w, "w"), numpy_helper.from_array(sw, "sw"),
        numpy_helper.from_array(np.zeros(3, np.int8), "zw"),
        numpy_helper.from_array(b, "b"), numpy_helper.from_array(sb, "sb"),
        numpy_helper.from_array(np.array(s1, np.float32), "s1"),
        numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(np.array(sw2, np.float32), "sw2"),
        numpy_helper.from_array(b2, "b2"),
        numpy_helper.from_array(np.array(s2, np.float32), "s2"),
    ] + ([numpy_helper.from_array(np.array(s3, np.float32), "s3")] if gap else [])
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 6, 6])]
    q0_in = ["x", "sx", "zp"]
    if variant == "zero-point":
        inits.append(numpy_helper.from_array(np.array(3, np.int8), "zp3"))
        q0_in = ["x", "sx", "zp3"]
    elif variant == "dynamic-scale":
        inputs.append(helper.make_tensor_value_info("sx_in", TensorProto.FLOAT, []))
        q0_in = ["x", "sx_in", "zp"]
    elif variant == "missing-scale":
        q0_in = ["x"]
    nodes = [
        helper.make_node("QuantizeLinear", q0_in, ["xq"], name="q_input"),
        helper.make_node("DequantizeLinear", ["xq", "sx", "zp"], ["xd"], name="dq_input"),
        helper.make_node("DequantizeLinear", ["w", "sw", "zw"], ["wd"], name="dq_w", axis=0),
        helper.make_node("DequantizeLinear", ["b", "sb"], ["bd"], name="dq_b", axis=0),
        helper.make_node("Conv", ["xd", "wd", "bd"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("QuantizeLinear", ["r", "s1", "zp"], ["rq"], name="q_relu"),
        helper.make_node("DequantizeLinear", ["rq", "s1", "zp"], ["rd"], name="dq_relu"),
    ]
    if gap:
        nodes += [
            helper.make_node("GlobalAveragePool", ["rd"], ["a"], name="gap"),
            helper.make_node("QuantizeLinear", ["a", "s3", "zp"], ["aq"], name="q_gap"),
            helper.make_node("DequantizeLinear", ["aq", "s3", "zp"], ["ad"], name="dq_gap"),
            helper.make_node("Concat", ["ad", "ad"], ["cc"], name="concat", axis=1),
            helper.make_node("QuantizeLinear", ["cc", "s3", "zp"], ["ccq"], name="q_concat"),
            helper.make_node("DequantizeLinear", ["ccq", "s3", "zp"], ["pd"], name="dq_concat"),
        ]
    else:
        nodes += [
            helper.make_node("LeakyRelu" if variant == "unsupported-op" else "MaxPool", ["rd"], ["p"], name="pool",
                             **({} if variant == "unsupported-op" else {"kernel_shape": [2, 2], "strides": [2, 2]})),
            helper.make_node("QuantizeLinear", ["p", "s1", "zp"], ["pq"], name="q_pool"),
            helper.make_node("DequantizeLinear", ["pq", "s1", "zp"], ["pd"], name="dq_pool"),
        ]
    nodes += [
        helper.make_node("Flatten", ["pd"], ["f"], name="flatten"),
        helper.make_node("DequantizeLinear", ["w2", "sw2", "zp"], ["w2d"], name="dq_w2"),
        helper.make_node("Gemm", ["f", "w2d", "b2"], ["g"], name="fc", transB=1),
        helper.make_node("QuantizeLinear", ["g", "s2", "zp"], ["y"], name="q_out"),
    ]
    graph = helper.make_graph(nodes, "qdq_fixture", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.INT8, ["N", 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_qdq_fixture")
    model.ir_version = 7
    onnx.save(model, out)
    if variant not in ("ok", "gap"):
        return
    onnx.checker.check_model(model, full_check=True)
    x = rng.uniform(-1.5, 1.5, size=(2, 1, 6, 6)).astype(np.float32)
    # reference: integer accumulation, then the float rescaling of QuantizeLinear
    xq = q(x, sx).astype(np.int64)
    xp = np.pad(xq, ((0, 0), (0, 0), (1, 1), (1, 1)))
    acc = np.zeros((2, 3, 6, 6), np.int64)
    for o in range(3):
        for i in range(6):
            for j in range(6):
                acc[:, o, i, j] = (xp[:, 0, i:i + 3, j:j + 3] * w[o, 0]).sum(axis=(1, 2)) + b[o]
    real = acc * (sx * sw.astype(np.float64))[None, :, None, None]
    rq = q(np.maximum(real, 0), s1).astype(np.int64)
    if gap:
        aq = q((rq * np.float64(s1)).mean(axis=(2, 3)), s3).astype(np.int64)
        f, sf = np.concatenate([aq, aq], axis=1), s3
    else:
        f, sf = rq.reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5)).reshape(2, 27), s1
    acc2 = f @ w2.astype(np.int64).T
    y = q(acc2 * (sf * sw2) + b2, s2)
    np.save(out + ".x.npy", x)
    np.save(out + ".y.npy", y)


if __name__ == "__main__":
    main()
