#!/usr/bin/env python3
"""Times the whole optimize job, ours against PyTorch 1.13's, side by side in one run.

Ours: the `mobile-optimizer optimize MODEL -o OUT` command, timed from outside, process start-up
and exit included. PyTorch's: `torch.jit.load` + `optimize_for_mobile` + `torch.jit.save`, timed
inside one long-lived Python process after a warm-up job (so neither `import torch` nor first-call
set-up is counted against it). The two alternate, job by job; each figure is the median.

    python3 Scripts/bench_optimize.py --tool .build/release/mobile-optimizer \\
        --python /usr/bin/python3 --model Examples/mobilenet_v2.pt --jobs 15
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

# Runs in the PyTorch interpreter: one job per line read on stdin, its seconds written back.
TORCH_WORKER = r"""
import sys, time, torch
from torch.utils.mobile_optimizer import optimize_for_mobile
model, out = sys.argv[1], sys.argv[2]
# PyTorch keeps its default thread count (every core), as ours uses every core where it can.
def job():
    start = time.perf_counter()
    module = torch.jit.load(model)
    torch.jit.save(optimize_for_mobile(module), out)
    return time.perf_counter() - start
job()
print("ready", flush=True)
for line in sys.stdin:
    print(job(), flush=True)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", required=True, help="the mobile-optimizer binary (a release build)")
    parser.add_argument("--python", default="/usr/bin/python3", help="an interpreter with PyTorch 1.13 (XNNPACK)")
    parser.add_argument("--model", default="Examples/mobilenet_v2.pt")
    parser.add_argument("--jobs", type=int, default=15, help="jobs timed per side")
    args = parser.parse_args()
    if args.jobs < 1:
        sys.exit("error: --jobs must be at least 1")
    if not os.path.isfile(args.model):
        sys.exit(f"error: no model at {args.model}")

    with tempfile.TemporaryDirectory() as scratch:
        ours_out = os.path.join(scratch, "ours.pt")
        torch_out = os.path.join(scratch, "torch.pt")
        worker = subprocess.Popen(
            [args.python, "-c", TORCH_WORKER, args.model, torch_out],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if worker.stdout.readline().strip() != "ready":
            sys.exit("error: the PyTorch worker did not start (is PyTorch 1.13 with XNNPACK installed?)")
        command = [args.tool, "optimize", args.model, "-o", ours_out]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # warm the file cache
        ours, theirs = [], []
        for _ in range(args.jobs):
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            ours.append(time.perf_counter() - start)
            worker.stdin.write("job\n")
            worker.stdin.flush()
            theirs.append(float(worker.stdout.readline()))
        worker.stdin.close()
        worker.wait()

    ours_ms = statistics.median(ours) * 1e3
    theirs_ms = statistics.median(theirs) * 1e3
    print(f"model: {args.model}, {args.jobs} jobs each, medians")
    print(f"ours (whole command):                         {ours_ms:8.1f} ms (min {min(ours) * 1e3:.1f})")
    print(f"PyTorch load + optimize_for_mobile + save:    {theirs_ms:8.1f} ms (min {min(theirs) * 1e3:.1f})")
    print(f"ours / PyTorch: {ours_ms / theirs_ms:.3f} ({theirs_ms / ours_ms:.1f}x faster)")


if __name__ == "__main__":
    main()
