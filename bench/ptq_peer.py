#!/usr/bin/python3
"""PTQ peer comparison: nnquant vs PyTorch FX post-training quantization.

Run with Debian's interpreter (python3-torch, python3-onnx, python3-numpy):

    /usr/bin/python3 bench/ptq_peer.py                 # all four models
    /usr/bin/python3 bench/ptq_peer.py mlp convnet     # a subset
    /usr/bin/python3 bench/ptq_peer.py --reps 5

For every model in models/*.onnx, in the same run:

PyTorch  rebuilds the nn.Module from scripts/train_examples.py, loads its
         weights from the ONNX initializers (checked against
         models/ref/<name>_logits.npy within 1e-4), and runs FX post-training
         quantization: engine onednn (fbgemm if onednn is missing), QConfigMapping
         with HistogramObserver activations and the onednn qconfig's per-channel
         symmetric weights ("per-channel"), or per-tensor symmetric weights
         (default_weight_observer, "per-tensor"); prepare_fx, calibration on the
         first N training images (x/255, batches of 64 as nnquant), convert_fx,
         torch.jit.script + torch.jit.save.
nnquant  build-peer/nnquant quantize ... --calib-count N --scale 1/255
         --dequantize with `--clipping mse` ("per-tensor") and
         `--clipping mse --per-channel --optimize-signs` ("per-channel").

Quantization time = load to saved model, one thread (torch.set_num_threads(1),
NQ_NUM_THREADS=1): PyTorch from onnx.load through reading the calibration
images, model construction, prepare, calibration, convert, to torch.jit.save,
in this process (the interpreter start and `import torch` are not counted;
they are reported separately); nnquant the wall time of the whole process
(which also loads the ONNX file and reads the calibration images). Each timing
is repeated --reps times (interleaved across the four variants) and the median
is reported, with the median CPU time (user+sys) beside it: the machine is
shared, wall time grows with other jobs' load, CPU time much less.

Accuracy: top-1 on the 10,000 test images, PyTorch on the model loaded back
from the saved TorchScript file, nnquant through `nnquant eval` on the saved
ONNX model (true integer; if that fails, the model is quantized again with
--fake-quantize and the table says so).

Second sample (--holdout, on by default): the same float and int8 models
on the training images after the calibration ones (59,000 with the defaults).
The example models were trained on them, so their accuracy is higher than on
the test set, but the drop that quantization causes is measured on six times
as many images: it tells whether a test-set difference between the two tools
is more than chance. Nothing is tuned on either set.

Also reported: the test images only one side's int8 model gets right, with an
exact McNemar p-value (is an accuracy difference more than chance?), and, as a
diagnostic, nnquant's time with the same calibration images given as a small
uint8 .npy instead of the 60,000-image .gz (the output model must be the same).

Writes bench/ptq_peer.md (table, machine, settings) and bench/ptq_peer.json.
"""
import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import onnx
import onnx.numpy_helper
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import train_examples as tex  # noqa: E402  (model classes; no side effects on import)

from torch.ao.quantization import QConfig, get_default_qconfig_mapping  # noqa: E402
from torch.ao.quantization.observer import default_weight_observer  # noqa: E402
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx  # noqa: E402

DATA_DIR = tex.DATA_DIR
SCALE = tex.SCALE
SCALE_ARG = "0.00392156862745098"
CALIB_FILE = f"{DATA_DIR}/train-images-idx3-ubyte.gz"
TEST_X = f"{DATA_DIR}/t10k-images-idx3-ubyte.gz"
TEST_Y = f"{DATA_DIR}/t10k-labels-idx1-ubyte.gz"
CALIB_BATCH = 64  # nnquant's calibration batch (src/ptq/pipeline.c)
MODEL_ORDER = ["convnet", "resnet", "mobilenet", "mlp"]
VARIANTS = ["per-tensor", "per-channel"]
NQ_ARGS = {
    "per-tensor": ["--clipping", "mse"],
    "per-channel": ["--clipping", "mse", "--per-channel", "--optimize-signs"],
}


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


# ---------------------------------------------------------------- data

def read_idx_images(path, count=None):
    """Reads the first `count` images of a (gzip'ed) IDX3 file, scaled by 1/255,
    as float32 [count, 1, 28, 28]. Only the bytes needed are decompressed."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        head = f.read(16)
        if head[:3] != b"\x00\x00\x08" or head[3] != 3:
            raise ValueError(f"{path}: not an IDX3 uint8 file")
        n, h, w = (int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(3))
        n = n if count is None else min(n, count)
        raw = f.read(n * h * w)
    x = np.frombuffer(raw, dtype=np.uint8).astype(np.float32) * np.float32(SCALE)
    return torch.from_numpy(x.reshape(n, 1, h, w))


# ---------------------------------------------------------------- PyTorch side

def build_from_onnx(name, path):
    """The train_examples.py module with weights (and BatchNorm statistics)
    taken from the ONNX initializers, in eval mode."""
    m = onnx.load(path)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    model = tex.MODELS[name][0]()
    sd = model.state_dict()
    new, used = {}, set()
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            new[k] = v  # not exported, unused in eval mode
            continue
        if k not in inits:
            raise KeyError(f"{name}: state_dict key {k} has no ONNX initializer")
        a = inits[k]
        if tuple(a.shape) != tuple(v.shape):
            raise ValueError(f"{name}: {k}: ONNX {a.shape} vs torch {tuple(v.shape)}")
        new[k] = torch.from_numpy(np.array(a, dtype=np.float32))
        used.add(k)
    extra = set(inits) - used
    if extra:
        raise KeyError(f"{name}: ONNX initializers not matched to the module: {sorted(extra)}")
    model.load_state_dict(new, strict=True)
    model.eval()
    return model


def check_reference(name, model):
    x = torch.from_numpy(np.load(os.path.join(ROOT, "models", "ref", "input.npy")))
    ref = np.load(os.path.join(ROOT, "models", "ref", f"{name}_logits.npy"))
    with torch.no_grad():
        y = model(x).numpy()
    diff = float(np.abs(y - ref).max())
    if diff > 1e-4:
        raise RuntimeError(f"{name}: rebuilt model differs from ref logits by {diff:.3g} (> 1e-4)")
    return diff


def qconfig_mapping(engine, variant):
    """The backend's default PTQ QConfigMapping (HistogramObserver activations,
    per-channel symmetric int8 weights for onednn); for per-tensor, every entry
    that uses the default qconfig gets default_weight_observer (per-tensor
    symmetric int8) instead, with the same activation observer."""
    qm = get_default_qconfig_mapping(engine)
    base = qm.global_qconfig
    if "HistogramObserver" not in repr(base.activation):
        raise RuntimeError(f"{engine}: default activation observer is not HistogramObserver: {base}")
    if variant == "per-channel":
        return qm, base
    pt = QConfig(activation=base.activation, weight=default_weight_observer)
    qm.global_qconfig = pt
    for k, v in list(qm.object_type_qconfigs.items()):
        if v is base:
            qm.object_type_qconfigs[k] = pt
    return qm, pt


def torch_quantize(name, engine, variant, calib_count, out_path):
    """Load to saved model; returns (wall s, cpu s, phase times)."""
    t0, c0 = time.perf_counter(), time.process_time()
    path = os.path.join(ROOT, "models", f"{name}.onnx")
    model = build_from_onnx(name, path)
    t_load = time.perf_counter()
    xcal = read_idx_images(CALIB_FILE, calib_count)
    qm, _ = qconfig_mapping(engine, variant)
    prepared = prepare_fx(model, qm, example_inputs=(xcal[:1],))
    t_prep = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(xcal), CALIB_BATCH):
            prepared(xcal[i:i + CALIB_BATCH])
    t_cal = time.perf_counter()
    quant = convert_fx(prepared)
    t_conv = time.perf_counter()
    torch.jit.save(torch.jit.script(quant), out_path)
    t1, c1 = time.perf_counter(), time.process_time()
    phases = {"load": t_load - t0, "read_calib+prepare": t_prep - t_load, "calibrate": t_cal - t_prep,
              "convert": t_conv - t_cal, "script+save": t1 - t_conv}
    return t1 - t0, c1 - c0, phases


def torch_predict(model, x, bs=1000):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + bs]).argmax(1) for i in range(0, len(x), bs)]).numpy()


def mcnemar(pred_a, pred_b, y):
    """Exact two-sided McNemar test on the test images where exactly one of two
    classifiers is right: (a right b wrong, a wrong b right, p-value)."""
    ra, rb = pred_a == y, pred_b == y
    b, c = int((ra & ~rb).sum()), int((~ra & rb).sum())
    n, k = b + c, min(b, c)
    if n == 0:
        return b, c, 1.0
    from math import comb
    p = sum(comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return b, c, min(1.0, 2 * p)


def holdout_summary(h, y):
    """Accuracies, drops, fidelity and McNemar tests of every model on the held-out sample."""
    acc = lambda p: float((p == y).mean())  # noqa: E731
    out = {"n": int(len(y)), "pt_float": acc(h["pt_float_pred"]), "nq_float": acc(h["nq_float_pred"])}
    for v in VARIANTS:
        pt, nq = h[("pt", v)], h[("nq", v)]
        out[v] = {"pt_top1": acc(pt), "nq_top1": acc(nq),
                  "pt_drop": out["pt_float"] - acc(pt), "nq_drop": out["nq_float"] - acc(nq),
                  "pt_agree_float": float((pt == h["pt_float_pred"]).mean()),
                  "nq_agree_float": float((nq == h["nq_float_pred"]).mean()),
                  "mcnemar_vs_pt": mcnemar(nq, pt, y),
                  "mcnemar_vs_pt_default": mcnemar(nq, h[("pt", "per-channel")], y)}
    return out


def torch_import_seconds(reps):
    """Interpreter start + the imports the PyTorch side needs, in a fresh process."""
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c",
                        "import torch, onnx, onnx.numpy_helper, torch.ao.quantization.quantize_fx"],
                       check=True)
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


# ---------------------------------------------------------------- nnquant side

def nq_env():
    env = dict(os.environ)
    env["NQ_NUM_THREADS"] = "1"
    return env


def nq_quantize(nq, name, variant, calib_count, out_path, fake=False, calib=CALIB_FILE):
    """Wall seconds of one `nnquant quantize` process, its command line and stdout."""
    cmd = [nq, "quantize", os.path.join(ROOT, "models", f"{name}.onnx"), "--calib", calib,
           "--calib-count", str(calib_count), "--scale", SCALE_ARG] + NQ_ARGS[variant] + \
        (["--fake-quantize"] if fake else []) + ["--dequantize", "-o", out_path, "--json"]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=nq_env())
    out, err = p.communicate()
    t1 = time.perf_counter()
    if p.returncode != 0:
        raise RuntimeError(f"nnquant quantize failed ({p.returncode}): {' '.join(cmd)}\n{err.decode()}")
    return t1 - t0, cmd, out.decode()


def nq_quantize_timed(nq, name, variant, calib_count, out_path, calib=CALIB_FILE):
    """Like nq_quantize, with the child's CPU time from RUSAGE_CHILDREN deltas."""
    import resource
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, cmd, out = nq_quantize(nq, name, variant, calib_count, out_path, calib=calib)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, cmd, out


def nq_eval(nq, model_path):
    cmd = [nq, "eval", model_path, "--data", TEST_X, "--labels", TEST_Y, "--scale", SCALE_ARG,
           "--json", "--quiet"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=nq_env())
    if p.returncode != 0:
        return None, p.stderr.strip()
    return json.loads(p.stdout)["top1"], None


def write_test_chunks(x, tmp, chunk=1000, prefix="test"):
    """Preprocessed images as float32 .npy files of `chunk` images (for nnquant run)."""
    paths = []
    for i in range(0, len(x), chunk):
        p = os.path.join(tmp, f"{prefix}_{i // chunk:02d}.npy")
        np.save(p, x[i:i + chunk].numpy().astype(np.float32))
        paths.append(p)
    return paths


def nq_predict(nq, model_path, chunks, tmp):
    """Top-1 predictions of a model through `nnquant run`, chunk by chunk."""
    preds = []
    out = os.path.join(tmp, "run_out.npy")
    for c in chunks:
        subprocess.run([nq, "run", model_path, "--input", c, "--output", out], check=True,
                       capture_output=True, env=nq_env())
        preds.append(np.load(out).argmax(1))
    return np.concatenate(preds)


def ensure_nnquant(nq, build_dir):
    if os.path.exists(nq):
        return
    log(f"building nnquant in {build_dir}")
    subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release", "-DNQ_WERROR=OFF"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, "-j2", "--target", "nnquant_cli"], check=True,
                   stdout=subprocess.DEVNULL)


# ---------------------------------------------------------------- report

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except OSError:
        return "n/a"


def pct(a):
    return f"{100 * a:.2f}"


def pp(d):
    return f"{100 * d:+.2f}"


def make_markdown(res, meta):
    L = []
    L.append("# PTQ peer comparison: nnquant vs PyTorch FX (int8, W8A8)")
    L.append("")
    L.append(f"Generated by `bench/ptq_peer.py` on {meta['date']}. Machine: {meta['cpu']}, "
             f"{meta['nproc']} cores (shared), load average {meta['load_before']} at start, "
             f"{meta['load_after']} at end. torch {meta['torch']} (engine **{meta['engine']}**"
             f"{'' if meta['engine'] == 'onednn' else ', onednn unavailable: FELL BACK'}), "
             f"nnquant `{meta['nnquant']}` at {meta['git']}.")
    L.append("")
    L.append(f"Calibration: first {meta['calib_count']} training images, x/255 (both sides, batches of "
             f"{CALIB_BATCH}). Accuracy: top-1 on the 10,000 test images (1 image = 0.01 points). "
             "Drop = float top-1 minus int8 top-1, in percentage points (negative = int8 better), "
             "each side against its own float model.")
    L.append("")
    L.append("Variants: **per-tensor** = PyTorch HistogramObserver activations + per-tensor symmetric "
             "int8 weights (default_weight_observer) vs nnquant `--clipping mse`; **per-channel** = "
             "PyTorch's onednn default qconfig (HistogramObserver + per-channel symmetric int8 weights) "
             "vs nnquant `--clipping mse --per-channel --optimize-signs`. nnquant: `quantize ... "
             "--dequantize`, W8A8, int32 bias, its defaults otherwise (bias correction on 256 "
             "calibration images).")
    L.append("")
    L.append(f"Time = load to saved model, one thread, median of {meta['reps']} interleaved repetitions "
             "(wall s; CPU s = user+sys in parentheses). Ratio = nnquant / PyTorch (< 1: nnquant faster), "
             "of wall time and of CPU time.")
    L.append("")
    L.append("Disagreements: test images that only nnquant's int8 model gets right / only PyTorch's "
             "does, and the exact two-sided McNemar p-value (p > 0.05: the accuracy difference is "
             "within what chance alone gives on this test set).")
    L.append("")
    L.append("| model | variant | float PT | float nq | PT FX int8 | PT drop | nnquant int8 | nq drop "
             "| nq drop ≤ PT drop | only nq ✓ / only PT ✓ (p) | PT time s | nq time s | ratio wall | ratio CPU |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|:-:|---:|---:|---:|---:|---:|")
    for name in meta["models"]:
        r = res[name]
        for v in VARIANTS:
            t, q = r["torch"][v], r["nnquant"][v]
            nq_top = pct(q["top1"]) + (" (fake-quant)" if q["fake_quantize"] else "")
            ok = "yes" if q["drop"] <= t["drop"] + 1e-9 else "**no**"
            b, c, pv = q["mcnemar_vs_pt"]
            L.append(f"| {name} | {v} | {pct(r['torch_float'])} | {pct(r['nq_float'])} | {pct(t['top1'])} | "
                     f"{pp(t['drop'])} | {nq_top} | {pp(q['drop'])} | {ok} | {b} / {c} ({pv:.2f}) | "
                     f"{t['wall']:.2f} ({t['cpu']:.2f}) | {q['wall']:.2f} ({q['cpu']:.2f}) | "
                     f"{q['wall'] / t['wall']:.2f} | {q['cpu'] / t['cpu']:.2f} |")
    L.append("")
    # The criterion, against PyTorch's onednn default (per-channel).
    L.append("Against PyTorch's onednn default (per-channel weights), the issue's criterion "
             "(nnquant's drop no worse on any model; time no longer):")
    L.append("")
    L.append("| model | PT FX default drop | nq per-tensor drop (p) | nq per-channel drop (p) | PT time s | "
             "nq per-tensor time s | nq per-channel time s |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for name in meta["models"]:
        r = res[name]
        t = r["torch"]["per-channel"]
        a, b = r["nnquant"]["per-tensor"], r["nnquant"]["per-channel"]
        L.append(f"| {name} | {pp(t['drop'])} | {pp(a['drop'])}{'' if a['drop'] <= t['drop'] + 1e-9 else ' ✗'} "
                 f"({a['mcnemar_vs_pt_default'][2]:.2f}) | "
                 f"{pp(b['drop'])}{'' if b['drop'] <= t['drop'] + 1e-9 else ' ✗'} "
                 f"({b['mcnemar_vs_pt_default'][2]:.2f}) | {t['wall']:.2f} | "
                 f"{a['wall']:.2f} ({a['wall'] / t['wall']:.2f}x) | {b['wall']:.2f} ({b['wall'] / t['wall']:.2f}x) |")
    L.append("")
    L.append("Fidelity: the share of the 10,000 test images on which the int8 model predicts the "
             "same class as its own float model (labels play no part, so chance moves it less than "
             "top-1), and the images where it does not:")
    L.append("")
    L.append("| model | variant | PT FX agreement | nnquant agreement | PT disagreements | nq disagreements |")
    L.append("|---|---|---:|---:|---:|---:|")
    for name in meta["models"]:
        for v in VARIANTS:
            t, q = res[name]["torch"][v], res[name]["nnquant"][v]
            L.append(f"| {name} | {v} | {pct(t['agree_float'])}% | {pct(q['agree_float'])}% | "
                     f"{round(10000 * (1 - t['agree_float']))} | {round(10000 * (1 - q['agree_float']))} |")
    L.append("")
    if meta.get("holdout"):
        a, b = meta["holdout"]
        L.append(f"Second sample: the {b - a:,} training images {a}..{b - 1} (after the calibration images; "
                 "the models were trained on them, so accuracies are higher than on the test set, but "
                 f"the drop is measured on {(b - a) / 10000:.1f} times as many images). Same models as above:")
        L.append("")
        L.append("| model | variant | float PT | float nq | PT drop | nq drop | nq drop ≤ PT drop | "
                 "only nq ✓ / only PT ✓ (p) | nq drop ≤ PT default drop | PT agreement | nq agreement |")
        L.append("|---|---|---:|---:|---:|---:|:-:|---:|:-:|---:|---:|")
        for name in meta["models"]:
            x = res[name]["holdout"]
            for v in VARIANTS:
                y = x[v]
                b_, c_, pv = y["mcnemar_vs_pt"]
                ok = "yes" if y["nq_drop"] <= y["pt_drop"] + 1e-9 else "**no**"
                okd = "yes" if y["nq_drop"] <= x["per-channel"]["pt_drop"] + 1e-9 else "**no**"
                L.append(f"| {name} | {v} | {pct(x['pt_float'])} | {pct(x['nq_float'])} | {pp(y['pt_drop'])} | "
                         f"{pp(y['nq_drop'])} | {ok} | {b_} / {c_} ({pv:.2f}) | {okd} | "
                         f"{pct(y['pt_agree_float'])}% | {pct(y['nq_agree_float'])}% |")
        L.append("")
    L.append("PyTorch time per phase (median of the repetitions, s):")
    L.append("")
    ph = list(next(iter(res.values()))["torch"]["per-channel"]["phases"])
    L.append("| model | variant | " + " | ".join(ph) + " |")
    L.append("|---|---|" + "---:|" * len(ph))
    for name in meta["models"]:
        for v in VARIANTS:
            p = res[name]["torch"][v]["phases"]
            L.append(f"| {name} | {v} | " + " | ".join(f"{p[k]:.3f}" for k in ph) + " |")
    L.append("")
    L.append("nnquant's calibration input (diagnostic): with `--calib` on the IDX .gz, nnquant inflates "
             f"only the first {meta['calib_count']} training images (`--calib-count`); here the same images "
             "are given as a "
             f"{meta['calib_count']}-image uint8 .npy (per-channel config, median of the repetitions, wall s "
             "(CPU s)):")
    L.append("")
    L.append("| model | nq per-channel, .gz | nq per-channel, .npy | same output model |")
    L.append("|---|---:|---:|:-:|")
    for name in meta["models"]:
        q, d = res[name]["nnquant"]["per-channel"], res[name]["nnquant_npy_calib"]
        L.append(f"| {name} | {q['wall']:.2f} ({q['cpu']:.2f}) | {d['wall']:.2f} ({d['cpu']:.2f}) | "
                 f"{'yes' if d['same_model_as_gz'] else 'no'} |")
    L.append("")
    L.append(f"Not in the PyTorch time: interpreter start + `import torch, onnx, torch.ao.quantization."
             f"quantize_fx` in a fresh process, {meta['torch_import_s']:.2f} s (median). The nnquant time is "
             "the whole process.")
    notes = meta.get("notes", [])
    if notes:
        L.append("")
        L.append("Notes:")
        L.append("")
        for n in notes:
            L.append(f"- {n}")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", default=MODEL_ORDER)
    ap.add_argument("--reps", type=int, default=3, help="timing repetitions (median reported), default 3")
    ap.add_argument("--calib-count", type=int, default=1000)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-peer"),
                    help="nnquant build folder (built with -j2 if nnquant is missing there)")
    ap.add_argument("--holdout", type=int, default=-1,
                    help="also measure on this many training images after the calibration ones "
                         "(default -1: all of them; 0: off)")
    ap.add_argument("--tmp", default="/tmp/ptq_peer", help="where quantized models are written")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "ptq_peer.md"))
    ap.add_argument("--json-out", default=os.path.join(ROOT, "bench", "ptq_peer.json"))
    args = ap.parse_args()
    for n in args.models:
        if n not in tex.MODELS:
            ap.error(f"unknown model {n}")

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    notes = []
    engines = torch.backends.quantized.supported_engines
    if "onednn" in engines:
        engine = "onednn"
    else:
        engine = "fbgemm"
        msg = f"onednn is not available in this torch ({engines}): FELL BACK to fbgemm"
        log("WARNING: " + msg)
        notes.append(msg)
    torch.backends.quantized.engine = engine
    notes.append("prepare_fx/convert_fx use torch's default (native) BackendConfig: torch "
                 f"{torch.__version__} has no onednn-specific BackendConfig; the engine "
                 f"(torch.backends.quantized.engine = '{engine}') runs the quantized kernels.")

    nq = os.path.join(args.build_dir, "nnquant")
    ensure_nnquant(nq, args.build_dir)
    os.makedirs(args.tmp, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu_model(), "nproc": os.cpu_count(),
            "load_before": loadavg(), "torch": torch.__version__, "engine": engine,
            "nnquant": os.path.relpath(nq, ROOT), "git": git_rev(), "reps": args.reps,
            "calib_count": args.calib_count, "models": args.models}
    log(f"{meta['cpu']}, load {meta['load_before']}, torch {torch.__version__}, engine {engine}, "
        f"threads {torch.get_num_threads()}")

    xte, yte = tex.load_split("t10k")
    yte_np = yte.numpy()
    chunks = write_test_chunks(xte, args.tmp)
    # Diagnostic: the same calibration images as a small uint8 .npy (nnquant
    # otherwise inflates the whole 60,000-image .gz to use the first N).
    calib_npy = os.path.join(args.tmp, f"calib_{args.calib_count}_u8.npy")
    xc = (read_idx_images(CALIB_FILE, args.calib_count) / SCALE).round().to(torch.uint8).numpy()
    np.save(calib_npy, xc)
    hold = None
    if args.holdout != 0:
        xtr, ytr = tex.load_split("train")
        end = len(xtr) if args.holdout < 0 else min(len(xtr), args.calib_count + args.holdout)
        xho, yho = xtr[args.calib_count:end], ytr[args.calib_count:end].numpy()
        del xtr, ytr
        hold = (xho, yho, write_test_chunks(xho, args.tmp, chunk=5000, prefix="holdout"))
        meta["holdout"] = [args.calib_count, end]
        log(f"held-out sample: training images {args.calib_count}..{end - 1} ({end - args.calib_count})")
    res = {}
    for name in args.models:
        r = {"torch": {}, "nnquant": {}}
        res[name] = r
        model = build_from_onnx(name, os.path.join(ROOT, "models", f"{name}.onnx"))
        diff = check_reference(name, model)
        r["ref_max_abs_diff"] = diff
        pt_float_pred = torch_predict(model, xte)
        r["torch_float"] = float((pt_float_pred == yte_np).mean())
        r["nq_float"], err = nq_eval(nq, os.path.join(ROOT, "models", f"{name}.onnx"))
        if err:
            raise RuntimeError(f"nnquant eval of the float {name} failed: {err}")
        log(f"{name}: rebuilt, max|diff| vs ref logits {diff:.2e}; float top-1 PyTorch {r['torch_float']:.4f}, "
            f"nnquant {r['nq_float']:.4f}")

        nq_float_pred = nq_predict(nq, os.path.join(ROOT, "models", f"{name}.onnx"), chunks, args.tmp)
        if hold:
            xho, yho, hchunks = hold
            h = {"pt_float_pred": torch_predict(model, xho),
                 "nq_float_pred": nq_predict(nq, os.path.join(ROOT, "models", f"{name}.onnx"), hchunks, args.tmp)}

        runs = {("torch", v): [] for v in VARIANTS}
        runs.update({("nnquant", v): [] for v in VARIANTS})
        runs[("nnquant-npy", "per-channel")] = []
        paths = {}
        cmds = {}
        for rep in range(args.reps):
            for v in VARIANTS:
                p = os.path.join(args.tmp, f"{name}_fx_{v}.pt")
                paths[("torch", v)] = p
                wall, cpu, phases = torch_quantize(name, engine, v, args.calib_count, p)
                runs[("torch", v)].append((wall, cpu, phases))
                p = os.path.join(args.tmp, f"{name}_nq_{v}.onnx")
                paths[("nnquant", v)] = p
                wall2, cpu2, cmd, _ = nq_quantize_timed(nq, name, v, args.calib_count, p)
                cmds[v] = cmd
                runs[("nnquant", v)].append((wall2, cpu2, None))
                log(f"{name} {v} rep {rep + 1}/{args.reps}: PyTorch {wall:.2f} s (cpu {cpu:.2f}), "
                    f"nnquant {wall2:.2f} s (cpu {cpu2:.2f}); load {loadavg()}")
            p = os.path.join(args.tmp, f"{name}_nq_per-channel_npy.onnx")
            paths[("nnquant-npy", "per-channel")] = p
            wall3, cpu3, _, _ = nq_quantize_timed(nq, name, "per-channel", args.calib_count, p, calib=calib_npy)
            runs[("nnquant-npy", "per-channel")].append((wall3, cpu3, None))
        rs = runs[("nnquant-npy", "per-channel")]
        with open(paths[("nnquant-npy", "per-channel")], "rb") as f1, \
                open(paths[("nnquant", "per-channel")], "rb") as f2:
            same = f1.read() == f2.read()
        r["nnquant_npy_calib"] = {"wall": statistics.median(x[0] for x in rs),
                                  "cpu": statistics.median(x[1] for x in rs),
                                  "walls": [x[0] for x in rs], "cpus": [x[1] for x in rs],
                                  "same_model_as_gz": same}

        preds_pt = {}
        for v in VARIANTS:
            rs = runs[("torch", v)]
            phases = {k: statistics.median(x[2][k] for x in rs) for k in rs[0][2]}
            qm = torch.jit.load(paths[("torch", v)])
            pt_pred = torch_predict(qm, xte)
            top = float((pt_pred == yte_np).mean())
            preds_pt[v] = pt_pred
            if hold:
                h[("pt", v)] = torch_predict(qm, hold[0])
            r["torch"][v] = {"top1": top, "drop": r["torch_float"] - top,
                             "agree_float": float((pt_pred == pt_float_pred).mean()),
                             "wall": statistics.median(x[0] for x in rs), "cpu": statistics.median(x[1] for x in rs),
                             "walls": [x[0] for x in rs], "cpus": [x[1] for x in rs], "phases": phases}
        for v in VARIANTS:
            rs = runs[("nnquant", v)]
            qpath = paths[("nnquant", v)]
            top, err = nq_eval(nq, qpath)
            fake = False
            if top is None:
                msg = (f"{name} {v}: nnquant eval of the true-integer model failed ({err.splitlines()[-1] if err else '?'}); "
                       "accuracy measured on a --fake-quantize model instead (time is still the integer model's)")
                log("WARNING: " + msg)
                notes.append(msg)
                fp = os.path.join(args.tmp, f"{name}_nq_{v}_fake.onnx")
                nq_quantize(nq, name, v, args.calib_count, fp, fake=True)
                top, err = nq_eval(nq, fp)
                qpath = fp
                if top is None:
                    raise RuntimeError(f"{name} {v}: nnquant eval failed even with --fake-quantize: {err}")
                fake = True
            nq_pred = nq_predict(nq, qpath, chunks, args.tmp)
            if abs(float((nq_pred == yte_np).mean()) - top) > 1e-9:
                raise RuntimeError(f"{name} {v}: nnquant run and nnquant eval disagree on top-1")
            r["nnquant"][v] = {"top1": top, "drop": r["nq_float"] - top, "fake_quantize": fake,
                               "agree_float": float((nq_pred == nq_float_pred).mean()),
                               "mcnemar_vs_pt": mcnemar(nq_pred, preds_pt[v], yte_np),
                               "mcnemar_vs_pt_default": mcnemar(nq_pred, preds_pt["per-channel"], yte_np),
                               "wall": statistics.median(x[0] for x in rs), "cpu": statistics.median(x[1] for x in rs),
                               "walls": [x[0] for x in rs], "cpus": [x[1] for x in rs],
                               "command": " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
                                                   for c in cmds[v])}
            if hold:
                h[("nq", v)] = nq_predict(nq, qpath, hold[2], args.tmp)
            t, q = r["torch"][v], r["nnquant"][v]
            log(f"{name} {v}: PyTorch int8 {t['top1']:.4f} (drop {pp(t['drop'])}), nnquant int8 {q['top1']:.4f}"
                f"{' (fake-quant)' if fake else ''} (drop {pp(q['drop'])}); time PyTorch {t['wall']:.2f} s, "
                f"nnquant {q['wall']:.2f} s, ratio {q['wall'] / t['wall']:.2f}")
        if hold:
            r["holdout"] = holdout_summary(h, hold[1])
            for v in VARIANTS:
                x = r["holdout"][v]
                log(f"{name} {v} held-out: PyTorch drop {pp(x['pt_drop'])}, nnquant drop {pp(x['nq_drop'])}, "
                    f"only nq / only PT right {x['mcnemar_vs_pt'][0]} / {x['mcnemar_vs_pt'][1]} "
                    f"(p {x['mcnemar_vs_pt'][2]:.2f})")

    meta["load_after"] = loadavg()
    meta["torch_import_s"] = torch_import_seconds(args.reps)
    meta["notes"] = notes
    md = make_markdown(res, meta)
    print()
    print(md)
    with open(args.out, "w") as f:
        f.write(md)
    with open(args.json_out, "w") as f:
        json.dump({"meta": meta, "results": res}, f, indent=1)
        f.write("\n")
    log(f"wrote {os.path.relpath(args.out, ROOT)} and {os.path.relpath(args.json_out, ROOT)}")

    bad = [(n, v) for n in args.models for v in VARIANTS
           if res[n]["nnquant"][v]["drop"] > res[n]["torch"]["per-channel"]["drop"] + 1e-9]
    if bad:
        log("nnquant's drop is worse than PyTorch FX (onednn default) for: "
            + ", ".join(f"{n} {v}" for n, v in bad))
    return 0


if __name__ == "__main__":
    sys.exit(main())
