#!/usr/bin/env python3
"""Turns the raw results of bench/run.sh (one folder) into the benchmark tables (Markdown).

    bench/report.py RESULTS_DIR

Every figure is a median over the repetitions of that variant; ratios are taken between medians of
variants that ran alternately in the same `make bench`. Standard library only.
"""

import glob
import json
import os
import re
import statistics
import sys


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def runs(out, case, variant):
    """All repetitions of one variant: a list of dicts (the program's JSON + time's figures)."""
    found = []
    for path in sorted(glob.glob(os.path.join(out, case, variant + ".*.out"))):
        if not re.fullmatch(re.escape(variant) + r"\.\d+\.out", os.path.basename(path)):
            continue
        res = load_json(path) or {"failed": True}
        t = load_json(path[:-4] + ".time") or {}
        res["_wall"] = t.get("wall_s")
        res["_user"] = t.get("user_s")
        res["_rss_mb"] = t.get("peak_rss_kb", 0) / 1024.0 if t.get("peak_rss_kb") else None
        if res.get("status") not in (None, "finished"):
            res["failed"] = True
        found.append(res)
    return [r for r in found if not r.get("failed")]


def paired(out, case, a, b):
    """Both variants' repetitions and their median wall times, or None when one is missing."""
    ra, rb = runs(out, case, a), runs(out, case, b)
    if not ra or not rb:
        return None
    return ra, rb, med([r["_wall"] for r in ra]), med([r["_wall"] for r in rb])


def paired_rows(out, case, variants, row):
    """row(name, *paired(...)) for each (name, a, b) in variants measured both ways."""
    body = []
    for name, a, b in variants:
        pair = paired(out, case, a, b)
        if pair:
            body.append(row(name, *pair))
    return body


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec="{:.1f}", none="n/a"):
    return none if v is None else spec.format(v)


def pct(v):
    # The CLI and the reference report accuracies as fractions.
    return "n/a" if v is None else "{:.2f}%".format(100.0 * v if v <= 1.0 else v)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def layout(step):
    """A stage step variant's label: NCHW, channels-last, channels-last bf16."""
    name = "channels-last" if step["channels_last"] else "NCHW"
    return name + (" bf16" if step.get("precision") == "bf16" else "")


def stage_table(out, lines):
    files = {v: sorted(glob.glob(os.path.join(out, "stage", v + ".*.stage.json")))
             for v in ("tcmalloc", "glibc-tuned", "glibc-plain")}
    data = {v: [d for d in (load_json(p) for p in ps) if d] for v, ps in files.items()}
    if not data["tcmalloc"]:
        return {}
    ceiling = med([d["ceiling_gflops"] for d in data["tcmalloc"]])
    ceiling_bf16 = med([d.get("ceiling_bf16_gflops") or None for d in data["tcmalloc"]])
    lines.append("## 1-2. Machine ceiling and stage step efficiency\n")
    lines.append("Machine ceiling: **{} GFLOP/s** fp32 `torch::mm` 2048x2048 on {} threads.\n"
                 .format(fmt(ceiling), data["tcmalloc"][0]["threads"]))
    if ceiling_bf16:
        lines.append("bf16 ceiling: **{} GFLOP/s** bf16 `torch::mm` 2048x2048 (CPU bf16 "
                     "instructions: {}); the bf16 rows below are fractions of it.\n".format(
                         fmt(ceiling_bf16), data["tcmalloc"][0].get("cpu_bf16") or "none"))
    lines.append("Forward + backward + SGD step of block j + head j, batch {}, synthetic input of "
                 "the stage's shape (useful FLOPs = 2 x (forward + weight-gradient MACs + the "
                 "head's input-gradient MACs), from shape inference; the block's input needs no "
                 "gradient):\n"
                 .format(data["tcmalloc"][0]["batch"]))
    lines.append("| stage | layout | ms/step | images/s | GFLOP/s | fraction of ceiling |")
    lines.append("|---|---|---:|---:|---:|---:|")
    fractions = {}
    cases = []
    for s in data["tcmalloc"][0]["stages"]:
        key = (s["case"], layout(s))
        if key not in cases:
            cases.append(key)
    for case, lay in cases:
        rows = [s for d in data["tcmalloc"] for s in d["stages"]
                if s["case"] == case and layout(s) == lay]
        ms = med([r["ms_per_step"] for r in rows])
        gf = med([r["gflops"] for r in rows])
        ceil = ceiling_bf16 if lay.endswith("bf16") else ceiling
        frac = gf / ceil if gf and ceil else None
        fractions[(case, lay)] = frac
        lines.append("| {} | {} | {} | {} | {} | {} |".format(
            case, lay, fmt(ms, "{:.2f}"),
            fmt(med([r["images_per_second"] for r in rows]), "{:.0f}"), fmt(gf),
            fmt(frac, "{:.3f}")))
    lines.append("")
    # Prefix forward: PyTorch's way vs Layerwise's.
    prefix = {}
    for d in data["tcmalloc"]:
        for p in d["prefix"]:
            prefix.setdefault(p["case"], []).append(p)
    if prefix:
        lines.append("Frozen prefix forward per batch (what recomputing costs with augmentation "
                     "on): plain PyTorch (NCHW, BN, no_grad) vs Layerwise (BN folded, "
                     "channels-last, inference mode):\n")
        lines.append("| prefix below | PyTorch way ms | Layerwise ms | ratio |")
        lines.append("|---|---:|---:|---:|")
        for case, ps in prefix.items():
            a = med([p["pytorch_ms"] for p in ps])
            b = med([p["layerwise_ms"] for p in ps])
            lines.append("| {} | {} | {} | {} |".format(case, fmt(a, "{:.2f}"), fmt(b, "{:.2f}"),
                                                      fmt(ratio(b, a), "{:.2f}")))
        lines.append("")
    # Allocator lever on the step.
    if data["glibc-tuned"] or data["glibc-plain"]:
        lines.append("Allocator lever on the same steps (channels-last), ms/step:\n")
        lines.append("| stage | tcmalloc | glibc, mallopt tuned | glibc defaults | "
                     "tcmalloc / glibc defaults |")
        lines.append("|---|---:|---:|---:|---:|")
        for case, lay in cases:
            if lay != "channels-last":
                continue
            vals = []
            for v in ("tcmalloc", "glibc-tuned", "glibc-plain"):
                vals.append(med([s["ms_per_step"] for d in data[v] for s in d["stages"]
                                 if s["case"] == case and layout(s) == lay]))
            lines.append("| {} | {} | {} | {} | {} |".format(
                case, *[fmt(v, "{:.2f}") for v in vals], fmt(ratio(vals[0], vals[2]), "{:.2f}")))
        lines.append("")
    return fractions


def per_stage(rs):
    """Median seconds and images/s per stage over repetitions."""
    n = max((len(r.get("stages", [])) for r in rs), default=0)
    res = []
    for j in range(n):
        st = [r["stages"][j] for r in rs if len(r.get("stages", [])) > j]
        res.append({"seconds": med([s.get("seconds") for s in st]),
                    "ips": med([s.get("images_per_second") for s in st]),
                    "test": med([s.get("test_acc") for s in st]),
                    "ens": med([s.get("ensemble_acc") for s in st]),
                    "epochs": med([s.get("epochs") for s in st])})
    return res


def total(rs):
    return med([r.get("total_seconds", r.get("seconds")) for r in rs]), med(
        [r["_wall"] for r in rs])


# Which Layerwise variant is compared with which PyTorch variant (precision of each).
COMPARISONS = [("layerwise", "pytorch", "fp32", "fp32"),
               ("layerwise-bf16", "pytorch", "bf16", "fp32"),
               ("layerwise-bf16", "pytorch-bf16", "bf16", "bf16")]


def pytorch_tables(out, lines, targets):
    cases = [("fmnist-aug-off", "fmnist-k1, Fashion-MNIST, augmentation off"),
             ("fmnist-aug-on", "fmnist-k1, Fashion-MNIST, augmentation on"),
             ("cifar-aug-off", "cifar10-k2, synthetic CIFAR-shaped, 2,000 images, 1 epoch/stage, "
                               "augmentation off"),
             ("cifar-aug-on", "cifar10-k2, synthetic CIFAR-shaped, 2,000 images, 1 epoch/stage, "
                              "augmentation on")]
    have = [(c, t, a, b, pa, pb) for c, t in cases for a, b, pa, pb in COMPARISONS
            if runs(out, c, a) and runs(out, c, b)]
    if not have:
        return
    lines.append("## 3. Against the PyTorch reference implementation (bench/pytorch_reference.py)"
                 "\n")
    lines.append("Same spec, recipe, data subset, seed, threads, allocator (tcmalloc) and OpenMP "
                 "wait policy. Wall time is the whole process (start-up, data loading, training, "
                 "evaluation), as `time` measures it. Precision: fp32, or bf16 autocast "
                 "(`--precision bf16` in both programs; the script wraps each forward in "
                 "`torch.autocast('cpu', torch.bfloat16)`).\n")
    lines.append("| run | precision LW / PT | Layerwise wall | PyTorch wall | ratio | "
                 "Layerwise final acc | PyTorch final acc | Layerwise peak RSS | PyTorch peak RSS |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for case, title, va, vb, pa, pb in have:
        a, b = runs(out, case, va), runs(out, case, vb)
        wa, wb = med([r["_wall"] for r in a]), med([r["_wall"] for r in b])
        fa, fb = med([r.get("final_test_acc") for r in a]), med([r.get("final_test_acc") for r in b])
        lines.append("| {} | {} / {} | {} s | {} s | **{}** | {} | {} | {} MB | {} MB |".format(
            title, pa, pb, fmt(wa, "{:.0f}"), fmt(wb, "{:.0f}"), fmt(ratio(wa, wb), "{:.2f}"),
            pct(fa), pct(fb), fmt(med([r["_rss_mb"] for r in a]), "{:.0f}"),
            fmt(med([r["_rss_mb"] for r in b]), "{:.0f}")))
        targets.append((case, pa + " / " + pb, ratio(wa, wb), fa, fb))
    lines.append("")
    lines.append("Per stage (seconds of training and evaluation as each program reports them; "
                 "images/s of training; the stage head's test accuracy):\n")
    lines.append("| run | precision LW / PT | stage | Layerwise s | PyTorch s | ratio | "
                 "Layerwise img/s | PyTorch img/s | Layerwise head acc | PyTorch head acc |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for case, title, va, vb, pa, pb in have:
        sa_, sb_ = per_stage(runs(out, case, va)), per_stage(runs(out, case, vb))
        for j in range(max(len(sa_), len(sb_))):
            sa = sa_[j] if j < len(sa_) else {}
            sb = sb_[j] if j < len(sb_) else {}
            lines.append("| {} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                case, pa, pb, j, fmt(sa.get("seconds"), "{:.0f}"), fmt(sb.get("seconds"), "{:.0f}"),
                fmt(ratio(sa.get("seconds"), sb.get("seconds")), "{:.2f}"),
                fmt(sa.get("ips"), "{:.0f}"), fmt(sb.get("ips"), "{:.0f}"), pct(sa.get("test")),
                pct(sb.get("test"))))
    lines.append("")


def e2e_table(out, lines):
    rows = [("Layerwise", "layerwise-greedy", "layerwise-e2e"),
            ("PyTorch reference", "pytorch-greedy", "pytorch-e2e")]

    def row(name, rg, re_, wg, we):
        return "| {} | {} s | {} s | {} | {} | {} | {} MB | {} MB |".format(
            name, fmt(wg, "{:.0f}"), fmt(we, "{:.0f}"), fmt(ratio(wg, we), "{:.2f}"),
            pct(med([r.get("final_test_acc") for r in rg])),
            pct(med([r.get("final_test_acc") for r in re_])),
            fmt(med([r["_rss_mb"] for r in rg]), "{:.0f}"),
            fmt(med([r["_rss_mb"] for r in re_]), "{:.0f}"))

    body = paired_rows(out, "e2e", rows, row)
    if not body:
        return
    lines.append("## 4. Greedy vs end-to-end at equal epochs\n")
    lines.append("fmnist-k1 on 10,000 training images: greedy with 2 epochs per stage vs the same "
                 "trunk end to end for 2 epochs.\n")
    lines.append("| program | greedy wall | end-to-end wall | greedy / e2e | greedy acc | e2e acc | "
                 "greedy peak RSS | e2e peak RSS |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    lines.extend(body)
    lines.append("")


def levers_table(out, lines):
    pairs = [("feature cache (aug off)", "cache-on", "cache-off"),
             ("OpenMP wait policy PASSIVE vs ACTIVE", "omp-passive", "omp-active"),
             ("threads: all cores vs 1", "threads-all", "threads-1"),
             ("allocator, PyTorch reference: tcmalloc vs glibc", "pytorch-tcmalloc",
              "pytorch-glibc"),
             ("uniform4 spec: feature cache on vs off", "uniform-cache-on", "uniform-cache-off")]

    def row(name, _ra, _rb, wa, wb):
        return "| {} | {} s | {} s | **{}** |".format(name, fmt(wa, "{:.1f}"), fmt(wb, "{:.1f}"),
                                                     fmt(ratio(wa, wb), "{:.2f}"))

    body = paired_rows(out, "levers", pairs, row)
    if not body:
        return None
    lines.append("## Levers (whole short runs: fmnist-k1, 10,000 images, 1 epoch per stage)\n")
    lines.append("| lever | with | without | with / without |")
    lines.append("|---|---:|---:|---:|")
    lines.extend(body)
    lines.append("")
    depth = None
    for variant in ("uniform-cache-on", "uniform-cache-off"):
        st = per_stage(runs(out, "levers", variant))
        if len(st) >= 4 and st[1]["seconds"]:
            secs = [s["seconds"] for s in st]
            lines.append("{}: seconds per stage {}; deep stage / stage 1: {}".format(
                variant, ", ".join(fmt(s, "{:.1f}") for s in secs),
                ", ".join(fmt(ratio(s, secs[1]), "{:.2f}") for s in secs[2:])))
            if variant == "uniform-cache-on":
                depth = max(ratio(s, secs[1]) for s in secs[2:])
    lines.append("")
    return depth


def pictures_table(out, lines):
    """Section 5: each stage's picture time over its training time, from the run store."""
    path = os.path.join(out, "runs.sqlite")
    if not os.path.exists(path):
        return None
    import sqlite3
    db = sqlite3.connect("file:{}?mode=ro".format(path), uri=True)
    try:
        rows = db.execute(
            "SELECT r.id, s.stage, s.seconds, p.meta FROM runs r JOIN stages s ON s.run = r.id "
            "JOIN pictures p ON p.run = r.id AND p.stage = s.stage AND p.kind = 'stage' "
            "WHERE r.name = 'bench-pictures' ORDER BY r.id, s.stage").fetchall()
    except sqlite3.Error:
        return None
    finally:
        db.close()
    if not rows:
        return None
    lines.append("## 5. Pictures after each stage (fmnist-k1)\n")
    lines.append("Confusions (head and ensemble), PCA of 2,000 test images' pooled features, "
                 "filters, feature maps and hard errors, computed after the stage finished; the "
                 "stage's time is its training and evaluation.\n")
    lines.append("| run | stage | stage s | pictures s | pictures / stage |")
    lines.append("|---|---:|---:|---:|---:|")
    worst = 0.0
    for run_id, stage, seconds, meta in rows:
        pic = json.loads(meta).get("seconds", 0.0)
        r = ratio(pic, seconds)
        worst = max(worst, r or 0.0)
        lines.append("| {} | {} | {} | {} | **{}** |".format(
            run_id, stage + 1, fmt(seconds, "{:.1f}"), fmt(pic, "{:.3f}"), pct(r)))
    lines.append("")
    return worst


def comm_shares(out, case, variant):
    """Median share of time each rank spent communicating, from the engine's last log line
    ("communication (...): ... rank 0 12.3% (1.20 of 9.75 s), rank 1 ...")."""
    shares = {}
    for path in sorted(glob.glob(os.path.join(out, case, variant + ".*.err"))):
        with open(path, errors="replace") as f:
            text = f.read()
        for rank, share in re.findall(r"rank (\d+) ([\d.]+)% \(", text):
            shares.setdefault(int(rank), []).append(float(share) / 100.0)
    return {rank: med(values) for rank, values in sorted(shares.items())}


def dist_table(out, lines):
    pairs = [("greedy: 2 processes x 1 thread vs 1 process x 2 threads", "greedy-2proc",
              "greedy-1proc"),
             ("greedy: 2 processes x 1 thread with sync_bn vs 1 process x 2 threads",
              "greedy-2proc-syncbn", "greedy-1proc"),
             ("DGL: pipeline (stage j on process j, 1 thread each) vs 1 process x 2 threads",
              "dgl-pipeline", "dgl-1proc"),
             ("DGL: asynchronous pipeline (replay buffers of 4 batches) vs 1 process x 2 threads",
              "dgl-pipeline-replay", "dgl-1proc")]
    body = []
    for name, a, b in pairs:
        pair = paired(out, "dist", a, b)
        if not pair:
            continue
        ra, rb, wa, wb = pair
        sa, sb = per_stage(ra), per_stage(rb)
        ips = []
        for j in range(min(len(sa), len(sb))):
            ips.append("stage {}: {} / {} = {}".format(
                j + 1, fmt(sa[j]["ips"], "{:.0f}"), fmt(sb[j]["ips"], "{:.0f}"),
                fmt(ratio(sa[j]["ips"], sb[j]["ips"]), "{:.2f}")))
        shares = comm_shares(out, "dist", a)
        body.append("| {} | {} | {} s / {} s = {} | {} / {} | {} |".format(
            name, "; ".join(ips), fmt(wa, "{:.0f}"), fmt(wb, "{:.0f}"),
            fmt(ratio(wb, wa), "{:.2f}"),
            pct(med([r.get("final_test_acc") for r in ra])),
            pct(med([r.get("final_test_acc") for r in rb])),
            ", ".join("rank {} {}".format(k, pct(v)) for k, v in shares.items()) or "n/a"))
    if not body:
        return
    lines.append("## 6. One run over several processes (issue 16)\n")
    lines.append("fmnist-k1's stages 1 and 2 (bench/specs/fmnist-k1-2stages.json), 2 epochs per "
                 "stage on 12,800 images (100 steps of batch 128 an epoch); the multi-process "
                 "variants on c10d's Gloo over loopback. images/s is a stage's training "
                 "throughput as the run records it (DGL: every stage sees every image, the "
                 "pipeline's rate is its slowest stage's); speed-up = 1-process wall / "
                 "multi-process wall; communication = each rank's time waiting in all-reduce, "
                 "send and receive over its active time.\n")
    lines.append("| comparison | images/s multi / single = ratio | wall multi / single = speed-up "
                 "| final acc multi / single | communication share |")
    lines.append("|---|---|---:|---:|---|")
    lines.extend(body)
    lines.append("")


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = sys.argv[1]
    meta = load_json(os.path.join(out, "meta.json")) or {}
    lines = ["# Layerwise benchmarks", "",
             "{} on {} ({} cores), scale {}, {} repetitions of short runs, {} of full runs, "
             "commit {}.".format(meta.get("date", "?"), meta.get("cpu", "?"),
                                 meta.get("cores", "?"), meta.get("scale", "?"),
                                 meta.get("reps", "?"), meta.get("full_reps", "?"),
                                 meta.get("git", "?")), ""]
    fractions = stage_table(out, lines)
    targets = []
    pytorch_tables(out, lines, targets)
    e2e_table(out, lines)
    depth = levers_table(out, lines)
    pictures = pictures_table(out, lines)
    dist_table(out, lines)
    for name in ("bench_data.txt", "bench_store.txt"):
        path = os.path.join(out, name)
        if os.path.exists(path):
            with open(path) as f:
                lines.append("## {}\n\n```\n{}```\n".format(name[:-4], f.read()))

    # The targets, checked against this run.
    checks = []
    for case, precision, r, fa, fb in targets:
        limit = {"fmnist-aug-off": 0.5, "fmnist-aug-on": 0.8}.get(case)
        if limit is None or r is None:
            continue
        # Equal accuracy: Layerwise no more than 0.5 point below the reference (above is fine).
        diff = None if fa is None or fb is None else 100.0 * (fa - fb)
        acc_ok = diff is not None and diff >= -0.5
        checks.append("- {} ({}): Layerwise / PyTorch wall {:.2f} (target <= {}): {}; final "
                      "accuracy {} point ({}): {}".format(
                          case, precision, r, limit,
                          "met" if r <= limit and acc_ok else "NOT met",
                          fmt(diff, "{:+.2f}"), "Layerwise - PyTorch",
                          "equal or better" if acc_ok else "more than 0.5 point worse"))
    for lay in ("channels-last", "channels-last bf16"):
        cifar = [f for (case, la), f in fractions.items()
                 if case.startswith("cifar10-k2") and la == lay and f is not None]
        if cifar:
            checks.append("- cifar10-k2 stage step efficiency ({}, of the {} ceiling): {} (target "
                          ">= 0.35): {}".format(lay, "bf16" if lay.endswith("bf16") else "fp32",
                                                ", ".join("{:.3f}".format(f) for f in cifar),
                                                "met" if min(cifar) >= 0.35 else "NOT met"))
    if depth is not None:
        checks.append("- deep stage / stage 1 per epoch with the cache on: {:.2f} (target <= 1.2): "
                      "{}".format(depth, "met" if depth <= 1.2 else "NOT met"))
    if pictures is not None:
        checks.append("- pictures after a stage / the stage's time (issue 17), worst stage: {} "
                      "(target <= 5%): {}".format(pct(pictures),
                                                  "met" if pictures <= 0.05 else "NOT met"))
    if checks:
        lines.append("## Targets (issues 9, 17)\n")
        lines.extend(checks)
        lines.append("")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
