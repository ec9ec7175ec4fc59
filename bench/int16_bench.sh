#!/bin/sh
# Quantized (default W16A16, int64 accumulators) vs float throughput, 1 thread, same run.
# usage: bench/int16_bench.sh NNQUANT [REPS] [MODELS...]   (from the repository root)
#   BASE=OTHER_NNQUANT bench/int16_bench.sh ...  also times W16A16 with another
#   build (e.g. before a kernel change), interleaved with the others.
#   QFLAGS='--bits 8 --clipping mse --per-channel --optimize-signs' LABEL=W8A8
#   bench/int16_bench.sh ...  times another quantization instead of W16A16.
# Quantizes each example model with $QFLAGS (--bits 16) into $TMPDIR, then evaluates
# float and W16A16 on the Fashion-MNIST test set interleaved (A B A B ...),
# printing every run and the medians, the slowdown float/W16A16 and top-1.
set -eu
NQ=${1:?usage: $0 NNQUANT [REPS] [MODELS...]}
REPS=${2:-3}
shift; [ $# -gt 0 ] && shift
MODELS=${*:-convnet resnet}
BASE=${BASE:-}
QFLAGS=${QFLAGS:---bits 16}
LABEL=${LABEL:-W16A16}
D=/usr/share/datasets/fashion-mnist
S=0.00392156862745098
T=${TMPDIR:-/tmp}/int16_bench.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
export NQ_NUM_THREADS=1
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -n "s/.*\"$1\": *\([0-9.eE+-]*\).*/\1/p"; }
VARIANTS="f q"
[ -n "$BASE" ] && VARIANTS="f q b"
for m in $MODELS; do
    "$NQ" quantize "models/$m.onnx" --calib "$D/train-images-idx3-ubyte.gz" --calib-count 1000 \
        --scale "$S" $QFLAGS -o "$T/${m}16.onnx" >/dev/null 2>&1
    for v in $VARIANTS; do : >"$T/$v"; done
    i=0
    while [ $i -lt "$REPS" ]; do
        for v in $VARIANTS; do
            bin=$NQ f="$T/${m}16.onnx"
            [ $v = f ] && f="models/$m.onnx"
            [ $v = b ] && bin=$BASE
            "$bin" eval "$f" --data "$D/t10k-images-idx3-ubyte.gz" \
                --labels "$D/t10k-labels-idx1-ubyte.gz" --scale "$S" --json --quiet >"$T/out.json"
            echo "$(field images_per_s <"$T/out.json") $(field top1 <"$T/out.json")" >>"$T/$v"
        done
        i=$((i + 1))
    done
    for v in $VARIANTS; do
        case $v in f) name="float" ;; q) name="$LABEL" ;; b) name="$LABEL (BASE)" ;; esac
        med=$(cut -d' ' -f1 "$T/$v" | median)
        echo "$m $name img/s: $(cut -d' ' -f1 "$T/$v" | tr '\n' ' ') median $med" \
             "top1 $(head -1 "$T/$v" | cut -d' ' -f2)"
        echo "$med" >"$T/$v.med"
    done
    for v in $VARIANTS; do
        [ $v = f ] && continue
        awk -v f="$(cat "$T/f.med")" -v q="$(cat "$T/$v.med")" -v m="$m" -v v="$v" \
            -v l="$LABEL" 'BEGIN {printf "%s float / %s%s: %.2fx\n", m, l, v == "b" ? " (BASE)" : "", f / q}'
    done
done
