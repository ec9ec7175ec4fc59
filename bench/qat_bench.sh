#!/bin/bash
# QAT accuracy runs of bench/qat_results.md, one after the other.
# Usage (from the repository root): EPOCHS=1 bench/qat_bench.sh "convnet lsq 4" "resnet sat 4" ...
# Each spec is "MODEL METHOD BITS"; results in /tmp/qat_MODEL_METHODBITS.{json,log}.
FM=/usr/share/datasets/fashion-mnist
NQ=${NQ:-build/nnquant}
for spec in "$@"; do
  set -- $spec
  /usr/bin/time -f "wall %e s" $NQ qat models/$1.onnx --method $2 --bits $3 --epochs ${EPOCHS:-2} \
    --train $FM/train-images-idx3-ubyte.gz --train-labels $FM/train-labels-idx1-ubyte.gz \
    --val $FM/t10k-images-idx3-ubyte.gz --val-labels $FM/t10k-labels-idx1-ubyte.gz \
    --scale 0.00392156862745098 -o /tmp/qat_$1_$2$3.onnx --json > /tmp/qat_$1_$2$3.json 2> /tmp/qat_$1_$2$3.log
  echo "$spec: rc=$? $(cat /tmp/qat_$1_$2$3.json)"
done
