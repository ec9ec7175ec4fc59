#!/usr/bin/env bash
# The main job on the bundled default: installs what is missing, builds
# nnquant, and evaluates the example ConvNet on the 10,000 Fashion-MNIST
# test images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
if [ ! -x build/nnquant ] || [ -n "$(find src include CMakeLists.txt -newer build/nnquant 2>/dev/null | head -1)" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
fi
FM=/usr/share/datasets/fashion-mnist
model=models/convnet.onnx
echo "== $model: float32 on the Fashion-MNIST test set =="
build/nnquant info "$model"
build/nnquant eval "$model" --data $FM/t10k-images-idx3-ubyte.gz --labels $FM/t10k-labels-idx1-ubyte.gz \
  --scale 0.00392156862745098
