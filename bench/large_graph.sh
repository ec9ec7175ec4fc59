#!/bin/sh
# Scaling of the graph-level work with depth: chains of L (Gemm 8x8 + Relu)
# layers, quantized, loaded as QDQ and run, one process each (wall s).
# usage: bench/large_graph.sh NNQUANT [L...]   (default 1000 5000 20000)
#   BASE=OTHER_NNQUANT bench/large_graph.sh ...  also times another build.
# Needs Debian's python3-onnx and python3-numpy (/usr/bin/python3) to write
# the chains. Every layer is near the identity, so that the ranges stay put.
set -eu
NQ=${1:?usage: $0 NNQUANT [L...]}
shift
SIZES=${*:-1000 5000 20000}
BASE=${BASE:-}
T=${TMPDIR:-/tmp}/large_graph.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
secs() { /usr/bin/time -f %e "$@" >/dev/null 2>"$T/time" || { cat "$T/time" >&2; exit 1; }; tail -n 1 "$T/time"; }
/usr/bin/python3 - "$T" $SIZES <<'PY'
import sys
import numpy as np
from onnx import TensorProto, helper, numpy_helper, save
out = sys.argv[1]
rng = np.random.default_rng(0)
np.save(f"{out}/x.npy", rng.standard_normal((64, 8)).astype(np.float32))
for L in map(int, sys.argv[2:]):
    nodes, inits, prev = [], [], "x"
    for i in range(L):
        w = (np.eye(8) + rng.standard_normal((8, 8)) * 0.01).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.full(8, 0.01, np.float32), f"b{i}")]
        nodes += [helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"g{i}"], name=f"gemm{i}", transB=1),
                  helper.make_node("Relu", [f"g{i}"], [f"r{i}"], name=f"relu{i}")]
        prev = f"r{i}"
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
                          [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["N", 8])], inits)
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), f"{out}/chain{L}.onnx")
PY
printf '%8s %8s %10s %10s  %s\n' layers info quantize "qdq run" build
for L in $SIZES; do
    for b in "$NQ" $BASE; do
        m="$T/chain$L.onnx" q="$T/q$L.onnx" d="$T/d$L.onnx"
        ti=$(secs "$b" info "$m")
        tq=$(secs "$b" quantize "$m" --calib "$T/x.npy" -o "$q")
        "$b" export "$q" --onnx-qdq "$d" >/dev/null 2>&1
        tr=$(secs "$b" run "$d" --input "$T/x.npy" --output "$T/o.npy")
        printf '%8s %8s %10s %10s  %s\n' "$L" "$ti" "$tq" "$tr" "$b"
    done
done
