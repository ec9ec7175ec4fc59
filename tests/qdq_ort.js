#!/usr/bin/env node
// qdq_ort.js: runs an ONNX model (a QDQ export) in ONNX Runtime
// (onnxruntime-node from bench/node_modules) over the samples of an .npy
// file, in batches, and writes the first output as .npy (its own dtype:
// int8, uint8 or float32) and/or its row-wise argmax as an int64 .npy.
//
// Usage: node tests/qdq_ort.js --model M.onnx --input X.npy
//          [--output Y.npy] [--argmax A.npy] [--batch B] [--threads T]
// X: float32 [N, ...] in the layout the model's first input takes (C order).
// Exit status: 0 ok, 1 error (message on stderr), 2 usage.
'use strict';

const fs = require('fs');
const path = require('path');

function usage(code) {
  (code ? console.error : console.log)(
    'usage: node qdq_ort.js --model M.onnx --input X.npy [--output Y.npy] [--argmax A.npy]\n' +
    '                       [--batch B] [--threads T]');
  process.exit(code);
}

function parseArgs(argv) {
  const a = { model: null, input: null, output: null, argmax: null, batch: 500, threads: 1 };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (k === '-h' || k === '--help') usage(0);
    if (v === undefined) { console.error(`qdq_ort: ${k} needs a value`); usage(2); }
    switch (k) {
      case '--model': a.model = v; break;
      case '--input': a.input = v; break;
      case '--output': a.output = v; break;
      case '--argmax': a.argmax = v; break;
      case '--batch': a.batch = parseInt(v, 10); break;
      case '--threads': a.threads = parseInt(v, 10); break;
      default: console.error(`qdq_ort: unknown option ${k}`); usage(2);
    }
  }
  if (!a.model || !a.input || !(a.batch >= 1) || !(a.threads >= 0)) usage(2);
  return a;
}

const NPY_TYPES = {
  '<f4': ['float32', Float32Array], '|i1': ['int8', Int8Array], '|u1': ['uint8', Uint8Array],
  '<i4': ['int32', Int32Array], '<i8': ['int64', BigInt64Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.readUInt32BE(0) !== 0x934e554d || buf.toString('latin1', 4, 6) !== 'PY')
    throw new Error(`${file}: not an .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const off = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', off, off + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const order = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !order || !shape) throw new Error(`${file}: bad .npy header`);
  if (order[1] === 'True') throw new Error(`${file}: Fortran order is not supported`);
  if (descr[1] !== '<f4') throw new Error(`${file}: dtype ${descr[1]}, expected float32 (<f4)`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const data = buf.subarray(off + hlen);
  const n = dims.reduce((p, d) => p * d, 1);
  if (data.length < n * 4) throw new Error(`${file}: truncated (${data.length} bytes for ${n} floats)`);
  const arr = new Float32Array(n);
  for (let i = 0; i < n; i++) arr[i] = data.readFloatLE(i * 4);
  return { dims, data: arr };
}

function writeNpy(file, descr, dims, typed) {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims.join(', ')}${dims.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.writeUInt32BE(0x934e554d, 0);
  pre.write('PY', 4, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require(path.join(__dirname, '..', 'bench', 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    console.error('qdq_ort: onnxruntime-node is not installed (run scripts/ort.sh)');
    process.exit(1);
  }
  const x = readNpy(a.input);
  const session = await ort.InferenceSession.create(a.model, {
    intraOpNumThreads: a.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  });
  const n = x.dims[0], per = x.dims.slice(1).reduce((p, d) => p * d, 1);
  let out = null, outDims = null, descr = null, classes = 0;
  const argmax = new BigInt64Array(n);
  for (let s = 0; s < n; s += a.batch) {
    const b = Math.min(a.batch, n - s);
    const t = new ort.Tensor('float32', x.data.subarray(s * per, (s + b) * per), [b, ...x.dims.slice(1)]);
    const res = await session.run({ [session.inputNames[0]]: t });
    const y = res[session.outputNames[0]];
    if (out === null) {
      const entry = Object.entries(NPY_TYPES).find(([, v]) => v[0] === y.type);
      if (!entry) throw new Error(`output dtype ${y.type} is not supported`);
      descr = entry[0];
      classes = y.dims.slice(1).reduce((p, d) => p * d, 1);
      outDims = [n, ...y.dims.slice(1)];
      out = new entry[1][1](n * classes);
    }
    out.set(y.data, s * classes);
    for (let i = 0; i < b; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (y.data[i * classes + c] > y.data[i * classes + best]) best = c;
      argmax[s + i] = BigInt(best);
    }
  }
  if (a.output) writeNpy(a.output, descr, outDims, out);
  if (a.argmax) writeNpy(a.argmax, '<i8', [n], argmax);
}

main().catch((e) => { console.error(`qdq_ort: ${e.message}`); process.exit(1); });
