#!/usr/bin/env bash
# Float inference benchmark: nnquant vs ONNX Runtime (onnxruntime-node),
# measured in the same run, interleaved (nnquant, ORT, nnquant, ORT, ...).
#
#   bench/run.sh [model.onnx ...]      (default: models/*.onnx)
#
# Environment knobs (defaults in brackets):
#   THREADS   thread counts to try            ["1 <all cores>"]
#   BATCHES   batch sizes                     ["1 64"]
#   ROUNDS    A/B rounds per configuration    [2]
#   REPS      timed repetitions per process   [5]
#   MIN_TIME  seconds per repetition          [0.3]
#   WARMUP    untimed runs per process        [5]
#   JOBS      build parallelism               [2]
#   BUILD_DIR build folder                    [build-bench]
#   RESULTS   markdown output                 [bench/results.md]
#   RAW       JSON lines output               [bench/results.jsonl]
#   PROFILE   1: add per-node profiles of both runtimes (in the last round)
#             to the JSON and to results.md                           [0]
# RAW gets one JSON line per process (every repetition, wall and CPU time).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

ncores="$(nproc)"
THREADS="${THREADS:-1 $ncores}"
BATCHES="${BATCHES:-1 64}"
ROUNDS="${ROUNDS:-2}"
REPS="${REPS:-5}"
MIN_TIME="${MIN_TIME:-0.3}"
WARMUP="${WARMUP:-5}"
JOBS="${JOBS:-2}"
BUILD_DIR="${BUILD_DIR:-build-bench}"
RESULTS="${RESULTS:-$here/results.md}"
PROFILE="${PROFILE:-0}"
RAW="${RAW:-$here/results.jsonl}"

# ---- build nnquant (Release) with the benchmark target
echo "== building nnquant (Release) in $BUILD_DIR" >&2
cmake -S "$root" -B "$root/$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DNQ_BUILD_BENCH=ON \
      -DBUILD_TESTING=OFF -DNQ_WERROR=OFF >/dev/null
cmake --build "$root/$BUILD_DIR" --target bench_nnquant -j "$JOBS" >&2
NQ_BIN="$root/$BUILD_DIR/bench/bench_nnquant"

# ---- ONNX Runtime for Node (bundles the Linux x64 library; no postinstall download)
if ! (cd "$here" && node -e "require('onnxruntime-node')" 2>/dev/null); then
  echo "== installing onnxruntime-node (npm install --ignore-scripts)" >&2
  (cd "$here" && npm install --ignore-scripts --no-audit --no-fund >&2)
fi

# ---- models
if [ "$#" -gt 0 ]; then models=("$@"); else models=("$root"/models/*.onnx); fi
if [ ! -e "${models[0]}" ]; then echo "run.sh: no models found (models/*.onnx)" >&2; exit 1; fi

: > "$RAW"
common=(--reps "$REPS" --min-time "$MIN_TIME" --warmup "$WARMUP" --seed 42)
for m in "${models[@]}"; do
  for t in $THREADS; do
    for b in $BATCHES; do
      echo "== $(basename "$m" .onnx) threads=$t batch=$b" >&2
      for ((r = 1; r <= ROUNDS; r++)); do
        prof=()
        if [ "$PROFILE" = 1 ] && [ "$r" = "$ROUNDS" ]; then prof=(--profile); fi
        # NQ_NUM_THREADS / OMP_NUM_THREADS are not set: the session's
        # num_threads is the only thread knob, as for ORT's intraOpNumThreads.
        if out="$("$NQ_BIN" --model "$m" --threads "$t" --batch "$b" "${common[@]}" ${prof[@]+"${prof[@]}"})"; then
          echo "$out" >> "$RAW"
        else
          echo "{\"runtime\":\"nnquant\",\"model\":\"$m\",\"threads\":$t,\"batch\":$b,\"error\":true}" >> "$RAW"
        fi
        if out="$(node "$here/ort_bench.js" --model "$m" --threads "$t" --batch "$b" "${common[@]}" ${prof[@]+"${prof[@]}"})"; then
          echo "$out" >> "$RAW"
        else
          echo "{\"runtime\":\"onnxruntime-node\",\"model\":\"$m\",\"threads\":$t,\"batch\":$b,\"error\":true}" >> "$RAW"
        fi
      done
    done
  done
done

node "$here/report.js" "$RAW" "$RESULTS"
echo "== wrote $RESULTS and $RAW" >&2
