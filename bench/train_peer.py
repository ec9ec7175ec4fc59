#!/usr/bin/python3
"""PyTorch peer of bench_train: the same training loop on the same model.

The network is built from the ONNX file itself (its initializers become
torch Parameters; its nodes are evaluated in order with torch.nn.functional),
so architecture and starting weights are those nnquant trains. Supported
node types: Conv, Gemm, MatMul, Relu, Clip, MaxPool, AveragePool,
GlobalAveragePool, BatchNormalization (training mode, ONNX momentum m ->
PyTorch momentum 1 - m), Add, Flatten, Reshape, Identity, Constant.

Same data (first COUNT training images, x / 255), same batch, SGD with
momentum (or Adam), shuffled each epoch, softmax cross-entropy. Only the
training loop is timed. Prints one JSON object like bench_train.

Usage: train_peer.py --model M.onnx --train IMAGES --labels LABELS
         [--count N] [--batch B] [--epochs E] [--lr LR] [--momentum MU]
         [--optimizer sgd|adam] [--threads T] [--test IMAGES --test-labels L]
"""
import argparse
import gzip
import json
import time

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F


def load_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class OnnxNet(torch.nn.Module):
    def __init__(self, path):
        super().__init__()
        m = onnx.load(path)
        self.graph = m.graph
        self.params = torch.nn.ParameterDict()
        self.consts = {}
        self.pname = {}
        bn_stats = set()
        for n in m.graph.node:
            if n.op_type == "BatchNormalization":
                bn_stats.update(n.input[3:5])
        for i, init in enumerate(m.graph.initializer):
            a = torch.from_numpy(onnx.numpy_helper.to_array(init).copy())
            if a.dtype == torch.float32 and init.name not in bn_stats:
                key = "p%d" % i
                self.params[key] = torch.nn.Parameter(a)
                self.pname[init.name] = key
            else:
                self.consts[init.name] = a
        self.input = m.graph.input[0].name
        self.output = m.graph.output[0].name

    def get(self, env, name):
        if name in self.pname:
            return self.params[self.pname[name]]
        if name in self.consts:
            return self.consts[name]
        return env[name]

    def forward(self, x):
        env = {self.input: x}
        for n in self.graph.node:
            a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
            ins = [self.get(env, i) if i else None for i in n.input]
            op = n.op_type
            if op == "Conv":
                p = a.get("pads", [0, 0, 0, 0])
                assert p[:2] == p[2:], "asymmetric pads"
                y = F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                             stride=a.get("strides", 1), padding=p[:2],
                             dilation=a.get("dilations", 1), groups=a.get("group", 1))
            elif op == "Gemm":
                b = ins[1].t() if a.get("transB", 0) else ins[1]
                y = a.get("alpha", 1.0) * ins[0] @ b
                if len(ins) > 2:
                    y = y + a.get("beta", 1.0) * ins[2]
            elif op == "MatMul":
                y = ins[0] @ ins[1]
            elif op == "Relu":
                y = F.relu(ins[0])
            elif op == "Clip":
                y = torch.clamp(ins[0], float(ins[1]), float(ins[2]))
            elif op == "MaxPool":
                y = F.max_pool2d(ins[0], a["kernel_shape"], a.get("strides"), a.get("pads", [0, 0, 0, 0])[:2])
            elif op == "AveragePool":
                y = F.avg_pool2d(ins[0], a["kernel_shape"], a.get("strides"), a.get("pads", [0, 0, 0, 0])[:2])
            elif op == "GlobalAveragePool":
                y = ins[0].mean(dim=(2, 3), keepdim=True)
            elif op == "BatchNormalization":
                y = F.batch_norm(ins[0], ins[3], ins[4], ins[1], ins[2], training=self.training,
                                 momentum=1.0 - a.get("momentum", 0.9), eps=a.get("epsilon", 1e-5))
            elif op == "Add":
                y = ins[0] + ins[1]
            elif op == "Flatten":
                y = torch.flatten(ins[0], a.get("axis", 1))
            elif op == "Reshape":
                y = ins[0].reshape([int(v) for v in ins[1]])
            elif op in ("Identity", "Dropout"):
                y = ins[0]
            elif op == "Constant":
                y = torch.from_numpy(onnx.numpy_helper.to_array(a["value"]).copy())
            else:
                raise SystemExit("train_peer.py: unsupported op " + op)
            env[n.output[0]] = y
        return env[self.output]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--test")
    ap.add_argument("--test-labels")
    ap.add_argument("--count", type=int, default=12800)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--optimizer", default="sgd")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x = torch.from_numpy(load_idx(args.train)[:args.count].astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(load_idx(args.labels)[:args.count].astype(np.int64))
    net = OnnxNet(args.model)
    if args.optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    else:
        opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum)
    secs = cpu = 0.0
    for _ in range(args.epochs):
        net.train()
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(len(x))
        loss_sum, correct = 0.0, 0
        for s in range(0, len(x), args.batch):
            idx = perm[s:s + args.batch]
            xb, yb = x[idx], y[idx]
            opt.zero_grad()
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
        secs += time.perf_counter() - t0
        cpu += time.process_time() - c0
    res = {"model": args.model, "samples": len(x), "batch": args.batch,
           "batches_per_epoch": (len(x) + args.batch - 1) // args.batch, "epochs": args.epochs,
           "threads": args.threads, "seconds_per_epoch": round(secs / args.epochs, 4),
           "cpu_seconds_per_epoch": round(cpu / args.epochs, 4),
           "last_epoch_loss": round(loss_sum / len(x), 5), "last_epoch_train_acc": round(correct / len(x), 5),
           "torch": torch.__version__}
    if args.test:
        net.eval()
        tx = torch.from_numpy(load_idx(args.test).astype(np.float32) / 255.0).unsqueeze(1)
        ty = torch.from_numpy(load_idx(args.test_labels).astype(np.int64))
        with torch.no_grad():
            hits = sum(int((net(tx[s:s + 256]).argmax(1) == ty[s:s + 256]).sum()) for s in range(0, len(tx), 256))
        res["test_top1"] = round(hits / len(tx), 5)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
