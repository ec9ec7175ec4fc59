#!/usr/bin/env bash
# The main job on the bundled default: installs what is missing, builds
# nnquant, quantizes the example ConvNet to int8 (calibration on the first
# 1,000 training images) and prints float vs quantized accuracy on the
# 10,000 Fashion-MNIST test images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
if [ ! -x build/nnquant ] || [ -n "$(find src include CMakeLists.txt -newer build/nnquant 2>/dev/null | head -1)" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
fi
FM=/usr/share/datasets/fashion-mnist
model=models/convnet.onnx
PREP=(--scale 0.00392156862745098)
out=build/convnet_int8.onnx
echo "== quantize $model to int8 (true integers, MSE clipping, per-channel weights) =="
build/nnquant quantize "$model" --calib $FM/train-images-idx3-ubyte.gz --calib-count 1000 "${PREP[@]}" \
  --clipping mse --per-channel --optimize-signs --dequantize -o "$out"
echo "== float vs int8 on the 10,000 test images =="
build/nnquant compare "$model" "$out" --data $FM/t10k-images-idx3-ubyte.gz \
  --labels $FM/t10k-labels-idx1-ubyte.gz "${PREP[@]}" --limit 10000
