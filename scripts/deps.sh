#!/usr/bin/env bash
# Installs, with apt-get, the Debian packages nnquant needs to build and test,
# skipping those already installed. Usage: scripts/deps.sh [build|test]
set -euo pipefail
build_pkgs=(cmake make gcc protobuf-c-compiler libprotobuf-c-dev libonnx-dev libopenblas-dev zlib1g-dev
            dataset-fashion-mnist)
test_pkgs=(clang gcc-arm-none-eabi libonnx-testdata python3-onnx python3-numpy valgrind)
pkgs=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && pkgs+=("${test_pkgs[@]}")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "nnquant: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
