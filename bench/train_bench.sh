#!/usr/bin/env bash
# Float training speed: nnquant (bench_train) vs PyTorch (train_peer.py),
# the same loop on the same model, data, batch and thread count, measured
# in the same run and interleaved (nnquant, PyTorch, nnquant, PyTorch...).
#
#   bench/train_bench.sh [model.onnx]        (default: models/convnet.onnx)
#
# One "epoch" here is COUNT training images (default 12800 = 200 batches of
# 64), shuffled, SGD lr 0.001 momentum 0.9, softmax cross-entropy, starting
# from the model's weights; only the training loop is timed (no data
# loading, no evaluation).
#
# Environment knobs (defaults in brackets):
#   THREADS   thread counts                         [1]
#   COUNT     training images per epoch             [12800]
#   BATCH     batch size                            [64]
#   ROUNDS    A/B rounds                            [2]
#   SANITY    1: also fine-tune one full epoch (60000 images) with nnquant
#             and report the test top-1 on the 10000 test images      [0]
#   JOBS      build parallelism                     [2]
#   BUILD_DIR build folder                          [build-bench]
#   RESULTS   markdown output                       [bench/train_results.md]
#   RAW       JSON lines output                     [bench/train_results.jsonl]
#   REPORT_ONLY 1: only rewrite RESULTS from an existing RAW            [0]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

THREADS="${THREADS:-1}"
COUNT="${COUNT:-12800}"
BATCH="${BATCH:-64}"
ROUNDS="${ROUNDS:-2}"
SANITY="${SANITY:-0}"
JOBS="${JOBS:-2}"
BUILD_DIR="${BUILD_DIR:-build-bench}"
RESULTS="${RESULTS:-$here/train_results.md}"
RAW="${RAW:-$here/train_results.jsonl}"
MODEL="${1:-$root/models/convnet.onnx}"
DATA=/usr/share/datasets/fashion-mnist
PY=/usr/bin/python3
if [ "${REPORT_ONLY:-0}" != 1 ]; then

echo "== building nnquant (Release) in $BUILD_DIR" >&2
cmake -S "$root" -B "$root/$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DNQ_BUILD_BENCH=ON \
      -DBUILD_TESTING=OFF -DNQ_WERROR=OFF >/dev/null
cmake --build "$root/$BUILD_DIR" --target bench_train -j "$JOBS" >&2
NQ_BIN="$root/$BUILD_DIR/bench/bench_train"

common=(--model "$MODEL" --train "$DATA/train-images-idx3-ubyte.gz"
        --labels "$DATA/train-labels-idx1-ubyte.gz" --count "$COUNT" --batch "$BATCH"
        --lr 0.001 --momentum 0.9)
echo "{\"runtime\": \"meta\", \"loadavg_before\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"cores\": $(nproc)}" > "$RAW"
for t in $THREADS; do
  for ((r = 1; r <= ROUNDS; r++)); do
    echo "== threads=$t round $r: nnquant" >&2
    out="$(NQ_NUM_THREADS=$t OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t "$NQ_BIN" "${common[@]}" --threads "$t")"
    echo "{\"runtime\": \"nnquant\", \"round\": $r, ${out#\{}" >> "$RAW"
    echo "== threads=$t round $r: pytorch" >&2
    out="$(OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t "$PY" "$here/train_peer.py" "${common[@]}" --threads "$t")"
    echo "{\"runtime\": \"pytorch\", \"round\": $r, ${out#\{}" >> "$RAW"
  done
done
if [ "$SANITY" = 1 ]; then
  echo "== sanity: one full epoch (60000 images) with nnquant, then the test set" >&2
  out="$(NQ_NUM_THREADS=1 OMP_NUM_THREADS=1 "$NQ_BIN" --model "$MODEL" \
        --train "$DATA/train-images-idx3-ubyte.gz" --labels "$DATA/train-labels-idx1-ubyte.gz" \
        --count 60000 --batch "$BATCH" --lr 0.001 --momentum 0.9 --threads 1 \
        --test "$DATA/t10k-images-idx3-ubyte.gz" --test-labels "$DATA/t10k-labels-idx1-ubyte.gz")"
  echo "{\"runtime\": \"nnquant\", \"sanity\": true, ${out#\{}" >> "$RAW"
fi
fi

"$PY" - "$RAW" "$RESULTS" "$MODEL" <<'PYEOF'
import json, statistics, sys, datetime, subprocess, platform
raw, out, model = sys.argv[1:4]
rows = [json.loads(l) for l in open(raw) if l.strip()]
meta = next((r for r in rows if r["runtime"] == "meta"), {})
rows = [r for r in rows if r["runtime"] != "meta"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
try:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except Exception:
    rev = "?"
lines = ["# Float training speed: nnquant vs PyTorch", "",
         f"Model `{model.split('/')[-1]}`, Fashion-MNIST, SGD (lr 0.001, momentum 0.9), softmax cross-entropy,",
         "shuffled batches; time of the training loop only (median over rounds, runs interleaved).",
         f"Date {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, CPU {cpu}, git {rev}, torch "
         + next((r.get('torch', '?') for r in rows if r['runtime'] == 'pytorch'), '?') + ".", "",
         "Wall time is the target's measure; CPU time (all threads of the process) is shown too, as it is",
         "less disturbed by other jobs on a shared machine "
         f"({meta.get('cores', '?')} cores; load average before the runs: {meta.get('loadavg_before', 'not recorded')}).", "",
         "| threads | images/epoch | batch | batches | nnquant s/epoch | PyTorch s/epoch | ratio nnquant/PyTorch (wall) | nnquant CPU s | PyTorch CPU s | ratio (CPU) | nnquant loss | PyTorch loss |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
for t in sorted({r["threads"] for r in rows if not r.get("sanity")}):
    nq = [r for r in rows if r["runtime"] == "nnquant" and r["threads"] == t and not r.get("sanity")]
    pt = [r for r in rows if r["runtime"] == "pytorch" and r["threads"] == t]
    a = statistics.median(r["seconds_per_epoch"] for r in nq)
    b = statistics.median(r["seconds_per_epoch"] for r in pt)
    ca = statistics.median(r["cpu_seconds_per_epoch"] for r in nq)
    cb = statistics.median(r["cpu_seconds_per_epoch"] for r in pt)
    lines.append(f"| {t} | {nq[0]['samples']} | {nq[0]['batch']} | {nq[0]['batches_per_epoch']} | {a:.2f} | {b:.2f} | "
                 f"**{a / b:.2f}** | {ca:.2f} | {cb:.2f} | {ca / cb:.2f} | {nq[-1]['last_epoch_loss']:.4f} | {pt[-1]['last_epoch_loss']:.4f} |")
for r in rows:
    if r.get("sanity"):
        lines += ["", f"Sanity: one full epoch of fine-tuning ({r['samples']} images, {r['seconds_per_epoch']:.1f} s) "
                  f"gives test top-1 {100 * r['test_top1']:.2f}% on {r['test_samples']} test images "
                  f"(training loss {r['last_epoch_loss']:.4f}, running train accuracy {100 * r['last_epoch_train_acc']:.2f}%)."]
lines += ["", "Every run: `" + raw.split('/')[-1] + "`. Reproduce: `bench/train_bench.sh` (knobs at its head)."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
echo "== wrote $RESULTS and $RAW" >&2
