#!/usr/bin/env bash
# `nnquant qat`: help, usage errors, short LSQ and SAT runs (--limit) whose
# output eval, run and export accept, checkpoints and --resume.
# Usage: cli_qat_test.sh NNQUANT   (run from the repository root)
set -u
NQ=$1
source "$(dirname "$0")/cli_lib.sh"
FM=/usr/share/datasets/fashion-mnist
M=models/convnet.onnx
TRAIN=(--train $FM/train-images-idx3-ubyte.gz --train-labels $FM/train-labels-idx1-ubyte.gz --scale 0.00392156862745098)
VAL=(--val $FM/t10k-images-idx3-ubyte.gz --val-labels $FM/t10k-labels-idx1-ubyte.gz --val-limit 200)
EVAL=(--data $FM/t10k-images-idx3-ubyte.gz --labels $FM/t10k-labels-idx1-ubyte.gz --scale 0.00392156862745098 --limit 200)

# help: every option with its default
expect 0 "$NQ" qat --help
for w in "usage: nnquant qat" --method --bits --train --train-labels --val --val-labels --epochs --batch \
         --lr --optimizer --resume --json "default 64" "ckpt.onnx"; do
  grep -q -- "$w" "$T/out" && ok || bad "qat --help lacks '$w'"
done
"$NQ" --help | grep -q "qat" && ok || bad "nnquant --help does not list qat"

# usage errors (2) and errors (1)
expect 2 "$NQ" qat
expect 2 "$NQ" qat $M --method lsq --bits 4 "${TRAIN[@]}" -o $T/x.onnx            # no --epochs
expect 2 "$NQ" qat $M --method pact --bits 4 --epochs 1 "${TRAIN[@]}" -o $T/x.onnx
expect 2 "$NQ" qat $M --method lsq --bits 9 --epochs 1 "${TRAIN[@]}" -o $T/x.onnx
expect 2 "$NQ" qat $M --method lsq --bits 4 --epochs 1 --optimizer rmsprop "${TRAIN[@]}" -o $T/x.onnx
expect 2 "$NQ" qat $M --method lsq --bits 4 --epochs 1 --val $FM/t10k-images-idx3-ubyte.gz "${TRAIN[@]}" -o $T/x.onnx
expect 2 "$NQ" qat $M --method lsq --bits 4 --epochs 1 --lr -1 "${TRAIN[@]}" -o $T/x.onnx
expect 1 "$NQ" qat models/none.onnx --method lsq --bits 4 --epochs 1 "${TRAIN[@]}" --limit 64 -o $T/x.onnx
expect 1 "$NQ" qat $M --method lsq --bits 4 --epochs 1 "${TRAIN[@]}" --limit 64 -o $T/x.onnx --resume
[ ! -e $T/x.onnx ] && ok || bad "a failed run left an output"

# a short LSQ run: JSON, checkpoint, an integer model that eval/run/export accept
expect 0 "$NQ" qat $M --method lsq --bits 4 --epochs 1 --limit 256 "${TRAIN[@]}" "${VAL[@]}" -o $T/l.onnx --json
cp "$T/out" "$T/l.json"
/usr/bin/python3 - "$T/l.json" <<'PY' && ok || bad "qat --json"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["method"] == "lsq" and d["bits"] == 4 and len(d["epochs"]) == 1
e = d["epochs"][0]
assert e["loss"] > 0 and 0 <= e["train_top1"] <= 1 and 0 <= e["val_top1"] <= 1
assert d["top1"] == d["fake_quantized_top1"], d   # the integer model predicts as the trained one
assert d["top1"] > 0.8, d
PY
grep -q "epoch 1/1: loss" "$T/err" && ok || bad "no per-epoch progress on stderr"
[ -s $T/l.onnx.ckpt.onnx ] && [ -s $T/l.onnx.ckpt.onnx.optim.npy ] && ok || bad "no checkpoint"
expect 0 "$NQ" eval $T/l.onnx "${EVAL[@]}" --json
/usr/bin/python3 -c "import json; a=json.load(open('$T/out')); b=json.load(open('$T/l.json')); assert a['top1']==b['top1'], (a, b)" \
  && ok || bad "eval of the qat output differs from qat's own figure"
expect 0 "$NQ" info $T/l.onnx
grep -q "Quantizer" "$T/out" && ! grep -q "LSQ" "$T/out" && ok || bad "output is not a PTQ-form integer model"
/usr/bin/python3 -c "import numpy as np; np.save('$T/x.npy', np.random.RandomState(0).rand(2,1,28,28).astype(np.float32))"
expect 0 "$NQ" run $T/l.onnx --input $T/x.npy --output $T/y.npy
expect 0 "$NQ" export $T/l.onnx --onnx-qdq $T/l_qdq.onnx

# --resume: continues from the checkpoint (epoch 2 of 2)
expect 0 "$NQ" qat $M --method lsq --bits 4 --epochs 2 --limit 256 "${TRAIN[@]}" -o $T/l.onnx --resume
grep -q "resuming from .* at epoch 2" "$T/err" && grep -q "epoch 2/2" "$T/err" && ! grep -q "epoch 1/2" "$T/err" \
  && ok || bad "--resume did not continue at epoch 2"

# a short SAT run (W4A4, DoReFa default mode)
expect 0 "$NQ" qat $M --method sat --bits 4 --dorefa-mode default --epochs 1 --limit 256 "${TRAIN[@]}" "${VAL[@]}" \
  -o $T/s.onnx --json
/usr/bin/python3 -c "import json; d=json.load(open('$T/out')); assert d['method']=='sat' and d['top1']==d['fake_quantized_top1'], d" \
  && ok || bad "sat --json"
expect 0 "$NQ" eval $T/s.onnx "${EVAL[@]}"

# starting from a PTQ result (its integer form and its QDQ export): every
# quantizer starts on its ranges; a fake-quantized model is refused
expect 0 "$NQ" quantize $M --calib $FM/train-images-idx3-ubyte.gz --calib-count 200 --scale 0.00392156862745098 \
  --weights int4 --acts int4 --optimize-signs --clipping mse -o $T/p.onnx
expect 0 "$NQ" export $T/p.onnx --onnx-qdq $T/p_qdq.onnx
for start in $T/p.onnx $T/p_qdq.onnx; do
  expect 0 "$NQ" qat $start --method lsq --bits 4 --epochs 1 --limit 256 "${TRAIN[@]}" "${VAL[@]}" -o $T/pq.onnx --json
  grep -q "is quantized: training starts from its weights; \([0-9]*\) of \1 quantizers start on its ranges" "$T/err" \
    && ok || bad "qat from $start: not every quantizer started on the PTQ ranges"
  /usr/bin/python3 -c "import json; d=json.load(open('$T/out')); assert d['top1']==d['fake_quantized_top1'] and d['top1'] > 0.8, d" \
    && ok || bad "qat from $start: --json"
done
expect 0 "$NQ" qat $T/p.onnx --method sat --bits 4 --epochs 1 --limit 256 "${TRAIN[@]}" -o $T/ps.onnx
grep -q "is quantized: training starts" "$T/err" && ok || bad "sat from a PTQ result"
expect 0 "$NQ" quantize $M --calib $FM/train-images-idx3-ubyte.gz --calib-count 64 --scale 0.00392156862745098 \
  --fake-quantize -o $T/pf.onnx
expect 1 "$NQ" qat $T/pf.onnx --method lsq --bits 4 --epochs 1 --limit 64 "${TRAIN[@]}" -o $T/x.onnx
grep -q "quantize without --fake-quantize" "$T/err" && ok || bad "fake-quantized start: unclear error"

finish cli_qat
