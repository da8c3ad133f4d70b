#!/usr/bin/python3
"""Checks Layerwise's exports with Debian's Python, nothing from Layerwise installed:
the TorchScript archive through torch.jit.load, the state dict through the generated model.py,
the ONNX model through onnx.checker and OpenCV's dnn module. Each output must match Layerwise's
logits on the same batch to 1e-4 relative (max |difference| / max |Layerwise's value|).

Usage: check_export.py MANIFEST.json   (written by tst_export: input, expected outputs, exports)
Exit status 0 when everything matches; otherwise one line per mismatch on stderr.
"""
import importlib.util
import json
import os
import sys

import numpy as np

TOLERANCE = 1e-4
failures = []


def load(path, shape):
    return np.fromfile(path, dtype=np.float32).reshape(shape)


def compare(what, got, expected):
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        failures.append(f"{what}: shape {got.shape}, expected {expected.shape}")
        return
    rel = np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-30)
    print(f"{what}: max relative difference {rel:.2e}")
    if not rel <= TOLERANCE:
        failures.append(f"{what}: relative difference {rel:.3e} > {TOLERANCE}")


def outputs_of(result, heads):
    """A model's result as a list of arrays: [logits] or [head logits..., ensemble]."""
    if heads == "all":
        logits, ensemble = result
        return [t.numpy() for t in logits] + [ensemble.numpy()]
    return [result.numpy()]


def main():
    manifest = json.load(open(sys.argv[1]))
    x = load(manifest["input"], manifest["input_shape"])
    import torch

    torch.set_num_threads(1)
    for case in manifest["cases"]:
        heads, fmt, path = case["heads"], case["format"], case["path"]
        expected = [load(p, case["output_shape"]) for p in case["expected"]]
        what = f'{manifest["name"]} {fmt} --heads {heads}'
        if fmt == "torchscript":
            net = torch.jit.load(path)
            net.eval()
            with torch.no_grad():
                got = outputs_of(net(torch.from_numpy(x)), heads)
        elif fmt == "pytorch":
            spec = importlib.util.spec_from_file_location(
                "model_" + str(abs(hash(path))), os.path.join(path, "model.py"))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            net = module.Net()
            net.load_state_dict(torch.load(os.path.join(path, "weights.pt")))
            net.eval()
            with torch.no_grad():
                got = outputs_of(net(torch.from_numpy(x)), heads)
        elif fmt == "onnx":
            import cv2
            import onnx

            model = onnx.load(path)
            onnx.checker.check_model(model)
            opsets = {o.domain: o.version for o in model.opset_import}
            if opsets.get("") != manifest["opset"]:
                failures.append(f"{what}: opset {opsets}, expected {manifest['opset']}")
            names = [o.name for o in model.graph.output]
            net = cv2.dnn.readNetFromONNX(path)
            net.setInput(x)
            got = net.forward(names)
        else:
            failures.append(f"{what}: unknown format")
            continue
        if len(got) != len(expected):
            failures.append(f"{what}: {len(got)} outputs, expected {len(expected)}")
            continue
        for k, (g, e) in enumerate(zip(got, expected)):
            compare(f"{what} output {k}", g, e)
    for f in failures:
        print(f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
