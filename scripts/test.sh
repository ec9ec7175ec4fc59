#!/usr/bin/env bash
# The test command: installs what is missing, builds nnquant twice (release,
# and ASan+UBSan) and runs the whole ctest suite on both, then checks that
# clang builds it warning-free too.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
scripts/ort.sh
jobs=$(nproc 2>/dev/null || echo 2)

echo "== release build (gcc, -Werror) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== ASan + UBSan build =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNQ_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j"$jobs")

echo "== clang build (-Werror, no tests) =="
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-clang -j"$jobs" >/dev/null
echo "clang: build ok"
