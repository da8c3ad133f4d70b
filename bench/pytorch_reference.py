#!/usr/bin/python3
"""Plain-PyTorch implementation of the reference procedure (METHOD.md), for timing Layerwise.

Usage (Debian's /usr/bin/python3 with python3-torch, the same LibTorch 1.13 Layerwise links):

    /usr/bin/python3 bench/pytorch_reference.py (--preset NAME | --spec FILE)
        [--mode greedy|e2e] [--dataset fashion-mnist|synthetic] [--data DIR]
        [--augment on|off] [--epochs-per-stage N] [--epochs N] [--stages N]
        [--train-limit N] [--test-limit N] [--batch N] [--lr X] [--threads N] [--seed N]
        [--shuffle torch|layerwise] [--json] [--check]

The network (input psi, stage blocks, auxiliary heads with k-1 hidden convs, BN on/off, fixed or
adaptive head pooling) and the recipe (SGD with momentum and weight decay, LR decays that rebuild
the optimizer, epochs, batch sizes, normalization, augmentation, 2^i-weighted ensemble, seed)
come from the same spec JSON Layerwise reads (resources/presets/NAME.json, docs/spec-format.md).
It is written the way a researcher writes the reference (layerCNN-style): NCHW tensors, the
current stage in train mode, the frozen earlier blocks in eval mode recomputed under
torch.no_grad() for every batch (no feature cache, no BN folding, no channels-last), a fresh SGD
per stage, evaluation of the current head and of the ensemble after every epoch. The data set is
one uint8 tensor in memory; batches are converted, augmented (random crop from the zero-padded
image, horizontal flip: Layerwise's transforms) and normalized with tensor ops. The class-balanced
--train-limit/--test-limit subsets and the synthetic images are Layerwise's own (same seeded
generator), so both sides see the same data, and the network is built in Layerwise's order
after torch.manual_seed(seed), which gives the same initial weights. Shuffling and augmentation
draws use a seeded torch.Generator; --shuffle layerwise takes Layerwise's epoch permutations
instead, so that with augmentation off both sides train on the same batches in the same order
(a check that they implement the same procedure). --check prints the shapes and parameter
counts per stage (keys as `layerwise-cli arch summary --json`) and exits. --json prints one JSON
object on stdout shaped like `layerwise-cli train --json` (accuracies as fractions) plus
total_seconds, peak_rss_mb and a "config" object; progress goes to stderr. OMP_WAIT_POLICY
defaults to PASSIVE and, without tcmalloc preloaded, glibc's malloc gets the thresholds
layerwise-cli sets, so both sides run with the same runtime settings.
"""

import os
import sys

# Like layerwise-cli (lw::preferPassiveOpenMpWait): OpenMP threads sleep instead of spinning
# between parallel regions. Must be set before libgomp is loaded (by numpy or torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import ctypes  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FMNIST = "/usr/share/datasets/fashion-mnist"
DOWNSAMPLES = ("none", "psi", "maxpool", "avgpool", "stride")


class UsageError(Exception):
    """Bad input: printed as one clear message, exit code 2."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- spec ---------------------------------------------------------------------------------------


def _obj(v, path, keys):
    if not isinstance(v, dict):
        raise UsageError(f"{path or 'spec'}: expected an object, got {type(v).__name__}")
    unknown = [k for k in v if k not in keys]
    if unknown:
        raise UsageError(f"{path or 'spec'}: unknown key '{unknown[0]}' (expected one of "
                         f"{', '.join(keys)})")
    return v


def _int(v, path, lo=None, hi=None):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or float(v) != int(v):
        raise UsageError(f"{path}: expected an integer, got {v!r}")
    v = int(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise UsageError(f"{path}: must be in {lo}..{hi}, got {v}")
    return v


def _num(v, path):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise UsageError(f"{path}: expected a number, got {v!r}")
    return float(v)


def _bool(v, path):
    if not isinstance(v, bool):
        raise UsageError(f"{path}: expected true or false, got {v!r}")
    return v


def _enum(v, path, names):
    if v not in names:
        raise UsageError(f"{path}: expected one of {', '.join(names)}, got {v!r}")
    return v


def _lr(v, path):
    v = _obj(v, path, ("initial", "factor", "every", "milestones", "reset_optimizer"))
    milestones = [_int(m, f"{path}.milestones[{i}]", 1) for i, m in
                  enumerate(v.get("milestones", []))]
    every_default = 0 if "milestones" in v else 15
    lr = {
        "initial": _num(v.get("initial", 0.1), path + ".initial"),
        "factor": _num(v.get("factor", 5.0), path + ".factor"),
        "every": _int(v.get("every", every_default), path + ".every", 0),
        "milestones": milestones,
        "reset_optimizer": _bool(v.get("reset_optimizer", True), path + ".reset_optimizer"),
    }
    if lr["initial"] <= 0 or lr["factor"] <= 1:
        raise UsageError(f"{path}: initial must be > 0 and factor > 1")
    if lr["every"] > 0 and milestones:
        raise UsageError(f"{path}: set either \"every\" or \"milestones\", not both")
    if any(b <= a for a, b in zip(milestones, milestones[1:])):
        raise UsageError(f"{path}.milestones: must be strictly increasing")
    return lr


def parse_spec(doc, source):
    """The spec JSON with every default of docs/spec-format.md filled in."""
    doc = _obj(doc, "", ("format", "version", "name", "description", "input", "stages",
                         "recipe"))
    if doc.get("format") != "layerwise-spec":
        raise UsageError(f"{source}: format: expected \"layerwise-spec\", got "
                         f"{doc.get('format')!r}")
    if doc.get("version") != 1:
        raise UsageError(f"{source}: version: this script reads version 1, got "
                         f"{doc.get('version')!r}")
    if "input" not in doc or "stages" not in doc:
        raise UsageError(f"{source}: 'input' and 'stages' are required")
    i = _obj(doc["input"], "input", ("channels", "height", "width", "classes", "downsample"))
    for k in ("channels", "height", "width", "classes"):
        if k not in i:
            raise UsageError(f"{source}: input.{k} is required")
    spec = {"name": doc.get("name", ""), "input": {
        "channels": _int(i["channels"], "input.channels", 1, 4096),
        "height": _int(i["height"], "input.height", 1, 16384),
        "width": _int(i["width"], "input.width", 1, 16384),
        "classes": _int(i["classes"], "input.classes", 2, 1000000),
        "downsample": _enum(i.get("downsample", "none"), "input.downsample", ("none", "psi")),
    }}
    if not isinstance(doc["stages"], list) or not doc["stages"]:
        raise UsageError(f"{source}: stages: expected a non-empty array")
    stages = []
    for n, s in enumerate(doc["stages"]):
        p = f"stages[{n}]"
        s = _obj(s, p, ("width", "kernel", "downsample", "bn", "bias", "head"))
        if "width" not in s:
            raise UsageError(f"{source}: {p}.width is required")
        bn = _bool(s.get("bn", True), p + ".bn")
        h = _obj(s.get("head", {}), p + ".head", ("kind", "k", "width", "pooled", "pool",
                                                  "padding", "bn", "dropout", "maxpool_first"))
        st = {
            "width": _int(s["width"], p + ".width", 1, 65536),
            "kernel": _int(s.get("kernel", 3), p + ".kernel", 1, 11),
            "downsample": _enum(s.get("downsample", "none"), p + ".downsample", DOWNSAMPLES),
            "bn": bn,
            "bias": _bool(s.get("bias", not bn), p + ".bias"),
            "head": {
                "kind": _enum(h.get("kind", "conv"), p + ".head.kind", ("conv", "mlp")),
                "k": _int(h.get("k", 1), p + ".head.k", 1, 3),
                "width": _int(h.get("width", 128), p + ".head.width", 1, 65536),
                "pooled": _int(h.get("pooled", 2), p + ".head.pooled", 1),
                "pool": _enum(h.get("pool", "fixed"), p + ".head.pool", ("fixed", "adaptive")),
                "padding": _int(h.get("padding", 1), p + ".head.padding", 0, 1),
                "bn": _bool(h.get("bn", True), p + ".head.bn"),
                "dropout": _num(h.get("dropout", 0.0), p + ".head.dropout"),
                "maxpool_first": _bool(h.get("maxpool_first", False), p + ".head.maxpool_first"),
            },
        }
        if st["kernel"] % 2 == 0:
            raise UsageError(f"{source}: {p}.kernel: must be odd, got {st['kernel']}")
        stages.append(st)
    spec["stages"] = stages

    r = _obj(doc.get("recipe", {}), "recipe",
             ("dataset", "epochs_per_stage", "batch_size", "test_batch_size", "optimizer", "lr",
              "augment", "normalize", "ensemble", "e2e", "precision", "seed"))
    d = _obj(r.get("dataset", {}), "recipe.dataset", ("name", "path", "train_limit",
                                                      "test_limit"))
    o = _obj(r.get("optimizer", {}), "recipe.optimizer", ("momentum", "weight_decay",
                                                          "nesterov"))
    a = _obj(r.get("augment", {}), "recipe.augment",
             ("enabled", "padding", "flip", "random_resized_crop", "eval_resize"))
    nz = _obj(r.get("normalize", {}), "recipe.normalize", ("mean", "std", "from_data"))
    e = _obj(r.get("e2e", {}), "recipe.e2e", ("epochs", "lr"))
    spec["recipe"] = {
        "dataset": {
            "name": d.get("name", "fashion-mnist"),
            "path": d.get("path", ""),
            "train_limit": _int(d.get("train_limit", 0), "recipe.dataset.train_limit", 0),
            "test_limit": _int(d.get("test_limit", 0), "recipe.dataset.test_limit", 0),
        },
        "epochs_per_stage": _int(r.get("epochs_per_stage", 50), "recipe.epochs_per_stage", 1),
        "batch_size": _int(r.get("batch_size", 128), "recipe.batch_size", 1),
        "test_batch_size": _int(r.get("test_batch_size", 256), "recipe.test_batch_size", 1),
        "optimizer": {
            "momentum": _num(o.get("momentum", 0.9), "recipe.optimizer.momentum"),
            "weight_decay": _num(o.get("weight_decay", 5e-4), "recipe.optimizer.weight_decay"),
            "nesterov": _bool(o.get("nesterov", False), "recipe.optimizer.nesterov"),
        },
        "lr": _lr(r.get("lr", {}), "recipe.lr"),
        "augment": {
            "enabled": _bool(a.get("enabled", True), "recipe.augment.enabled"),
            "padding": _int(a.get("padding", 4), "recipe.augment.padding", 0, 1024),
            "flip": _bool(a.get("flip", True), "recipe.augment.flip"),
            "random_resized_crop": _bool(a.get("random_resized_crop", False),
                                         "recipe.augment.random_resized_crop"),
            "eval_resize": _int(a.get("eval_resize", 0), "recipe.augment.eval_resize", 0),
        },
        "normalize": {
            "mean": [_num(x, "recipe.normalize.mean") for x in nz.get("mean", [])],
            "std": [_num(x, "recipe.normalize.std") for x in nz.get("std", [])],
            "from_data": _bool(nz.get("from_data", False), "recipe.normalize.from_data"),
        },
        "ensemble": _enum(r.get("ensemble", "logits"), "recipe.ensemble", ("logits", "softmax")),
        "e2e": {
            "epochs": _int(e.get("epochs", 0), "recipe.e2e.epochs", 0),
            "lr": _lr(e.get("lr", {}), "recipe.e2e.lr"),
        },
        "seed": _int(r.get("seed", 0), "recipe.seed", 0, 2**64 - 1),
    }
    norm = spec["recipe"]["normalize"]
    if len(norm["mean"]) != len(norm["std"]) or any(s <= 0 for s in norm["std"]):
        raise UsageError(f"{source}: recipe.normalize: mean and std need one value per channel, "
                         f"std > 0")
    return spec


def load_spec(args):
    if args.preset:
        path = os.path.join(REPO, "resources", "presets", args.preset + ".json")
        if not os.path.isfile(path):
            names = sorted(f[:-5] for f in os.listdir(os.path.dirname(path))
                           if f.endswith(".json"))
            raise UsageError(f"--preset {args.preset}: no {path} (presets: {', '.join(names)})")
    else:
        path = args.spec
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path}: not valid JSON: {e}")
    return parse_spec(doc, path)


# ---- LR schedule and ensemble weights (core/train/engine.cpp) ----------------------------------


def decays_before(lr, epoch):
    if epoch <= 0:
        return 0
    if lr["milestones"]:
        return sum(1 for m in lr["milestones"] if 0 < m <= epoch)
    return epoch // lr["every"] if lr["every"] > 0 else 0


def lr_for_epoch(lr, epoch):
    return lr["initial"] / lr["factor"] ** decays_before(lr, epoch)


def ensemble_weights(n):
    w = [2.0 ** i for i in range(n)]
    return [x / sum(w) for x in w]


# ---- the network (core/model/model.cpp) --------------------------------------------------------


def psi(x):
    """Space-to-depth: out[n, (dy*2+dx)*C + c, i, j] = x[n, c, 2i+dy, 2j+dx] (METHOD.md)."""
    n, c, h, w = x.shape
    return (x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
            .reshape(n, 4 * c, h // 2, w // 2))


def downsampled(shape, down):
    c, h, w = shape
    if down == "psi":
        return (4 * c, h // 2, w // 2)
    if down in ("maxpool", "avgpool"):
        return (c, h // 2, w // 2)
    return shape


class StageBlock(nn.Module):
    """downsample -> Conv(k x k, padding k//2) -> [BN] -> ReLU."""

    def __init__(self, st, in_shape):
        super().__init__()
        self.down = st["downsample"]
        c, h, w = downsampled(in_shape, self.down)
        if c < 1 or h < 1 or w < 1 or (self.down == "psi" and (in_shape[1] % 2 or in_shape[2] % 2)):
            raise UsageError(f"stage block: cannot downsample ({self.down}) a "
                             f"{'x'.join(map(str, in_shape))} input")
        stride = 2 if self.down == "stride" else 1
        k = st["kernel"]
        self.conv = nn.Conv2d(c, st["width"], k, stride=stride, padding=k // 2, bias=st["bias"])
        self.bn = nn.BatchNorm2d(st["width"]) if st["bn"] else None
        side = lambda s: (s + 2 * (k // 2) - k) // stride + 1  # noqa: E731
        self.out_shape = (st["width"], side(h), side(w))

    def forward(self, x):
        if self.down == "psi":
            x = psi(x)
        elif self.down == "maxpool":
            x = F.max_pool2d(x, 2, 2)
        elif self.down == "avgpool":
            x = F.avg_pool2d(x, 2, 2)
        y = self.conv(x)
        if self.bn is not None:
            y = self.bn(y)
        return F.relu(y)


class AuxHead(nn.Module):
    """conv: [maxpool] -> (k-1) x [Conv3x3 -> BN -> ReLU] -> pool -> BN -> Linear.
    mlp: [maxpool] -> pool -> (k-1) x [Linear -> ReLU -> Dropout] -> Linear."""

    def __init__(self, hs, in_shape, classes):
        super().__init__()
        self.hs = hs
        c, h, w = in_shape
        if hs["maxpool_first"]:
            h, w = h // 2, w // 2
        self.hidden = nn.Sequential()
        if hs["kind"] == "conv":
            for _ in range(hs["k"] - 1):
                self.hidden.append(nn.Conv2d(c, hs["width"], 3, padding=hs["padding"], bias=False))
                if hs["bn"]:
                    self.hidden.append(nn.BatchNorm2d(hs["width"]))
                self.hidden.append(nn.ReLU())
                c, h, w = hs["width"], h + 2 * hs["padding"] - 2, w + 2 * hs["padding"] - 2
        p = hs["pooled"]
        if h < p or w < p:
            raise UsageError(f"auxiliary head: its input {c}x{h}x{w} is smaller than the pooled "
                             f"side {p}")
        if hs["pool"] == "fixed" and (h // (h // p) != p or w // (w // p) != p):
            raise UsageError(f"auxiliary head: fixed pooling cannot bring {c}x{h}x{w} to {p}x{p}; "
                             "use adaptive pooling")
        features = c * p * p
        self.bn = None
        classifier = []
        if hs["kind"] == "mlp":
            for _ in range(hs["k"] - 1):
                classifier += [nn.Linear(features, hs["width"]), nn.ReLU(),
                               nn.Dropout(hs["dropout"])]
                features = hs["width"]
        elif hs["bn"]:
            self.bn = nn.BatchNorm2d(c)
        classifier.append(nn.Linear(features, classes))
        self.classifier = nn.Sequential(*classifier)

    def forward(self, x):
        if self.hs["maxpool_first"]:
            x = F.max_pool2d(x, 2, 2)
        if len(self.hidden):
            x = self.hidden(x)
        p = self.hs["pooled"]
        if self.hs["pool"] == "fixed":
            kh, kw = max(1, x.shape[2] // p), max(1, x.shape[3] // p)
            x = F.avg_pool2d(x, (kh, kw), (kh, kw))
        else:
            x = F.adaptive_avg_pool2d(x, (p, p))
        if self.bn is not None:
            x = self.bn(x)
        return self.classifier(x.flatten(1))


class Network(nn.Module):
    """Input psi (or identity), one block and one head per stage; built in Layerwise's order
    (block j, head j, block j+1, ...) so the same seed draws the same initial weights."""

    def __init__(self, spec):
        super().__init__()
        inp = spec["input"]
        self.input_psi = inp["downsample"] == "psi"
        if self.input_psi and (inp["height"] % 2 or inp["width"] % 2):
            raise UsageError("input.downsample psi needs an even height and width")
        shape = downsampled((inp["channels"], inp["height"], inp["width"]), inp["downsample"])
        self.blocks, self.heads, self.shapes = nn.ModuleList(), nn.ModuleList(), []
        for st in spec["stages"]:
            block = StageBlock(st, shape)
            self.blocks.append(block)
            self.shapes.append((shape, block.out_shape))
            shape = block.out_shape
            self.heads.append(AuxHead(st["head"], shape, inp["classes"]))

    def stem(self, x):
        return psi(x) if self.input_psi else x

    def forward(self, x, stage):
        x = self.stem(x)
        for j in range(stage + 1):
            x = self.blocks[j](x)
        return self.heads[stage](x)


def count(module):
    return sum(p.numel() for p in module.parameters())


def check_psi():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    y = psi(x)
    for n in range(2):
        for c in range(3):
            for i in range(2):
                for j in range(3):
                    for dy in range(2):
                        for dx in range(2):
                            assert y[n, (dy * 2 + dx) * 3 + c, i, j] == x[n, c, 2 * i + dy,
                                                                            2 * j + dx]


# ---- Layerwise's seeded streams (core/data/internal.h), for the same subsets and synthetic set --

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
STREAM = {"limit_train": 0x11, "limit_test": 0x12, "permutation": 0x21, "synthetic_class": 0x41,
          "synthetic_train": 0x42, "synthetic_test": 0x43}


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def _mix_seed(a, b):
    s = (a * 0xD6E8FEB86659FD93 + b) & M64
    s = (s + GOLDEN) & M64  # splitMix64(s) advances the state; its output is dropped
    return _mix((s + GOLDEN) & M64)


class Rng:
    """splitmix64, seeded like lw::data::detail::Rng(seed, stream, a, b)."""

    def __init__(self, seed, stream, a=0, b=0):
        self.state = _mix_seed(_mix_seed(_mix_seed(seed & M64, STREAM[stream]), a & M64), b & M64)

    def next(self):
        self.state = (self.state + GOLDEN) & M64
        return _mix(self.state)

    def uniform(self, lo=0.0, hi=1.0):
        return lo + (hi - lo) * ((self.next() >> 11) * 2.0 ** -53)

    def below(self, n):
        return 0 if n <= 1 else (self.next() * n) >> 64


def balanced_subset(labels, classes, limit, seed, stream):
    """Ascending indices of Layerwise's seeded class-balanced subset (None: no limit)."""
    n = len(labels)
    if limit <= 0 or limit >= n:
        return None
    groups = [[] for _ in range(max(classes, 1))]
    for i, y in enumerate(labels.tolist()):
        groups[y].append(i)
    for k, g in enumerate(groups):
        rng = Rng(seed, stream, k)
        for i in range(len(g) - 1, 0, -1):
            j = rng.below(i + 1)
            g[i], g[j] = g[j], g[i]
    take, remaining, left = [0] * len(groups), limit, len(groups)
    for k in sorted(range(len(groups)), key=lambda k: len(groups[k])):
        take[k] = min(len(groups[k]), remaining // left)
        remaining -= take[k]
        left -= 1
    for k in range(len(groups)):
        if remaining <= 0:
            break
        if take[k] < len(groups[k]):
            take[k] += 1
            remaining -= 1
    return sorted(i for k, g in enumerate(groups) for i in g[:take[k]])


def epoch_permutation(n, seed, epoch):
    """Layerwise's sample order of an epoch (data::epochPermutation), for --shuffle layerwise."""
    order = list(range(n))
    rng = Rng(seed, "permutation", epoch)
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return torch.tensor(order, dtype=torch.long)


def _mix_np(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def synthetic_split(seed, stream, n, classes, templ):
    """Layerwise's synthetic images: 128 + brightness + 70 * template + 30 * N(0, 1), rounded."""
    per = templ.shape[1]
    out = np.empty((n, per), dtype=np.uint8)
    steps = np.arange(1, 2 * per + 2, dtype=np.uint64) * np.uint64(GOLDEN)  # draws 1..2per+1
    with np.errstate(over="ignore"):
        for s in range(0, n, 256):
            idx = range(s, min(n, s + 256))
            state0 = np.array([Rng(seed, stream, i).state for i in idx], dtype=np.uint64)
            u = (_mix_np(state0[:, None] + steps[None, :]) >> np.uint64(11)).astype(np.float64)
            u *= 2.0 ** -53
            brightness = -20.0 + 40.0 * u[:, 0:1]
            u1, u2 = 1.0 - u[:, 1::2], u[:, 2::2]
            normal = np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)
            t = (np.float32(70) * templ[[i % classes for i in idx]]).astype(np.float64)
            v = 128.0 + brightness + t + 30.0 * normal
            out[s:s + len(idx)] = np.floor(np.clip(v, 0.0, 255.0) + 0.5).astype(np.uint8)
    return out


def synthetic(seed, channels, side, classes, n_train, n_test):
    per = channels * side * side
    templ = np.zeros((classes, channels, side, side), dtype=np.float32)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    for k in range(classes):
        rng = Rng(seed, "synthetic_class", k)
        for ch in range(channels):
            for _ in range(3):
                fx, fy = rng.uniform(-3, 3), rng.uniform(-3, 3)
                phase = rng.uniform(0, 6.283185307179586)
                wave = np.sin(6.283185307179586 * (fx * xx + fy * yy) / side + phase) / 3
                templ[k, ch] = templ[k, ch] + wave.astype(np.float32)
    templ = templ.reshape(classes, per)
    splits = []
    for stream, n in (("synthetic_train", n_train), ("synthetic_test", n_test)):
        images = synthetic_split(seed, stream, n, classes, templ)
        labels = np.arange(n, dtype=np.int64) % classes
        splits.append((torch.from_numpy(images.reshape(n, channels, side, side)),
                       torch.from_numpy(labels)))
    return splits


# ---- data ---------------------------------------------------------------------------------------


def read_idx(path, dims):
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if path.endswith(".gz"):
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as e:
        raise UsageError(f"{path}: cannot read: {e}")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise UsageError(f"{path}: {len(raw)} bytes, shorter than the {header}-byte IDX header")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != 0x0800 + dims:
        raise UsageError(f"{path}: magic 0x{magic:08x} at byte offset 0, expected "
                         f"0x{0x0800 + dims:08x} (IDX unsigned bytes, {dims} dimensions)")
    shape = struct.unpack(">" + "I" * dims, raw[4:header])
    if len(raw) - header != math.prod(shape):
        raise UsageError(f"{path}: {len(raw) - header} payload bytes after the header, "
                         f"expected {math.prod(shape)} for {' x '.join(map(str, shape))}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def find_idx(folder, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(folder, name)
        if os.path.isfile(p):
            return p
    raise UsageError(f"{os.path.join(folder, stem)}[.gz] is missing (the four IDX files "
                     "train-images, train-labels, t10k-images, t10k-labels are needed)")


def load_data(spec, args):
    """Train and test splits as (uint8 N x C x H x W, int64 N) tensors."""
    r, inp = spec["recipe"], spec["input"]
    name = r["dataset"]["name"]
    seed = r["seed"]
    train_limit, test_limit = r["dataset"]["train_limit"], r["dataset"]["test_limit"]
    if name == "synthetic":
        if inp["height"] != inp["width"]:
            raise UsageError("synthetic data needs a square input (input.height = input.width)")
        return synthetic(seed, inp["channels"], inp["height"], inp["classes"],
                         train_limit or 2048, test_limit or 512), "synthetic"
    if name != "fashion-mnist":
        raise UsageError(f"dataset '{name}' is not supported by this script (the recipe's "
                         "default); pass --dataset fashion-mnist or --dataset synthetic")
    folder = args.data or r["dataset"]["path"] or DEFAULT_FMNIST
    splits = []
    for split, limit, stream in (("train", train_limit, "limit_train"),
                                 ("t10k", test_limit, "limit_test")):
        images = read_idx(find_idx(folder, split + "-images-idx3-ubyte"), 3)
        labels = read_idx(find_idx(folder, split + "-labels-idx1-ubyte"), 1).astype(np.int64)
        if len(labels) != len(images):
            raise UsageError(f"{folder}: {split}: {len(images)} images but {len(labels)} labels")
        if labels.max(initial=0) >= 10:
            raise UsageError(f"{folder}: {split} labels: {labels.max()} is out of range (0..9)")
        subset = balanced_subset(labels, 10, limit, seed, stream)
        if subset is not None:
            images, labels = images[subset], labels[subset]
        splits.append((torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1),
                       torch.from_numpy(np.ascontiguousarray(labels))))
    return splits, f"Fashion-MNIST (IDX) at {folder}"


class Batches:
    """Minibatches from an in-memory uint8 split: shuffled with a seeded torch.Generator,
    augmented (random crop from the zero-padded image, horizontal flip) and normalized."""

    def __init__(self, split, spec, mean, std, batch, train, generator, layerwise_order=False):
        self.images, self.labels = split
        self.batch, self.train, self.gen = batch, train, generator
        self.layerwise_order, self.epoch_key = layerwise_order, 0
        self.seed = spec["recipe"]["seed"]
        inp, aug = spec["input"], spec["recipe"]["augment"]
        self.channels = inp["channels"]
        self.augment = train and aug["enabled"]
        self.padding = aug["padding"] if self.augment else 0
        self.flip = self.augment and aug["flip"]
        c = self.channels
        mean = (mean * c)[:c] if mean else [0.0] * c
        std = (std * c)[:c] if std else [1.0] * c
        # x * 1 / (255 std) - mean / std: the normalization Layerwise's loader applies.
        self.scale = torch.tensor([1.0 / (255.0 * s) for s in std]).view(1, c, 1, 1)
        self.bias = torch.tensor([-m / s for m, s in zip(mean, std)]).view(1, c, 1, 1)
        self.n = len(self.labels)

    def __len__(self):
        return (self.n + self.batch - 1) // self.batch

    def crop_flip(self, x):
        n, c, h, w = x.shape
        p = self.padding
        if p > 0:
            padded = x.new_zeros(n, c, h + 2 * p, w + 2 * p)
            padded[:, :, p:p + h, p:p + w] = x
            oy = torch.randint(0, 2 * p + 1, (n,), generator=self.gen)
            ox = torch.randint(0, 2 * p + 1, (n,), generator=self.gen)
        else:
            padded, oy, ox = x, torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long)
        cols = torch.arange(w).expand(n, w)
        if self.flip:
            flipped = torch.rand(n, generator=self.gen) < 0.5
            cols = torch.where(flipped[:, None], w - 1 - cols, cols)
        rows = oy[:, None] + torch.arange(h)
        cols = cols + ox[:, None]
        return padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None],
                      rows[:, None, :, None], cols[:, None, None, :]]

    def __iter__(self):
        order = None
        if self.train and self.layerwise_order:
            order = epoch_permutation(self.n, self.seed, self.epoch_key)
        elif self.train:
            order = torch.randperm(self.n, generator=self.gen)
        for s in range(0, self.n, self.batch):
            idx = order[s:s + self.batch] if order is not None else slice(s, s + self.batch)
            x, y = self.images[idx], self.labels[idx]
            if self.augment and (self.padding > 0 or self.flip):
                x = self.crop_flip(x)
            if x.shape[1] != self.channels:
                x = x.expand(-1, self.channels, -1, -1)
            x = x.float().mul_(self.scale).add_(self.bias)
            yield x.to(DEVICE, non_blocking=True), y.to(DEVICE, non_blocking=True)


# ---- training -----------------------------------------------------------------------------------


class Diverged(Exception):
    pass


def make_sgd(params, spec, lr):
    o = spec["recipe"]["optimizer"]
    return torch.optim.SGD(params, lr=lr, momentum=o["momentum"], weight_decay=o["weight_decay"],
                           nesterov=o["nesterov"])


class Schedule:
    """SGD whose LR follows the schedule; rebuilt at a decay when reset_optimizer (the
    reference's behaviour: momentum buffers dropped), else only the LR changes."""

    def __init__(self, params, spec, lr):
        self.params, self.spec, self.sched = list(params), spec, lr
        self.lr = lr["initial"]
        self.sgd = make_sgd(self.params, spec, self.lr)

    def start_epoch(self, epoch):
        lr = lr_for_epoch(self.sched, epoch)
        if lr == self.lr:
            return False
        self.lr = lr
        if self.sched["reset_optimizer"]:
            self.sgd = make_sgd(self.params, self.spec, lr)
            return True
        for g in self.sgd.param_groups:
            g["lr"] = lr
        return False


DEVICE = torch.device("cpu")  # --device


def autocast(spec):
    """Mixed precision the way a PyTorch user writes it: autocast around the forward pass."""
    if spec["recipe"].get("precision", "fp32") == "bf16":
        return torch.autocast(DEVICE.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_epoch(batches, forward, sched, where):
    correct = seen = 0
    loss_sum = 0.0
    t0 = time.perf_counter()
    for b, (x, y) in enumerate(batches, 1):
        out = forward(x)
        loss = F.cross_entropy(out, y)
        value = loss.item()
        if not math.isfinite(value):
            raise Diverged(f"{where}, batch {b}: the loss is {value}; training diverged")
        sched.sgd.zero_grad()
        loss.backward()
        sched.sgd.step()
        correct += (out.argmax(1) == y).sum().item()
        loss_sum += value * len(y)
        seen += len(y)
    return {"seconds": time.perf_counter() - t0, "seen": seen, "acc": correct / max(seen, 1),
            "loss": loss_sum / max(seen, 1)}


@torch.no_grad()
def test_logits(batches, forward):
    outs, loss_sum = [], 0.0
    for x, y in batches:
        out = forward(x)
        loss_sum += F.cross_entropy(out, y, reduction="sum").item()
        outs.append(out.cpu())
    return torch.cat(outs), loss_sum / max(batches.n, 1)


def rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def run(spec, args, splits, norm, threads):
    r = spec["recipe"]
    torch.manual_seed(r["seed"])
    net = Network(spec).to(DEVICE)
    gen = torch.Generator().manual_seed(r["seed"])
    mean, std = norm
    train = Batches(splits[0], spec, mean, std, r["batch_size"], True, gen,
                    args.shuffle == "layerwise")
    test = Batches(splits[1], spec, mean, std, max(r["test_batch_size"], 256), False, gen)
    test_labels = splits[1][1]
    log(f"pytorch {args.mode}: {len(net.blocks)} stages, {train.n} train / {test.n} test images, "
        f"batch {r['batch_size']}, augmentation {'on' if train.augment else 'off'}, "
        f"{threads} threads")
    results = []
    head_outputs = []  # test logits (or softmax) of finished heads, for the ensemble
    softmax = r["ensemble"] == "softmax"

    if args.mode == "greedy":
        epochs = r["epochs_per_stage"]
        for j in range(len(net.blocks)):
            t_stage = time.perf_counter()
            block, head = net.blocks[j], net.heads[j]
            for k in range(j):
                net.blocks[k].eval()
                net.blocks[k].requires_grad_(False)
            log(f"stage {j}: block {count(block)} params, head {count(head)} params")

            def features(x, j=j):
                with torch.no_grad():  # frozen prefix, recomputed for every batch
                    x = net.stem(x)
                    for k in range(j):
                        x = net.blocks[k](x)
                return x

            def forward(x, j=j):
                with autocast(spec):
                    return net.heads[j](net.blocks[j](features(x))).float()

            sched = Schedule(list(block.parameters()) + list(head.parameters()), spec, r["lr"])
            train_seconds = train_images = 0
            for e in range(epochs):
                t_epoch = time.perf_counter()
                if sched.start_epoch(e):
                    log(f"stage {j}, epoch {e + 1}: learning rate {sched.lr:g}, optimizer "
                        "rebuilt (momentum reset)")
                block.train()
                head.train()
                train.epoch_key = j * 1000 + e  # Layerwise's epoch key (--shuffle layerwise)
                t = train_epoch(train, forward, sched, f"stage {j}, epoch {e + 1}")
                block.eval()
                head.eval()
                logits, test_loss = test_logits(test, forward)
                acc = (logits.argmax(1) == test_labels).sum().item() / len(test_labels)
                outputs = torch.softmax(logits, 1) if softmax else logits
                w = ensemble_weights(j + 1)
                ens = outputs * w[j]
                for k in range(j):
                    ens = ens + head_outputs[k] * w[k]
                ens_acc = (ens.argmax(1) == test_labels).sum().item() / len(test_labels)
                train_seconds += t["seconds"]
                train_images += t["seen"]
                log(f"stage {j} epoch {e + 1}/{epochs}: train loss {t['loss']:.4f} acc "
                    f"{100 * t['acc']:.2f}% | test {100 * acc:.2f}% (loss {test_loss:.4f}) "
                    f"ensemble {100 * ens_acc:.2f}% | lr {sched.lr:g} | "
                    f"{t['seen'] / t['seconds']:.0f} img/s | {time.perf_counter() - t_epoch:.1f}s")
            head_outputs.append(outputs)
            block.requires_grad_(False)
            results.append({"stage": j, "epochs": epochs, "train_acc": t["acc"], "test_acc": acc,
                            "ensemble_acc": ens_acc,
                            "seconds": time.perf_counter() - t_stage,
                            "images_per_second": train_images / max(train_seconds, 1e-9)})
            log(f"stage {j} done: test {100 * acc:.2f}%, ensemble {100 * ens_acc:.2f}%, "
                f"{results[-1]['seconds']:.1f}s")
    else:
        last = len(net.blocks) - 1
        epochs = args.epochs or r["e2e"]["epochs"] or r["epochs_per_stage"] * len(net.blocks)
        params = [p for b in net.blocks for p in b.parameters()]
        params += list(net.heads[last].parameters())
        sched = Schedule(params, spec, r["e2e"]["lr"])
        log(f"end-to-end: trunk {sum(count(b) for b in net.blocks)} params, head "
            f"{count(net.heads[last])} params, {epochs} epochs")

        def forward(x):
            with autocast(spec):
                return net(x, last).float()

        total_seconds = train_seconds = train_images = 0
        for e in range(epochs):
            t_epoch = time.perf_counter()
            if sched.start_epoch(e):
                log(f"epoch {e + 1}: learning rate {sched.lr:g}, optimizer rebuilt")
            net.train()
            train.epoch_key = e
            t = train_epoch(train, forward, sched, f"epoch {e + 1}")
            net.eval()
            logits, test_loss = test_logits(test, forward)
            acc = (logits.argmax(1) == test_labels).sum().item() / len(test_labels)
            train_seconds += t["seconds"]
            train_images += t["seen"]
            total_seconds += time.perf_counter() - t_epoch
            log(f"e2e epoch {e + 1}/{epochs}: train loss {t['loss']:.4f} acc {100 * t['acc']:.2f}% "
                f"| test {100 * acc:.2f}% (loss {test_loss:.4f}) | lr {sched.lr:g} | "
                f"{t['seen'] / t['seconds']:.0f} img/s | {time.perf_counter() - t_epoch:.1f}s")
        results.append({"stage": last, "epochs": epochs, "train_acc": t["acc"], "test_acc": acc,
                         "ensemble_acc": acc, "seconds": total_seconds,
                         "images_per_second": train_images / max(train_seconds, 1e-9)})
    return results


def allocator():
    """Which malloc serves this process; without tcmalloc, glibc gets layerwise-cli's settings."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        maps = ""
    for lib in ("libtcmalloc", "libjemalloc"):
        if lib in maps:
            path = next(w for w in maps.split() if lib in w)
            return f"{os.path.basename(path)} (LD_PRELOAD={os.environ.get('LD_PRELOAD', '')})"
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 * 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 512 * 1024 * 1024)  # M_TRIM_THRESHOLD
        return "glibc malloc (mmap threshold 256 MiB, trim threshold 512 MiB, as layerwise-cli)"
    except (OSError, AttributeError):
        return "glibc malloc"


def channel_stats(images, max_samples=20000):
    n = len(images)
    count_ = min(n, max_samples) if max_samples > 0 else n
    idx = [k if count_ == n else k * n // count_ for k in range(count_)]
    x = images[idx].double() / 255.0
    mean = x.mean(dim=(0, 2, 3))
    sd = (x.pow(2).mean(dim=(0, 2, 3)) - mean.pow(2)).clamp_min(0).sqrt()
    return mean.tolist(), sd.tolist()


def main(argv):
    t_start = time.perf_counter()
    baseline_rss = rss_mb()
    ap = argparse.ArgumentParser(
        description="Plain-PyTorch reference of greedy layerwise training (METHOD.md), for "
                    "side-by-side timing against layerwise-cli train.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", help="resources/presets/NAME.json of this repository")
    src.add_argument("--spec", help="a spec JSON file")
    ap.add_argument("--mode", choices=("greedy", "e2e"), default="greedy")
    ap.add_argument("--dataset", choices=("fashion-mnist", "synthetic"),
                    help="default: the recipe's")
    ap.add_argument("--data", help=f"Fashion-MNIST folder (default {DEFAULT_FMNIST})")
    ap.add_argument("--augment", choices=("on", "off"), help="default: the recipe's")
    ap.add_argument("--epochs-per-stage", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=0, help="end-to-end epochs (default: recipe)")
    ap.add_argument("--stages", type=int, default=0, help="train only the first N stages")
    ap.add_argument("--train-limit", type=int, default=-1,
                    help="seeded class-balanced subset (synthetic: the number of images)")
    ap.add_argument("--test-limit", type=int, default=-1)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.0, help="initial learning rate")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (default: cores)")
    ap.add_argument("--seed", type=int, default=-1)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="",
                    help="default: the recipe's; bf16 = torch.autocast('cpu', torch.bfloat16) "
                         "around each forward, as a PyTorch user turns on mixed precision")
    ap.add_argument("--shuffle", choices=("torch", "layerwise"), default="torch",
                    help="sample order: a seeded torch.Generator (default), or Layerwise's own "
                         "epoch permutations (to check that both implement the same procedure)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--check", action="store_true",
                    help="print shapes and parameter counts per stage, then exit")
    args = ap.parse_args(argv)
    for name in ("epochs_per_stage", "epochs", "stages", "batch", "threads"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')}: must be >= 0")
    for name in ("train_limit", "test_limit", "seed"):
        if getattr(args, name) < -1:
            raise UsageError(f"--{name.replace('_', '-')}: must be >= 0")

    spec = load_spec(args)
    r = spec["recipe"]
    if args.stages:
        if args.stages > len(spec["stages"]):
            raise UsageError(f"--stages {args.stages}: the spec has {len(spec['stages'])} stages")
        spec["stages"] = spec["stages"][:args.stages]
    if args.dataset:
        r["dataset"]["name"] = args.dataset
    if args.epochs_per_stage:
        r["epochs_per_stage"] = args.epochs_per_stage
    if args.batch:
        r["batch_size"] = args.batch
    if args.lr > 0:
        r["lr"]["initial"] = r["e2e"]["lr"]["initial"] = args.lr
    if args.augment:
        r["augment"]["enabled"] = args.augment == "on"
    if args.train_limit >= 0:
        r["dataset"]["train_limit"] = args.train_limit
    if args.test_limit >= 0:
        r["dataset"]["test_limit"] = args.test_limit
    if args.seed >= 0:
        r["seed"] = args.seed
    if args.precision:
        r["precision"] = args.precision
    global DEVICE
    try:
        DEVICE = torch.device(args.device)
    except RuntimeError:
        raise UsageError(f"--device {args.device}: expected cpu, cuda or cuda:N") from None
    if DEVICE.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {args.device}: expected cpu, cuda or cuda:N")
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {args.device}: this torch has no CUDA device")
    if DEVICE.type == "cuda" and (DEVICE.index or 0) >= torch.cuda.device_count():
        raise UsageError(f"--device {args.device}: only {torch.cuda.device_count()} CUDA "
                         "device(s)")

    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    alloc = allocator()
    log(f"runtime: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, allocator {alloc}")

    torch.manual_seed(r["seed"])
    net = Network(spec)
    if args.check:
        check_psi()
        stages = []
        x = torch.zeros(2, spec["input"]["channels"], spec["input"]["height"],
                        spec["input"]["width"])
        net.eval()
        with torch.no_grad():
            h = net.stem(x)
            for j, (block, head) in enumerate(zip(net.blocks, net.heads)):
                h = block(h)
                assert tuple(h.shape[1:]) == block.out_shape
                assert tuple(head(h).shape) == (2, spec["input"]["classes"])
                stages.append({"stage": j, "downsample": spec["stages"][j]["downsample"],
                               "in_shape": list(net.shapes[j][0]),
                               "out_shape": list(block.out_shape),
                               "block_params": count(block), "head_params": count(head)})
        trunk = sum(s["block_params"] for s in stages)
        summary = {"name": spec["name"], "stages": stages, "trunk_params": trunk,
                   "total_params": trunk + stages[-1]["head_params"], "psi_order_checked": True}
        if args.json:
            print(json.dumps(summary))
        else:
            print(f"{spec['name']}: {len(stages)} stages (psi channel order checked)")
            print(f"{'stage':>5} {'down':>8} {'in':>12} {'out':>12} {'block params':>13} "
                  f"{'head params':>12}")
            for s in stages:
                print(f"{s['stage']:>5} {s['downsample']:>8} "
                      f"{'x'.join(map(str, s['in_shape'])):>12} "
                      f"{'x'.join(map(str, s['out_shape'])):>12} {s['block_params']:>13} "
                      f"{s['head_params']:>12}")
            print(f"trunk {trunk} params, trunk + last head {summary['total_params']} params")
        return 0

    aug = r["augment"]
    if aug["enabled"] and (aug["random_resized_crop"] or aug["eval_resize"]):
        raise UsageError("recipe.augment: random_resized_crop / eval_resize (ImageNet) are not "
                         "implemented by this script")
    t_data = time.perf_counter()
    splits, description = load_data(spec, args)
    train_x, test_x = splits[0][0], splits[1][0]
    inp = spec["input"]
    for x, what in ((train_x, "train"), (test_x, "test")):
        if tuple(x.shape[2:]) != (inp["height"], inp["width"]):
            raise UsageError(f"{description}: {what} images are {x.shape[2]}x{x.shape[3]}, the "
                             f"spec's input is {inp['height']}x{inp['width']} (no resizing here)")
        if x.shape[1] != inp["channels"] and x.shape[1] != 1:
            raise UsageError(f"{description}: {x.shape[1]}-channel images, the spec expects "
                             f"input.channels = {inp['channels']}")
    if int(max(splits[0][1].max(), splits[1][1].max())) >= inp["classes"]:
        raise UsageError(f"{description}: labels exceed the spec's {inp['classes']} classes")
    if r["normalize"]["from_data"]:
        norm = channel_stats(train_x)
        log(f"normalization from the data: mean {norm[0]}, std {norm[1]}")
    else:
        norm = (r["normalize"]["mean"], r["normalize"]["std"])
    log(f"data: {description}, {len(train_x)} train / {len(test_x)} test images "
        f"(loaded in {time.perf_counter() - t_data:.1f}s)")
    del net

    try:
        stages = run(spec, args, splits, norm, threads)
        status, message = "finished", ""
    except Diverged as e:
        stages, status, message = [], "failed", str(e)
        log(f"pytorch_reference: {message}")
    total = time.perf_counter() - t_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    final = stages[-1]["test_acc"] if stages else 0.0
    out = {"impl": "pytorch", "mode": args.mode, "status": status, "stages": stages,
           "final_test_acc": final, "seconds": total, "total_seconds": total,
           "train_seconds": sum(s["seconds"] for s in stages), "peak_rss_mb": peak,
           "config": {"spec": spec["name"], "dataset": description,
                      "train_size": len(train_x), "test_size": len(test_x),
                      "augment": r["augment"]["enabled"], "batch": r["batch_size"],
                      "shuffle": args.shuffle,
                      "epochs_per_stage": r["epochs_per_stage"], "seed": r["seed"],
                      "threads": torch.get_num_threads(), "allocator": alloc,
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                      "torch": torch.__version__, "baseline_rss_mb": baseline_rss}}
    if message:
        out["message"] = message
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{'stage':>5} {'train acc':>10} {'test acc':>9} {'ensemble':>9} {'time':>9} "
              f"{'img/s':>8}")
        for s in stages:
            print(f"{s['stage']:>5} {100 * s['train_acc']:>9.2f}% {100 * s['test_acc']:>8.2f}% "
                  f"{100 * s['ensemble_acc']:>8.2f}% {s['seconds']:>8.1f}s "
                  f"{s['images_per_second']:>8.0f}")
        print(f"final test accuracy {100 * final:.2f}%, {total:.1f}s in total, peak RSS "
              f"{peak:.0f} MB")
    return 0 if status == "finished" else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except UsageError as e:
        log(f"pytorch_reference: {e}")
        sys.exit(2)
    except KeyboardInterrupt:
        log("pytorch_reference: interrupted")
        sys.exit(130)
