#!/usr/bin/env bash
# QDQ ONNX export and import through the CLI (docs/qdq.md):
#  - `nnquant export --onnx-qdq` of quantized example models passes
#    onnx.checker (full_check) with Debian's python3-onnx;
#  - ONNX Runtime (bench/node_modules/onnxruntime-node, scripts/ort.sh) on
#    the QDQ export and `nnquant run` on the quantized model agree on top-1
#    for >= 99.9% of the 10,000 Fashion-MNIST test images;
#  - `nnquant run` on the QDQ export (imported into integers on load)
#    agrees the same way, and a hand-built QDQ model runs;
#  - malformed QDQ models fail with an error naming the node.
# Usage: tests/cli_qdq_test.sh path/to/nnquant   (from the repository root)
set -euo pipefail
NQ=${1:?usage: cli_qdq_test.sh NNQUANT}
PY=/usr/bin/python3
DATA=/usr/share/datasets/fashion-mnist
TMP=$(mktemp -d /tmp/nq_cli_qdq.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! $PY -c 'import onnx, numpy' 2>/dev/null; then
  echo "SKIP: $PY lacks onnx/numpy (python3-onnx, python3-numpy)"; exit 0
fi
ORT=0
if [ -f bench/node_modules/onnxruntime-node/package.json ] && command -v node >/dev/null; then ORT=1
else echo "note: ONNX Runtime not installed (scripts/ort.sh): ORT agreement checks skipped"; fi

# the 10,000 test images as float32 .npy, preprocessed as --scale 1/255 does
# (100 with a sanitizer build of nnquant, which runs at -O0)
N=10000 CALIB=500
if grep -qa __asan_init "$NQ"; then N=100 CALIB=100; echo "note: sanitizer build: $N test images, $CALIB calibration images"; fi
$PY - "$DATA/t10k-images-idx3-ubyte.gz" "$TMP/x.npy" $N <<'EOF'
import gzip, sys, numpy as np
d = np.frombuffer(gzip.open(sys.argv[1]).read()[16:], np.uint8)
x = (d.astype(np.float32) * np.float32(0.00392156862745098)).reshape(-1, 1, 28, 28)[:int(sys.argv[3])]
np.save(sys.argv[2], x)
np.save(sys.argv[2].replace('.npy', '_2k.npy'), x[:2000])
EOF

agree() { # agree A.npy B.npy LABEL: top-1 agreement >= 99.9% (over A's rows)
  $PY - "$@" <<'EOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
b = b[:len(a)]
n = len(a); same = int((a.argmax(1) == b.argmax(1)).sum()); exact = int((a == b).all(1).sum())
print(f"{sys.argv[3]}: top-1 agreement {same}/{n}, bit-exact rows {exact}/{n}")
sys.exit(0 if same * 1000 >= 999 * n else 1)
EOF
}

check() { # check MODEL NAME [quantize flags...]
  local m=$1 name=$2; shift 2
  "$NQ" quantize "models/$m.onnx" --calib "$DATA/train-images-idx3-ubyte.gz" --calib-count $CALIB \
      --scale 0.00392156862745098 "$@" -o "$TMP/$name.onnx" 2>/dev/null || fail "quantize $name"
  "$NQ" export "$TMP/$name.onnx" --onnx-qdq "$TMP/${name}_qdq.onnx" 2>/dev/null || fail "export $name"
  $PY -c "import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True)
assert not any(n.domain == 'ai.nnquant' for n in m.graph.node), 'ai.nnquant node left'
assert not any(o.domain == 'ai.nnquant' for o in m.opset_import), 'ai.nnquant opset left'
assert not any(a.name.startswith('quantization.') for n in m.graph.node for a in n.attribute)
ops = {n.op_type for n in m.graph.node}; assert {'QuantizeLinear', 'DequantizeLinear'} <= ops, ops" \
      "$TMP/${name}_qdq.onnx" || fail "onnx.checker on $name"
  echo "$name: onnx.checker ok"
  "$NQ" run "$TMP/$name.onnx" --input "$TMP/x.npy" --output "$TMP/${name}_nq.npy" 2>/dev/null || fail "run $name"
  if [ $ORT = 1 ]; then
    node tests/qdq_ort.js --model "$TMP/${name}_qdq.onnx" --input "$TMP/x.npy" \
        --output "$TMP/${name}_ort.npy" || fail "ORT on $name"
    agree "$TMP/${name}_ort.npy" "$TMP/${name}_nq.npy" "$name ORT vs nnquant" || fail "ORT agreement $name"
  fi
  # the import on the first 2,000 images (keeps the test under two minutes)
  "$NQ" run "$TMP/${name}_qdq.onnx" --input "$TMP/x_2k.npy" --output "$TMP/${name}_imp.npy" \
      2>"$TMP/err" || { cat "$TMP/err" >&2; fail "run imported $name"; }
  grep -q "QDQ model: converted" "$TMP/err" || fail "no conversion notice for $name"
  agree "$TMP/${name}_imp.npy" "$TMP/${name}_nq.npy" "$name QDQ imported vs nnquant" || fail "import agreement $name"
}

check convnet convnet_w8 --bits 8
check convnet convnet_pc --per-channel
check resnet resnet_pc --per-channel

# hand-built QDQ models run in integers and match numpy's reference
for v in ok gap; do
  $PY tests/make_qdq_fixture.py "$TMP/fix.onnx" --variant $v
  "$NQ" run "$TMP/fix.onnx" --input "$TMP/fix.onnx.x.npy" --output "$TMP/fix_y.npy" 2>/dev/null || fail "run fixture $v"
  $PY -c "import sys, numpy as np; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]); assert a.dtype == b.dtype and (a == b).all(), (a, b)" \
      "$TMP/fix_y.npy" "$TMP/fix.onnx.y.npy" || fail "fixture $v output"
  if [ $ORT = 1 ]; then
    node tests/qdq_ort.js --model "$TMP/fix.onnx" --input "$TMP/fix.onnx.x.npy" --output "$TMP/fix_ort.npy" 2>/dev/null \
      || fail "ORT on fixture $v"
    $PY -c "import sys, numpy as np; assert (np.load(sys.argv[1]) == np.load(sys.argv[2])).all()" \
        "$TMP/fix_ort.npy" "$TMP/fix.onnx.y.npy" || fail "ORT fixture $v output"
  fi
  echo "hand-built QDQ model ($v): exact"
done

# malformed QDQ: clear errors naming the node, exit 1
for v in zero-point:q_input dynamic-scale:q_input missing-scale:q_input unsupported-op:pool; do
  $PY tests/make_qdq_fixture.py "$TMP/bad.onnx" --variant "${v%%:*}"
  rc=0; "$NQ" info "$TMP/bad.onnx" >/dev/null 2>"$TMP/err" || rc=$?
  [ $rc = 1 ] || fail "${v%%:*}: exit $rc, expected 1"
  grep -q "'${v#*:}'" "$TMP/err" || { cat "$TMP/err" >&2; fail "${v%%:*}: error does not name the node"; }
done
echo "malformed QDQ models: refused"
echo "cli_qdq_test: ok"
