#!/usr/bin/python3
"""Train the four example Fashion-MNIST models of nnquant and export them to ONNX.

Run with Debian's interpreter (python3-torch, python3-onnx, python3-numpy):

    /usr/bin/python3 scripts/train_examples.py            # all four models
    /usr/bin/python3 scripts/train_examples.py mlp convnet # a subset

Data: Debian's dataset-fashion-mnist IDX files, read directly (gzip + numpy).
Preprocessing (the same for every model): x = pixel / 255, no mean/std.
In nnquant terms: --scale 0.00392156862745098 (1/255), no --mean/--std.

Outputs (under models/, relative to the repository root):
  <name>.onnx             opset 13, input 'input' [batch,1,28,28] float32,
                          output 'logits' [batch,10]; 'batch' is dynamic
  ref/input.npy           the first 16 test images, preprocessed, float32 [16,1,28,28]
  ref/labels.npy          their labels, int64 [16]
  ref/<name>_logits.npy   PyTorch logits for them, float32 [16,10]
  accuracy.json           float top-1 on the 10,000 test images, params, settings
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCALE = 1.0 / 255.0
SEED = 1234
N_REF = 16


def read_idx(path):
    """Reads an (optionally gzip'ed) IDX file into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: bad IDX magic")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    data = np.frombuffer(raw, dtype=dtypes[raw[2]], offset=4 + 4 * rank)
    return data.reshape(dims)


def load_split(split):
    x = read_idx(f"{DATA_DIR}/{split}-images-idx3-ubyte.gz")
    y = read_idx(f"{DATA_DIR}/{split}-labels-idx1-ubyte.gz")
    x = (x.astype(np.float32) * np.float32(SCALE)).reshape(-1, 1, 28, 28)
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


# ---------------------------------------------------------------- models

class ConvNet(nn.Module):
    """Aidge PTQ tutorial style: 4 conv 3x3 + ReLU, 2 max-pools, 2 FC."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv4 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x))
        x = F.max_pool2d(F.relu(self.conv4(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class BasicBlock(nn.Module):
    """ResNet basic block: conv-BN-ReLU-conv-BN + shortcut (1x1 conv + BN on stride/width change)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.proj is None else self.proj(x)
        return F.relu(y + s)


class ResNet(nn.Module):
    """Stem conv+BN+ReLU, 3 stages of one basic block (16, 32, 64 channels), GAP, FC."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.layer3 = BasicBlock(32, 64, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand + BN + ReLU6, 3x3 depthwise + BN + ReLU6,
    1x1 linear projection + BN (no activation); residual Add when stride 1 and cin == cout."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hid = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6()]
        layers += [nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False), nn.BatchNorm2d(hid), nn.ReLU6(),
                   nn.Conv2d(hid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_res else y


class MobileNet(nn.Module):
    """MobileNetV2 style: stem, 5 inverted residual blocks, 1x1 head, GAP, FC."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.blocks = nn.Sequential(
            InvertedResidual(16, 16, 1, 1),   # 28x28, depthwise + linear bottleneck, residual
            InvertedResidual(16, 24, 2, 4),   # -> 14x14
            InvertedResidual(24, 24, 1, 4),   # residual
            InvertedResidual(24, 40, 2, 4),   # -> 7x7
            InvertedResidual(40, 40, 1, 4),   # residual
        )
        self.head = nn.Sequential(nn.Conv2d(40, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU6())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class MLP(nn.Module):
    """Flatten, 784 -> 256 -> 128 -> 10 with ReLU."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


# name -> (class, epochs, batch size, peak learning rate)
MODELS = {
    "convnet": (ConvNet, 3, 128, 2e-3),
    "resnet": (ResNet, 3, 128, 4e-3),
    "mobilenet": (MobileNet, 3, 128, 4e-3),
    "mlp": (MLP, 8, 128, 2e-3),
}


# ---------------------------------------------------------------- training

def evaluate(model, x, y, bs=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), bs):
            correct += (model(x[i:i + bs]).argmax(1) == y[i:i + bs]).sum().item()
    return correct / len(x)


def train(name, xtr, ytr, xte, yte, log):
    cls, epochs, bs, lr = MODELS[name]
    torch.manual_seed(SEED)
    model = cls()
    gen = torch.Generator().manual_seed(SEED)
    steps = epochs * ((len(xtr) + bs - 1) // bs)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        tot = 0.0
        for i in range(0, len(xtr), bs):
            idx = perm[i:i + bs]
            opt.zero_grad()
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
        acc = evaluate(model, xte, yte)
        log(f"{name}: epoch {ep + 1}/{epochs} loss {tot / len(xtr):.4f} test top-1 {acc:.4f} "
            f"({time.time() - t0:.0f} s)")
    model.eval()
    return model, time.time() - t0


def inline_identity_initializers(m):
    """Replaces Identity nodes that merely alias an initializer (torch's export
    deduplicates equal parameters that way) by a copy of that initializer."""
    inits = {i.name: i for i in m.graph.initializer}
    keep = []
    for n in m.graph.node:
        if n.op_type == "Identity" and n.input[0] in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[n.input[0]])
            t.name = n.output[0]
            m.graph.initializer.append(t)
        else:
            keep.append(n)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    used = {i for n in m.graph.node for i in n.input}
    unused = [i for i in m.graph.initializer if i.name not in used]
    for i in unused:
        m.graph.initializer.remove(i)


def run_onnx_numpy(m, x):
    """A tiny numpy interpreter for the ops these models export (no
    onnxruntime here): checks the ONNX file computes what torch computes."""
    from numpy.lib.stride_tricks import sliding_window_view as windows
    env = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    env[m.graph.input[0].name] = x
    for n in m.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        i = [env[v] if v else None for v in n.input]
        op = n.op_type
        if op == "Constant":
            y = onnx.numpy_helper.to_array(a["value"])
        elif op in ("Conv", "MaxPool"):
            k = a.get("kernel_shape", None) or list(i[1].shape[2:])
            st = a.get("strides", [1, 1])
            p = a.get("pads", [0, 0, 0, 0])
            xp = np.pad(i[0], ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])),
                        constant_values=-np.inf if op == "MaxPool" else 0)
            w = windows(xp, k, axis=(2, 3))[:, :, ::st[0], ::st[1]]
            if op == "MaxPool":
                y = w.max(axis=(4, 5))
            else:
                g = a.get("group", 1)
                nb, c, ho, wo = w.shape[:4]
                wg = w.reshape(nb, g, c // g, ho, wo, k[0], k[1])
                kg = i[1].reshape(g, -1, c // g, k[0], k[1])
                y = np.einsum("ngchwij,gocij->ngohw", wg, kg).reshape(nb, -1, ho, wo)
                if len(i) > 2 and i[2] is not None:
                    y = y + i[2].reshape(1, -1, 1, 1)
        elif op == "BatchNormalization":
            sh = (1, -1, 1, 1)
            y = (i[0] - i[3].reshape(sh)) / np.sqrt(i[4].reshape(sh) + a.get("epsilon", 1e-5)) \
                * i[1].reshape(sh) + i[2].reshape(sh)
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "Clip":
            y = np.clip(i[0], i[1], i[2])
        elif op == "Add":
            y = i[0] + i[1]
        elif op == "GlobalAveragePool":
            y = i[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            y = i[0].reshape(i[0].shape[0], -1)
        elif op == "Gemm":
            wt = i[1].T if a.get("transB", 0) else i[1]
            y = i[0] @ wt + (i[2] if len(i) > 2 else 0)
        elif op == "Identity":
            y = i[0]
        else:
            raise NotImplementedError(op)
        env[n.output[0]] = y.astype(np.float32) if y.dtype == np.float64 else y
    return env[m.graph.output[0].name]


def export(model, name, xref, log):
    path = os.path.join(ROOT, "models", f"{name}.onnx")
    # PRESERVE with the model in eval mode keeps BatchNormalization nodes
    # (inference form); EVAL would let torch fuse Conv+BN while exporting.
    torch.onnx.export(model, xref, path, opset_version=13, do_constant_folding=True,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    m = onnx.load(path)
    n_id = sum(n.op_type == "Identity" for n in m.graph.node)
    inline_identity_initializers(m)
    onnx.save(m, path)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    log(f"{name}: {n_id} Identity-of-initializer nodes inlined")
    ops = sorted({n.op_type for n in m.graph.node})
    n_bn = sum(n.op_type == "BatchNormalization" for n in m.graph.node)
    log(f"{name}: exported {path} ({os.path.getsize(path)} bytes), ops {ops}, "
        f"{n_bn} BatchNormalization nodes")
    return path, ops, n_bn


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", default=list(MODELS), help="subset of " + ", ".join(MODELS))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    for n in args.models:
        if n not in MODELS:
            ap.error(f"unknown model {n}")
    torch.set_num_threads(args.threads)
    np.random.seed(SEED)

    def log(msg):
        print(time.strftime("%H:%M:%S"), msg, flush=True)

    xtr, ytr = load_split("train")
    xte, yte = load_split("t10k")
    log(f"train {tuple(xtr.shape)}, test {tuple(xte.shape)}, pixel range [{xtr.min():.1f}, {xtr.max():.1f}]")
    os.makedirs(os.path.join(ROOT, "models", "ref"), exist_ok=True)
    xref = xte[:N_REF].contiguous()
    np.save(os.path.join(ROOT, "models", "ref", "input.npy"), xref.numpy().astype(np.float32))
    np.save(os.path.join(ROOT, "models", "ref", "labels.npy"), yte[:N_REF].numpy().astype(np.int64))

    acc_path = os.path.join(ROOT, "models", "accuracy.json")
    report = {}
    if os.path.exists(acc_path):
        with open(acc_path) as f:
            report = json.load(f)
    report["dataset"] = "Fashion-MNIST (Debian dataset-fashion-mnist), 60000 train / 10000 test"
    report["preprocessing"] = {"formula": "x = pixel / 255", "scale": SCALE, "mean": None, "std": None,
                               "nnquant_args": "--scale 0.00392156862745098"}
    report["reference"] = {"input": "ref/input.npy (first 16 test images, preprocessed, float32 [16,1,28,28])",
                           "labels": "ref/labels.npy (int64 [16])"}
    report["torch_version"] = torch.__version__
    report.setdefault("models", {})
    for name in args.models:
        model, secs = train(name, xtr, ytr, xte, yte, log)
        acc = evaluate(model, xte, yte)
        with torch.no_grad():
            logits = model(xref).numpy().astype(np.float32)
        np.save(os.path.join(ROOT, "models", "ref", f"{name}_logits.npy"), logits)
        path, ops, n_bn = export(model, name, xref, log)
        # Check the ONNX file against torch with a small numpy interpreter
        # (no onnxruntime on this machine).
        m = onnx.load(path)
        diff = float(np.abs(run_onnx_numpy(m, xref.numpy()) - logits).max())
        if diff > 1e-3:
            raise RuntimeError(f"{name}: ONNX (numpy) and torch logits differ by {diff}")
        ins = [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in m.graph.input]
        outs = [(o.name, [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]) for o in m.graph.output]
        log(f"{name}: top-1 {acc:.4f}, inputs {ins}, outputs {outs}, onnx-vs-torch max|diff| {diff:.2e}")
        report["models"][name] = {
            "file": f"{name}.onnx", "top1": round(acc, 4), "correct": int(round(acc * len(xte))),
            "samples": len(xte), "params": sum(p.numel() for p in model.parameters()),
            "onnx_bytes": os.path.getsize(path), "ops": ops, "batchnorm_nodes": n_bn,
            "epochs": MODELS[name][1], "batch": MODELS[name][2], "max_lr": MODELS[name][3],
            "train_seconds": round(secs, 1), "onnx_vs_torch_max_abs_diff": diff,
            "ref_logits": f"ref/{name}_logits.npy",
        }
        with open(acc_path, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    log("done")


if __name__ == "__main__":
    sys.exit(main())
