#!/usr/bin/env node
// ort_bench.js: float inference throughput of ONNX Runtime (onnxruntime-node)
// on one ONNX model; the same measurement as bench_nnquant.c.
//
// Random inputs (uniform [0,1), fixed seed, same generator as bench_nnquant),
// `warmup` untimed runs, then `reps` repetitions of `iters` timed runs; the
// median ms per batch over the repetitions and images/s are printed as JSON.
// With --iters 0 (default) the iteration count is chosen so that one
// repetition lasts about --min-time seconds. Besides wall time, the CPU time
// of the process (all threads, user + system, process.cpuUsage) per batch is
// reported ("cpu_ms_per_batch", median): on a shared machine, time slices
// lost to other jobs inflate wall time but not CPU time.
//
// Session options: intraOpNumThreads = --threads (0 = all cores),
// interOpNumThreads 1, graphOptimizationLevel 'all', executionMode sequential.
//
// --profile adds a per-node breakdown ("profile"): a second session with
// ORT's own profiler (enableProfiling) runs the same warm-up and iters * reps
// runs; node kernel times of the timed runs are averaged per run. Names are
// ORT's after graph optimization (fused Conv+Relu in NCHWc layout, ...).
//
// Usage: node ort_bench.js --model M.onnx [--threads T] [--batch B]
//          [--warmup W] [--iters I] [--reps R] [--min-time S] [--seed N]
//          [--profile]
'use strict';

const os = require('os');
const path = require('path');

function parseArgs(argv) {
  const a = { model: null, threads: 1, batch: 1, warmup: 5, iters: 0, reps: 7, minTime: 0.3, seed: 42n, profile: false };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (k === '-h' || k === '--help') { usage(0); }
    if (k === '--profile') { a.profile = true; i -= 1; continue; }
    if (v === undefined) { console.error(`ort_bench: ${k} needs a value`); usage(2); }
    switch (k) {
      case '--model': a.model = v; break;
      case '--threads': a.threads = parseInt(v, 10); break;
      case '--batch': a.batch = parseInt(v, 10); break;
      case '--warmup': a.warmup = parseInt(v, 10); break;
      case '--iters': a.iters = parseInt(v, 10); break;
      case '--reps': a.reps = parseInt(v, 10); break;
      case '--min-time': a.minTime = parseFloat(v); break;
      case '--seed': a.seed = BigInt(v); break;
      default: console.error(`ort_bench: unknown option ${k}`); usage(2);
    }
  }
  if (!a.model || !(a.threads >= 0) || !(a.batch >= 1) || !(a.warmup >= 0) || !(a.iters >= 0) ||
      !(a.reps >= 1) || !(a.minTime > 0)) usage(2);
  return a;
}

function usage(code) {
  (code ? console.error : console.log)(
    'usage: node ort_bench.js --model M.onnx [--threads T] [--batch B] [--warmup W]\n' +
    '                         [--iters I] [--reps R] [--min-time S] [--seed N]\n' +
    '                         [--profile]\n' +
    '  threads 0 = all cores');
  process.exit(code);
}

// splitmix64, identical to bench_nnquant.c: value = (next >> 40) / 2^24.
function makeRng(seed) {
  const M = (1n << 64n) - 1n;
  let s = seed & M;
  return () => {
    s = (s + 0x9E3779B97F4A7C15n) & M;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & M;
    z = z ^ (z >> 31n);
    return Number(z >> 40n) / 16777216;
  };
}

const nowS = () => Number(process.hrtime.bigint()) / 1e9;

// Runs `warmup` + `runs` inferences in a profiling session and returns the
// mean kernel time per run of each (optimized) node over the last `runs`.
async function profileRuns(ort, a, sessionOptions, feeds, warmup, runs) {
  const fs = require('fs');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort_bench_'));
  const prefix = path.join(dir, 'prof');
  const s = await ort.InferenceSession.create(a.model, { ...sessionOptions, enableProfiling: true, profileFilePrefix: prefix });
  for (let i = 0; i < warmup + runs; i++) await s.run(feeds);
  s.endProfiling();
  await s.release();
  const files = fs.readdirSync(dir).filter((f) => f.startsWith('prof') && f.endsWith('.json'));
  if (files.length !== 1) throw new Error(`profile file not found in ${dir}`);
  const events = JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8'));
  fs.rmSync(dir, { recursive: true, force: true });
  const starts = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => e.ts).sort((p, q) => p - q);
  const t0 = starts.length > warmup ? starts[warmup] : 0;
  const runMs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run' && e.ts >= t0).reduce((p, e) => p + e.dur, 0) / 1e3 / runs;
  const nodes = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || e.ts < t0 || !e.name.endsWith('_kernel_time')) continue;
    const key = e.name.slice(0, -'_kernel_time'.length);
    if (!nodes.has(key)) nodes.set(key, { node: key, op: e.args && e.args.op_name, us: 0 });
    nodes.get(key).us += e.dur;
  }
  const sum = [...nodes.values()].reduce((p, n) => p + n.us, 0);
  return {
    runs,
    total_ms: runMs,
    nodes_ms: sum / 1e3 / runs,
    nodes: [...nodes.values()].map((n) => ({ node: n.node, op: n.op, ms: n.us / 1e3 / runs, pct: Number((100 * n.us / sum).toFixed(2)) })),
  };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    console.error(`ort_bench: cannot load onnxruntime-node (run 'npm install --ignore-scripts' in ${__dirname}): ${e.message}`);
    process.exit(1);
  }
  const threads = a.threads === 0 ? os.cpus().length : a.threads;
  const sessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  const session = await ort.InferenceSession.create(a.model, sessionOptions);
  if (session.inputNames.length !== 1) throw new Error(`${a.model}: expected 1 input, got ${session.inputNames.length}`);
  const meta = session.inputMetadata && session.inputMetadata[0];
  if (!meta || !meta.shape) throw new Error(`${a.model}: input shape unknown`);
  const dims = meta.shape.map((d, i) => {
    if (i === 0) return a.batch;
    if (typeof d !== 'number' || d < 1) throw new Error(`${a.model}: input dim ${i} is dynamic; only the batch may be`);
    return d;
  });
  const n = dims.reduce((p, d) => p * d, 1);
  const x = new Float32Array(n);
  const rng = makeRng(a.seed);
  for (let i = 0; i < n; i++) x[i] = rng();
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, dims) };

  const warmup = Math.max(a.warmup, 1);
  let t0 = nowS();
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const warmPerIter = (nowS() - t0) / warmup;
  let iters = a.iters;
  if (iters === 0) iters = Math.min(1000000, Math.max(1, Math.ceil(a.minTime / Math.max(warmPerIter, 1e-9))));

  const repMs = [], repCpuMs = [];
  for (let r = 0; r < a.reps; r++) {
    const t = nowS(), c = process.cpuUsage();
    for (let i = 0; i < iters; i++) await session.run(feeds);
    repMs.push((nowS() - t) * 1e3 / iters);
    const d = process.cpuUsage(c);
    repCpuMs.push((d.user + d.system) / 1e3 / iters);
  }
  // Cost of the async wrapper alone (setImmediate + promise per run), for
  // context at small batch sizes: it is included in ms_per_batch.
  const m = 2000;
  t0 = nowS();
  for (let i = 0; i < m; i++) await new Promise((res) => setImmediate(res));
  const jsOverheadMs = (nowS() - t0) * 1e3 / m;

  const median = (v) => {
    const s = [...v].sort((p, q) => p - q), n = s.length;
    return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  };
  const sorted = [...repMs].sort((p, q) => p - q);
  const R = sorted.length;
  const med = median(repMs);
  const out = {
    runtime: 'onnxruntime-node',
    ort_version: (ort.env && ort.env.versions && ort.env.versions.node) || require('onnxruntime-node/package.json').version,
    model: a.model,
    threads: a.threads,
    session_threads: threads,
    batch: a.batch,
    warmup,
    iters,
    reps: a.reps,
    ms_per_batch: med,
    ms_min: sorted[0],
    ms_max: sorted[R - 1],
    images_per_s: a.batch * 1e3 / med,
    js_overhead_ms: jsOverheadMs,
    rep_ms: repMs,
    cpu_ms_per_batch: median(repCpuMs),
    rep_cpu_ms: repCpuMs,
  };
  await session.release();
  if (a.profile) out.profile = await profileRuns(ort, a, sessionOptions, feeds, warmup, iters * a.reps);
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error(`ort_bench: ${e.message || e}`); process.exit(1); });
