#!/usr/bin/env bash
# `nnquant export --c` and `nnquant info --deploy` through the CLI
# (docs/export.md): --help, usage errors (exit 2), missing or unsupported
# models (exit 1, no output left behind), export of a small quantized model
# with --golden and by default, `make check` passing (and failing once a
# golden output is corrupted), --json, and info --deploy (text and JSON).
# Usage: tests/cli_export_test.sh path/to/nnquant   (from the repository root)
set -u
NQ=${1:?usage: cli_export_test.sh NNQUANT}
PY=/usr/bin/python3
FM=/usr/share/datasets/fashion-mnist
source "$(dirname "$0")/cli_lib.sh"
CFLAGS_STRICT="-std=c99 -Wall -Wextra -Werror -pedantic -O2"

# help and usage errors
expect 0 "$NQ" export --help
grep -q "usage: nnquant export" "$T/out" && ok || bad "export --help has no usage line"
grep -q -- "--golden" "$T/out" && grep -q "synthesized" "$T/out" && ok || bad "export --help documents the default golden vectors"
expect 2 "$NQ" export
expect 2 "$NQ" export models/mlp.onnx
expect 2 "$NQ" export models/mlp.onnx --c "$T/a" --onnx-qdq "$T/a.onnx"
expect 2 "$NQ" export models/mlp.onnx --onnx-qdq "$T/a.onnx" --golden x.npy
expect 2 "$NQ" export models/mlp.onnx --c
expect 2 "$NQ" export models/mlp.onnx --c "$T/a" --bogus
expect 0 "$NQ" info --help
grep -q -- "--deploy" "$T/out" && ok || bad "info --help lists --deploy"

# a missing model, an unquantized model: exit 1, nothing written
expect 1 "$NQ" export "$T/nosuch.onnx" --c "$T/none"
[ ! -e "$T/none" ] && ok || bad "failed export left a directory"
expect 1 "$NQ" export models/mlp.onnx --c "$T/float"
grep -q "Quantizer" "$T/err" && ok || bad "unquantized model: the message says what is missing"
[ ! -e "$T/float" ] && ok || bad "failed export of a float model left a directory"
expect 1 "$NQ" info --deploy models/mlp.onnx

# a small quantized model
expect 0 "$NQ" quantize models/mlp.onnx --calib $FM/train-images-idx3-ubyte.gz --calib-count 200 \
  --scale 0.00392156862745098 --weights int4 --per-channel -o "$T/q.onnx"

# default golden vectors
expect 0 "$NQ" export "$T/q.onnx" --c "$T/c1"
grep -q "arena" "$T/err" && ok || bad "export prints the arena size on stderr"
[ ! -s "$T/out" ] && ok || bad "export without --json writes nothing on stdout"
for f in Makefile model.h model.c kernels.c kernels.h weights.c weights.h nqrt.h nq_requant_core.h \
         model_float.c model_float.h golden.c golden.h test_main.c golden_in.npy golden_out.npy; do
  [ -f "$T/c1/$f" ] && ok || bad "export --c did not write $f"
done
make -s -C "$T/c1" check CC=cc CFLAGS="$CFLAGS_STRICT" >"$T/make.log" 2>&1 && ok || { bad "make check (default golden)"; cat "$T/make.log"; }
grep -q "4 of 4 golden vectors bit-exact" "$T/make.log" && ok || bad "make check reports 4 of 4"
grep -q "int model_run(const model_input_t \*input, model_output0_t \*output0);" "$T/c1/model.h" && ok || bad "model.h declares model_run"
# no floating point outside model_float.c
! grep -qw -e float -e double "$T/c1/model.c" "$T/c1/kernels.c" "$T/c1/weights.c" && ok || bad "float in the integer sources"

# --golden: 20 test images; golden_out.npy is what nnquant run gives
$PY -c "
import gzip, numpy as np
d = np.frombuffer(gzip.open('$FM/t10k-images-idx3-ubyte.gz').read(), np.uint8, offset=16)
np.save('$T/x.npy', d[:20 * 784].reshape(20, 1, 28, 28).astype(np.float64) / 255.0)"
expect 0 "$NQ" export "$T/q.onnx" --c "$T/c2" --golden "$T/x.npy" --json
$PY -c "
import json; d = json.load(open('$T/out'))
assert d['format'] == 'c' and d['golden_vectors'] == 20 and d['arena_bytes'] > 0, d
assert d['weight_bytes'] > 0 and d['macs'] > 0 and d['float_free'] is True, d
assert any(p.endswith('/model.h') for p in d['files']), d" && ok || bad "export --json"
expect 0 "$NQ" run "$T/q.onnx" --input "$T/x.npy" --output "$T/y.npy"
$PY -c "
import numpy as np
a, b = np.load('$T/y.npy'), np.load('$T/c2/golden_out.npy')
assert a.dtype == b.dtype and a.shape == b.shape and (a == b).all(), (a.dtype, b.dtype, a.shape, b.shape)" \
  && ok || bad "golden_out.npy is not what nnquant run gives"
grep -q "MODEL_GOLDEN_COUNT 20" "$T/c2/golden.h" && ok || bad "golden.h holds 20 vectors"
# golden inputs of the wrong size: exit 1, naming the sizes
$PY -c "import numpy as np; np.save('$T/bad.npy', np.zeros((3, 100), np.float32))"
expect 1 "$NQ" export "$T/q.onnx" --c "$T/c3" --golden "$T/bad.npy"
grep -q "784" "$T/err" && ok || bad "wrong golden size: the message gives the sample size"
[ ! -e "$T/c3" ] && ok || bad "failed export left a directory"
expect 1 "$NQ" export "$T/q.onnx" --c "$T/c3" --golden "$T/nosuch.npy"
make -s -C "$T/c2" check CC=cc CFLAGS="$CFLAGS_STRICT" >"$T/make.log" 2>&1 && ok || { bad "make check (--golden)"; cat "$T/make.log"; }
# a corrupted golden output byte fails the check
$PY - "$T/c2/golden.c" <<'EOF'
import re, sys
p = sys.argv[1]; s = open(p).read()
i = s.index('model_golden_out0['); j = s.index('{', i) + 1
m = re.compile(r'\s*(-?\d+)').match(s, j)
v = int(m.group(1)); s = s[:m.start(1)] + str(1 if v == 0 else 0) + s[m.end(1):]
open(p, 'w').write(s)
EOF
make -s -C "$T/c2" check CC=cc CFLAGS="$CFLAGS_STRICT" >"$T/make.log" 2>&1 && bad "make check passed with a corrupted golden output" || ok
grep -q "19 of 20 golden vectors bit-exact" "$T/make.log" && ok || bad "make check reports the corrupted vector"
# the float wrappers build (and the default target)
make -s -C "$T/c2" clean all float CC=cc CFLAGS="$CFLAGS_STRICT" >/dev/null 2>&1 && ok || bad "make all float"
[ -f "$T/c2/libmodel.a" ] && [ -f "$T/c2/libmodel_float.a" ] && ok || bad "libraries not built"

# info --deploy
expect 0 "$NQ" info --deploy "$T/q.onnx"
grep -q "flash:" "$T/out" && grep -q "RAM:" "$T/out" && grep -q "MACs per inference: 234752" "$T/out" && ok || bad "info --deploy text"
grep -q "Gemm" "$T/out" && ok || bad "info --deploy lists the layers"
expect 0 "$NQ" info --deploy --json "$T/q.onnx"
$PY -c "
import json; d = json.load(open('$T/out'))
assert d['macs'] == 234752 and d['ram_arena_bytes'] > 0, d
assert d['flash_bytes'] >= d['weight_bytes'] > 0, d
assert sum(l['macs'] for l in d['layers']) == d['macs'], d
assert sum(l['weight_bytes'] for l in d['layers']) == d['weight_bytes'], d
assert [l['shape'] for l in d['layers'] if l['op'].startswith('Gemm')][-1] == [1, 10], d" && ok || bad "info --deploy --json"
grep -q "\"ram_arena_bytes\": $(sed -n 's/^#define MODEL_ARENA_BYTES //p' "$T/c2/model.h")," "$T/out" && ok || bad "info --deploy arena = exported arena"

finish cli_export
