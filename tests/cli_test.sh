#!/usr/bin/env bash
# CLI contract tests: exit codes, --help, JSON output, run vs PyTorch logits,
# and clean failures on corrupt models and bad data.
# Usage: cli_test.sh NNQUANT TEST_ONNX_CORRUPT   (run from the repository root)
set -u
NQ=$1
CORRUPT=$2
source "$(dirname "$0")/cli_lib.sh"
FM=/usr/share/datasets/fashion-mnist
M=models/convnet.onnx
DATA=(--data $FM/t10k-images-idx3-ubyte.gz --labels $FM/t10k-labels-idx1-ubyte.gz --scale 0.00392156862745098)

# help and usage
expect 0 "$NQ" --help
expect 2 "$NQ"
expect 2 "$NQ" frobnicate
for c in info run eval; do
  expect 0 "$NQ" $c --help
  grep -q "usage: nnquant $c" "$T/out" && ok || bad "$c --help has no usage line"
done
expect 2 "$NQ" eval $M --data
expect 2 "$NQ" eval $M --bogus
expect 2 "$NQ" eval $M "${DATA[@]}" --limit abc
expect 2 "$NQ" info

# info
expect 0 "$NQ" info $M
grep -q "MACs per inference: 18691840" "$T/out" && ok || bad "info: MACs of the ConvNet"
expect 0 "$NQ" info $M --json
/usr/bin/python3 -c "import json,sys; d=json.load(open('$T/out')); assert d['ops']['Conv']==4 and d['macs']==18691840 and d['inputs'][0]['shape'][1:]==[1,28,28]" && ok || bad "info --json"
# a model that loads but whose shapes cannot be inferred (Conv weight has 3
# input channels, the input 1): described, MACs unknown, a warning on stderr
/usr/bin/python3 - "$T/badshape.onnx" <<'EOF'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
EOF
expect 0 "$NQ" info "$T/badshape.onnx"
grep -q "MACs per inference: unknown" "$T/out" && grep -q "warning: shape inference failed" "$T/err" && ok || bad "info: failed shape inference is reported"
expect 0 "$NQ" info "$T/badshape.onnx" --json
/usr/bin/python3 -c "import json; d=json.load(open('$T/out')); assert d['macs'] is None and d['shape_error'] and d['outputs'][0]['shape'] is None, d" && ok || bad "info --json: shape_error"

# eval --json: one JSON object on stdout, nothing else
expect 0 "$NQ" eval $M "${DATA[@]}" --limit 200 --json
/usr/bin/python3 -c "import json; d=json.load(open('$T/out')); assert d['samples']==200 and 0.8<d['top1']<=1 and d['images_per_s']>0" && ok || bad "eval --json"

# run: any batch size; matches PyTorch's logits
expect 0 "$NQ" run $M --input models/ref/input.npy --output "$T/y.npy"
/usr/bin/python3 -c "
import numpy as np
y=np.load('$T/y.npy'); r=np.load('models/ref/convnet_logits.npy')
assert y.shape==r.shape and y.dtype==np.float32, (y.shape, y.dtype)
assert np.abs(y-r).max() <= 1e-4, np.abs(y-r).max()" && ok || bad "run vs pytorch logits"
/usr/bin/python3 -c "import numpy as np; np.save('$T/x3.npy', np.load('models/ref/input.npy')[:3].astype(np.float64))"
expect 0 "$NQ" run $M --input "$T/x3.npy" --output "$T/y3.npy"
expect 2 "$NQ" run $M --input "$T/x3.npy"
/usr/bin/python3 -c "import numpy as np; np.save('$T/wrong.npy', np.zeros((2,3),np.float32))"
expect 1 "$NQ" run $M --input "$T/wrong.npy" --output "$T/never.npy"
grep -q "input 'input'" "$T/err" && ok || bad "wrong shape message names the input"
[ ! -e "$T/never.npy" ] && ok || bad "a failed run left an output file"

# corrupt models: exit 1 with a message naming the file, never a crash
mkdir -p "$T/corpus"
"$CORRUPT" --write-corpus "$T/corpus" >/dev/null
n=0
for f in "$T"/corpus/*.onnx; do
  n=$((n + 1))
  "$NQ" info "$f" >"$T/out" 2>"$T/err"; rc=$?
  if [ $rc -ne 1 ]; then bad "info $(basename "$f"): exit $rc"; continue; fi
  grep -q "$(basename "$f")" "$T/err" && ok || bad "info $(basename "$f"): message does not name the file"
done
[ $n -ge 5 ] && ok || bad "corrupt corpus has only $n files"
expect 1 "$NQ" info "$T/does-not-exist.onnx"

# bad data: NaN, label count mismatch
/usr/bin/python3 -c "
import numpy as np
x=np.zeros((4,1,28,28),np.float32); x[2,0,3,4]=np.nan; np.save('$T/nan.npy', x)
np.save('$T/ok.npy', np.zeros((4,1,28,28),np.float32)); np.save('$T/lab3.npy', np.zeros(3,np.int64))"
expect 1 "$NQ" eval $M --data "$T/nan.npy" --labels "$T/lab3.npy"
expect 1 "$NQ" eval $M --data "$T/ok.npy" --labels "$T/lab3.npy"
grep -qi "label" "$T/err" && ok || bad "label mismatch message"

# quantize, report, compare (small calibration: the accuracy targets live in test_ptq_models)
for c in report quantize compare; do expect 0 "$NQ" $c --help; done
expect 0 "$NQ" report $M
grep -q "the whole model can be quantized" "$T/out" && ok || bad "report: convnet quantizable"
expect 2 "$NQ" quantize $M -o "$T/q.onnx"
expect 2 "$NQ" quantize $M --calib $FM/train-images-idx3-ubyte.gz -o "$T/q.onnx" --clipping bogus
expect 0 "$NQ" quantize $M --calib $FM/train-images-idx3-ubyte.gz --calib-count 100 --scale 0.00392156862745098 \
  --clipping mse --per-channel --dequantize -o "$T/q.onnx" --json
/usr/bin/python3 -c "import json; d=json.load(open('$T/out')); assert d['calibration_samples']==100" && ok || bad "quantize --json"
expect 0 "$NQ" compare $M "$T/q.onnx" "${DATA[@]}" --limit 100 --json
/usr/bin/python3 -c "
import json; d=json.load(open('$T/out'))
assert d['samples']==100 and len(d['layers'])>=6, d
assert all(l['sqnr_db'] is None or l['sqnr_db']>20 for l in d['layers']), d['layers']" && ok || bad "compare --json: layers and SQNR"
expect 1 "$NQ" quantize $M --calib $FM/train-images-idx3-ubyte.gz --calib-count 100 --precision nosuchnode=int4 -o "$T/q2.onnx"
[ ! -e "$T/q2.onnx" ] && ok || bad "a failed quantize left an output file"
# --bias-correction (the default) against --no-bias-correction: it changes biases but not the structure
expect 0 "$NQ" quantize --help
grep -q -- "--bias-correction" "$T/out" && ok || bad "quantize --help lacks --bias-correction"
expect 0 "$NQ" quantize $M --calib $FM/train-images-idx3-ubyte.gz --calib-count 100 --scale 0.00392156862745098 \
  --clipping mse --no-bias-correction -o "$T/b0.onnx"
expect 0 "$NQ" quantize $M --calib $FM/train-images-idx3-ubyte.gz --calib-count 100 --scale 0.00392156862745098 \
  --clipping mse --bias-correction -o "$T/b1.onnx"
/usr/bin/python3 - "$T/b0.onnx" "$T/b1.onnx" <<'PY' && ok || bad "--bias-correction: biases unchanged or structure changed"
import sys, onnx
from onnx import numpy_helper as nh
a, b = (onnx.load(f).graph for f in sys.argv[1:])
assert [n.op_type for n in a.node] == [n.op_type for n in b.node]
ia = {i.name: nh.to_array(i) for i in a.initializer}
ib = {i.name: nh.to_array(i) for i in b.initializer}
assert ia.keys() == ib.keys()
moved = [k for k in ia if ia[k].dtype.name == "int32" and ia[k].ndim == 1 and (ia[k] != ib[k]).any()]
assert moved, "no int32 bias moved"
PY
expect 0 "$NQ" quantize $M --calib $FM/train-images-idx3-ubyte.gz --calib-count 100 --scale 0.00392156862745098 \
  --clipping mse -o "$T/b2.onnx"
cmp -s "$T/b1.onnx" "$T/b2.onnx" && ok || bad "bias correction is not the default"
expect 2 "$NQ" quantize $M --calib $FM/train-images-idx3-ubyte.gz --bias-correction --no-bias-correction -o "$T/b3.onnx"
expect 2 "$NQ" quantize $M --calib $FM/train-images-idx3-ubyte.gz --bias-correction-samples -1 -o "$T/b3.onnx"
# --relu-ranges: listed; conv1's range before its Relu is its largest positive value, not max |x|
"$NQ" quantize --help | grep -q -- "--relu-ranges" && ok || bad "quantize --help lacks --relu-ranges"
for f in "" --relu-ranges; do
  "$NQ" quantize $M --calib $FM/train-images-idx3-ubyte.gz --calib-count 100 --scale 0.00392156862745098 \
    --clipping mse --verbose $f -o "$T/r$f.onnx" 2>"$T/r$f.log" || bad "quantize $f"
done
a=$(grep "^clipping /conv1/" "$T/r.log" | awk '{print $4}'); b=$(grep "^clipping /conv1/" "$T/r--relu-ranges.log" | awk '{print $4}')
awk -v a="$a" -v b="$b" 'BEGIN { exit !(b > 0 && b < a) }' && ok || bad "--relu-ranges: conv1 range $b not below $a"

finish cli
