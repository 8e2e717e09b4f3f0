#!/usr/bin/env python3
"""Times our runtime against ONNX Runtime and PyTorch 1.13's XNNPACK path, side by side.

For each full-size torchvision model (made by `Fixtures/make_fixtures.py bench`), it optimizes
the scripted model with our tool, then measures the median latency of
  - ours: `mobile-optimizer bench` on our optimized archive,
  - ONNX Runtime on the ONNX export of the same weights,
  - PyTorch 1.13 on its own `optimize_for_mobile` output,
with 1 and 2 threads, in one run, and prints the ratios. Each figure is the median of the
medians of `--rounds` runs (default 3), the three runtimes taking turns in an order that rotates
every round, so that the drift of a shared machine falls on all of them alike.

  python3 Fixtures/make_fixtures.py bench --py113 /usr/bin/python3 --py2 VENV/bin/python --out .bench
  python3 Scripts/bench_peers.py --tool .build/release/mobile-optimizer --ort-python VENV/bin/python
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["mobilenet_v2", "mobilenet_v3_small", "resnet18", "squeezenet1_1", "shufflenet_v2_x1_0"]

ORT_SNIPPET = r"""
import sys, time, json, statistics
import numpy as np, onnxruntime as ort
path, input_path, threads, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
name = session.get_inputs()[0].name
x = np.load(input_path)
for _ in range(5):
    session.run(None, {name: x})
samples = []
for _ in range(iterations):
    start = time.perf_counter()
    session.run(None, {name: x})
    samples.append((time.perf_counter() - start) * 1000)
print(json.dumps({"median_ms": statistics.median(samples)}))
"""

TORCH_SNIPPET = r"""
import sys, time, json, statistics
import numpy as np, torch
path, input_path, threads, iterations = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
module = torch.jit.load(path)
x = torch.from_numpy(np.load(input_path))
with torch.no_grad():
    for _ in range(5):
        module(x)
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        module(x)
        samples.append((time.perf_counter() - start) * 1000)
print(json.dumps({"median_ms": statistics.median(samples)}))
"""


def run_json(command):
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {completed.stderr.strip()[-400:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", default=os.path.join(ROOT, ".build", "release", "mobile-optimizer"))
    parser.add_argument("--bench-dir", default=os.path.join(ROOT, ".bench"))
    parser.add_argument("--ort-python", required=True, help="a Python with onnxruntime")
    parser.add_argument("--torch-python", default="/usr/bin/python3", help="a Python with PyTorch 1.13 (XNNPACK)")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate the three runtimes this many times per model and thread count, and report "
                             "the median of each one's medians (a shared machine drifts between runs)")
    args = parser.parse_args()

    rows = []
    for name in MODELS:
        if args.only and name not in args.only:
            continue
        base = os.path.join(args.bench_dir, name)
        x = base + "_input.npy"
        ours_model = base + ".ours.pt"
        completed = subprocess.run(
            [args.tool, "optimize", base + ".pt", "-o", ours_model, "--verify", "--input", x], capture_output=True, text=True)
        if completed.returncode != 0:
            print(f"{name}: optimize failed: {completed.stderr.strip()}", file=sys.stderr)
            continue
        for threads in args.threads:
            samples = {"ours": [], "ort": [], "xnnpack": []}
            commands = {
                "ours": [args.tool, "bench", ours_model, "--input", x, "--threads", str(threads),
                         "--iterations", str(args.iterations), "--json"],
                "ort": [args.ort_python, "-c", ORT_SNIPPET, base + ".onnx", x, str(threads), str(args.iterations)],
                "xnnpack": [args.torch_python, "-c", TORCH_SNIPPET, base + "_torch_mobile.pt", x, str(threads),
                            str(args.iterations)],
            }
            order = ["ours", "ort", "xnnpack"]
            for round_index in range(max(1, args.rounds)):
                # The order rotates every round, so that no runtime always follows the same one.
                shift = round_index % len(order)
                for key in order[shift:] + order[:shift]:
                    samples[key].append(run_json(commands[key])["median_ms"])
            ours, ort, xnnpack = (statistics.median(samples[key]) for key in ("ours", "ort", "xnnpack"))
            rows.append((name, threads, ours, ort, xnnpack))
            print(f"{name:20} threads {threads}: ours {ours:8.2f} ms  onnxruntime {ort:8.2f} ms  "
                  f"pytorch-xnnpack {xnnpack:8.2f} ms", file=sys.stderr, flush=True)

    print("| model | threads | ours (ms) | ONNX Runtime (ms) | PyTorch 1.13 XNNPACK (ms) | ours / ORT | XNNPACK / ours |")
    print("|---|---|---|---|---|---|---|")
    for name, threads, ours, ort, xnnpack in rows:
        print(f"| {name} | {threads} | {ours:.2f} | {ort:.2f} | {xnnpack:.2f} | {ours / ort:.2f} | {xnnpack / ours:.1f}× |")


if __name__ == "__main__":
    main()
