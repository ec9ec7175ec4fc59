#!/usr/bin/env bash
# Installs ONNX Runtime for Node (onnxruntime-node 1.30.0, bench/package.json)
# into bench/node_modules when it is missing. npm runs with --ignore-scripts:
# the package ships its native binaries, no install script is needed.
# Used by the QDQ export test (tests/cli_qdq_test.sh) and the benchmarks.
# Without node/npm or network, prints why and exits 0: the tests that need
# ONNX Runtime then say they are skipped.
set -uo pipefail
cd "$(dirname "$0")/../bench"
if [ -f node_modules/onnxruntime-node/package.json ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "nnquant: npm not found: ONNX Runtime not installed (QDQ tests will skip it)" >&2
  exit 0
fi
echo "nnquant: installing onnxruntime-node into bench/node_modules" >&2
if ! npm install --ignore-scripts --no-audit --no-fund >/dev/null; then
  echo "nnquant: npm install failed: ONNX Runtime not installed (QDQ tests will skip it)" >&2
fi
exit 0
