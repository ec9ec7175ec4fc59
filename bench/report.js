#!/usr/bin/env node
// report.js RAW.jsonl OUT.md: aggregates the JSON lines written by run.sh
// (all timed repetitions of all rounds of a configuration, per runtime;
// median ms per batch) into a table, prints it and writes it as markdown
// with the date, CPU and versions.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execSync } = require('child_process');

const [rawPath, outPath] = process.argv.slice(2);
const lines = fs.readFileSync(rawPath, 'utf8').split('\n').filter((l) => l.trim());
const rows = new Map(); // key -> {model, threads, batch, nq: [], ort: [], nqErr, ortErr}
let ortVersion = '?', blas = '?';
for (const l of lines) {
  const j = JSON.parse(l);
  const model = path.basename(j.model, '.onnx');
  const threads = j.session_threads || j.threads;
  const key = `${model}\t${j.threads}\t${j.batch}`;
  if (!rows.has(key)) rows.set(key, { model, threads: j.threads, sthreads: threads, batch: j.batch, nq: [], ort: [], nqCpu: [], ortCpu: [], nqErr: false, ortErr: false, nqProf: null, ortProf: null });
  const r = rows.get(key);
  if (j.session_threads) r.sthreads = j.session_threads;
  const nq = j.runtime === 'nnquant';
  if (j.error) { if (nq) r.nqErr = true; else r.ortErr = true; continue; }
  if (!nq && j.ort_version) ortVersion = j.ort_version;
  if (j.profile) { if (nq) r.nqProf = j.profile; else r.ortProf = j.profile; }
  if (nq && j.blas) blas = j.blas;
  (nq ? r.nq : r.ort).push(...j.rep_ms);
  if (j.rep_cpu_ms) (nq ? r.nqCpu : r.ortCpu).push(...j.rep_cpu_ms);
}

const median = (v) => {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
};
const spread = (v) => {
  if (v.length < 2) return '';
  const m = median(v);
  return `±${(100 * (Math.max(...v) - Math.min(...v)) / 2 / m).toFixed(0)}%`;
};
const fmt = (x) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toPrecision(3)) : 'error');

const header = ['model', 'threads', 'batch', 'nnquant img/s', 'ORT img/s', 'nnquant/ORT', 'nnquant ms/batch', 'ORT ms/batch', 'CPU ms nnquant', 'CPU ms ORT', 'nnquant/ORT by CPU'];
const table = [];
for (const r of rows.values()) {
  const nqMs = r.nqErr && !r.nq.length ? NaN : median(r.nq);
  const ortMs = r.ortErr && !r.ort.length ? NaN : median(r.ort);
  const nqIps = r.batch * 1e3 / nqMs, ortIps = r.batch * 1e3 / ortMs;
  table.push([r.model, String(r.sthreads), String(r.batch), fmt(nqIps), fmt(ortIps),
    Number.isFinite(nqIps / ortIps) ? (nqIps / ortIps).toFixed(2) + 'x' : 'n/a',
    `${fmt(nqMs)} ${spread(r.nq)}`.trim(), `${fmt(ortMs)} ${spread(r.ort)}`.trim(),
    fmt(median(r.nqCpu)), fmt(median(r.ortCpu)),
    r.nqCpu.length && r.ortCpu.length ? (median(r.ortCpu) / median(r.nqCpu)).toFixed(2) + 'x' : 'n/a']);
}

const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
const line = (cells) => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(line(header));
for (const t of table) console.log(line(t));

const sh = (c) => { try { return execSync(c, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch (e) { return '?'; } };
const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
const field = (name) => { const m = cpuinfo.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm')); return m ? m[1].trim() : '?'; };
const flags = field('flags').split(/\s+/);
const simd = ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni'].filter((f) => flags.includes(f)).join(' ');
const root = path.resolve(__dirname, '..');

const md = [];
md.push('# nnquant vs ONNX Runtime: float inference throughput', '');
md.push(`- date: ${new Date().toISOString()}`);
md.push(`- CPU: ${field('model name')} (family ${field('cpu family')}, model ${field('model')}), ${os.cpus().length} online cores; SIMD: ${simd || '?'}`);
md.push(`- load average at report time (1/5/15 min): ${os.loadavg().map((x) => x.toFixed(2)).join(' / ')} on ${os.cpus().length} cores (other jobs share the machine)`);
md.push(`- OPENBLAS_CORETYPE: ${process.env.OPENBLAS_CORETYPE || '(unset)'}`);
md.push(`- nnquant: git ${sh(`git -C "${root}" rev-parse --short HEAD`)}${sh(`git -C "${root}" status --porcelain --untracked-files=no`) ? ' + uncommitted changes' : ''}, Release build (build-bench); float GEMM: OpenBLAS core ${blas}`);
md.push(`- ONNX Runtime: onnxruntime-node ${ortVersion} (node ${process.version}), intraOpNumThreads = threads, interOpNumThreads 1, graphOptimizationLevel all`);
md.push(`- inputs: uniform [0,1) random, fixed seed 42, float32 [batch,1,28,28]; ms/batch = median over all timed repetitions of all interleaved rounds (± = half the min-max spread)`);
md.push(`- CPU ms = median CPU time (user + system, all threads of the process) per batch. On a shared machine, time slices lost to other jobs inflate wall time, not CPU time: with 1 thread, 'nnquant/ORT by CPU' (= ORT CPU ms / nnquant CPU ms) is the steadier throughput ratio; with several threads it is a CPU-efficiency ratio (spin-waiting threads count too)`);
md.push('');
md.push('| ' + header.join(' | ') + ' |');
md.push('|' + header.map((h, i) => (i < 1 ? ' --- ' : ' ---: ')).join('|') + '|');
for (const t of table) md.push('| ' + t.join(' | ') + ' |');
md.push('');

// Per-node profiles (PROFILE=1): ms per batch of each node, each runtime's own
// node names (ORT's are those of its optimized graph: Conv+Relu fused, NCHWc).
const profiled = [...rows.values()].filter((r) => r.nqProf || r.ortProf);
if (profiled.length) {
  md.push('## Per-node profiles', '');
  md.push('nnquant: wall time between consecutive node-end observer callbacks; ORT: its profiler\'s kernel times. ms per batch, mean over the timed runs of the last round.', '');
  const list = (p) => (p ? p.nodes.map((n) => `${n.node} (${n.op}) ${n.ms.toFixed(3)} ms, ${n.pct.toFixed(1)}%`) : []);
  for (const r of profiled) {
    md.push(`### ${r.model}, ${r.sthreads} thread(s), batch ${r.batch}`, '');
    md.push(`nnquant: ${r.nqProf ? r.nqProf.total_ms.toFixed(3) + ' ms/batch with observer' : 'n/a'}; ORT: ${r.ortProf ? r.ortProf.total_ms.toFixed(3) + ' ms/batch (model_run)' : 'n/a'}`, '');
    md.push('| nnquant node | ORT node |', '| --- | --- |');
    const a = list(r.nqProf), b = list(r.ortProf);
    for (let i = 0; i < Math.max(a.length, b.length); i++) md.push(`| ${a[i] || ''} | ${b[i] || ''} |`);
    md.push('');
  }
}
fs.writeFileSync(outPath, md.join('\n'));
