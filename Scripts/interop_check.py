#!/usr/bin/env python3
"""Checks that archives MobileOptimizer writes load and run in real PyTorch.

For every fixture it runs our `freeze` (and `optimize`, once available) with the built tool,
loads each output with `torch.jit.load` in every given Python (PyTorch 1.13 and/or 2.x), runs the
fixture's recorded calls and compares with PyTorch's reference outputs. It prints one line per
case and `N passed, N failed` last; the exit status is 1 when anything failed.

  python3 Scripts/interop_check.py [--tool .build/release/mobile-optimizer] \
      [--python /usr/bin/python3] [--python /path/to/venv/bin/python]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Fixtures")
TOLERANCE = 1e-4


# --------------------------------------------------------------------------------------------
# Child: runs under a Python with torch; loads archives and compares outputs.
# --------------------------------------------------------------------------------------------

def flatten(value):
    if isinstance(value, (tuple, list)):
        return [item for element in value for item in flatten(element)]
    if isinstance(value, dict):
        return [item for element in value.values() for item in flatten(element)]
    return [value]


def load_input(path):
    import numpy as np
    import torch
    array = np.load(path)
    if array.ndim == 0 and array.dtype == np.int64:
        return int(array)
    if array.ndim == 0 and array.dtype == np.float64:
        return float(array)
    if array.ndim == 0 and array.dtype == np.bool_:
        return bool(array)
    return torch.from_numpy(array)


def compare(actual, expected_path):
    import numpy as np
    import torch
    expected = np.load(expected_path)
    if isinstance(actual, torch.Tensor):
        actual = actual.detach().numpy()
    else:
        actual = np.array(actual)
    if actual.shape != expected.shape:
        return f"shape {list(actual.shape)} != {list(expected.shape)}"
    if expected.dtype.kind == "f":
        scale = float(np.abs(expected).max()) if expected.size else 0.0
        error = float(np.abs(actual.astype(np.float64) - expected.astype(np.float64)).max()) if expected.size else 0.0
        relative = error / scale if scale > 0 else error
        if not relative <= TOLERANCE:
            return f"relative error {relative:.3g}"
        return None
    if not np.array_equal(actual, expected):
        return "values differ"
    return None


def graph_ops(module):
    counts = {}

    def visit(block):
        for node in block.nodes():
            counts[node.kind()] = counts.get(node.kind(), 0) + 1
            for sub in node.blocks():
                visit(sub)
    visit(module.graph)
    return counts


def verify(case):
    """Loads case['archive'] and checks it; returns an error string or None."""
    import torch
    facts = case["facts"]
    folder = case["folder"]
    try:
        module = torch.jit.load(case["archive"])
    except Exception as error:  # noqa: BLE001
        return "load failed: " + str(error).strip().splitlines()[-1][:200]
    if case.get("no_parameters") and len(list(module.parameters())) != 0:
        return f"{len(list(module.parameters()))} parameters left"
    ops = graph_ops(module)
    for op, limit in case.get("op_limits", {}).items():
        if ops.get(op, 0) > limit:
            return f"{ops.get(op, 0)} {op} (PyTorch's has {limit})"
    for group, minimum in case.get("op_minimums", {}).items():
        found = sum(ops.get(op, 0) for op in group.split("|"))
        if found < minimum:
            return f"only {found} {group} (PyTorch's has {minimum})"
    for method in case.get("methods", []):
        if not hasattr(module, method):
            return f"method {method} missing"
    with torch.no_grad():
        for index, call in enumerate(facts["calls"]):
            inputs = [load_input(os.path.join(folder, name)) for name in call["inputs"]]
            try:
                result = getattr(module, call["method"])(*inputs)
            except Exception as error:  # noqa: BLE001
                if call.get("error"):
                    continue
                return f"call {index} ({call['method']}) raised: " + str(error).strip().splitlines()[-1][:200]
            if call.get("error"):
                return f"call {index} should have raised {call['error']}"
            outputs = flatten(result)
            if len(outputs) != len(call["outputs"]):
                return f"call {index} gave {len(outputs)} outputs, expected {len(call['outputs'])}"
            for position, (value, name) in enumerate(zip(outputs, call["outputs"])):
                problem = compare(value, os.path.join(folder, name))
                if problem:
                    return f"call {index} output {position}: {problem}"
    return None


def child(cases_path):
    import torch
    # The quantized fixture was made (and its reference computed) with the qnnpack engine.
    if "qnnpack" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "qnnpack"
    with open(cases_path) as handle:
        cases = json.load(handle)
    results = []
    major = "1.13" if torch.__version__.startswith("1.") else "2"
    for case in cases:
        if major not in case.get("versions", ["1.13", "2"]):
            continue
        problem = verify(case)
        results.append({"name": case["name"], "torch": torch.__version__, "problem": problem})
    print(json.dumps(results))


# --------------------------------------------------------------------------------------------
# Driver: runs our tool, then each Python's child check.
# --------------------------------------------------------------------------------------------

def run_tool(tool, arguments):
    completed = subprocess.run([tool, *arguments], capture_output=True, text=True)
    return completed.returncode, completed.stderr.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="check")
    parser.add_argument("cases", nargs="?")
    parser.add_argument("--tool", default=os.path.join(ROOT, ".build", "debug", "mobile-optimizer"))
    parser.add_argument("--python", action="append", default=[])
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    if args.mode == "_child":
        child(args.cases)
        return

    pythons = args.python or ["/usr/bin/python3"]
    work = tempfile.mkdtemp(prefix="interop-")
    lines = []
    passed = failed = 0
    cases = []
    names = sorted(d for d in os.listdir(FIXTURES) if os.path.exists(os.path.join(FIXTURES, d, "model.pt")))
    for name in names:
        if args.only and name not in args.only:
            continue
        folder = os.path.join(FIXTURES, name)
        with open(os.path.join(folder, "facts.json")) as handle:
            facts = json.load(handle)
        model = os.path.join(folder, "model.pt")
        # Load and save with no change: the archive must still load and give the same results.
        saved = os.path.join(work, f"{name}.roundtrip.pt")
        status, stderr = run_tool(args.tool, ["roundtrip", model, "-o", saved])
        if status != 0:
            lines.append(("roundtrip", name, "-", f"tool failed ({status}): {stderr[:200]}"))
        else:
            cases.append({"name": f"roundtrip {name}", "archive": saved, "folder": folder, "facts": facts})
        preserve = [arg for item in facts.get("preserve", []) for arg in ("--preserve", item)]
        # optimize: must load and run in PyTorch 1.13 (the 2.x builds have no XNNPACK), with at
        # least PyTorch's prepacked ops and fusions and no more dropout or batch norm.
        mobile = facts.get("observed", {}).get("1.13", {}).get("mobile", {})
        optimized = os.path.join(work, f"{name}.mobile.pt")
        status_m, stderr_m = run_tool(args.tool, ["optimize", model, "-o", optimized, *preserve])
        if name == "quantized_conv":
            ok = status_m == 1 and "cannot transform this module" in stderr_m and not os.path.exists(optimized)
            lines.append(("optimize", name, "-", None if ok else f"expected a clear refusal, got {status_m}: {stderr_m[:160]}"))
        elif status_m != 0:
            lines.append(("optimize", name, "-", f"tool failed ({status_m}): {stderr_m[:200]}"))
        elif "ops" in mobile:
            theirs = mobile["ops"]
            minimums = {op: theirs.get(op, 0) for op in (
                "prepacked::conv2d_clamp_run", "prepacked::linear_clamp_run", "prepacked::conv2d_transpose_clamp_run")}
            minimums["aten::_add_relu|aten::_add_relu_"] = theirs.get("aten::_add_relu", 0) + theirs.get("aten::_add_relu_", 0)
            limits_m = {op: theirs.get(op, 0) for op in ("aten::batch_norm", "aten::dropout", "aten::feature_dropout")}
            cases.append({
                "name": f"optimize {name}", "archive": optimized, "folder": folder, "facts": facts, "versions": ["1.13"],
                "no_parameters": True, "op_limits": limits_m, "op_minimums": minimums, "methods": mobile.get("methods", []),
            })
        output = os.path.join(work, f"{name}.frozen.pt")
        status, stderr = run_tool(args.tool, ["freeze", model, "-o", output, *preserve])
        if name == "quantized_conv":
            # Quantized kernels are not implemented: freezing and optimizing must refuse, leaving no file.
            ok = status == 1 and "cannot transform this module" in stderr and not os.path.exists(output)
            lines.append(("freeze", name, "-", None if ok else f"expected a clear refusal, got {status}: {stderr[:160]}"))
            continue
        if facts["training"]:
            # PyTorch refuses to freeze a training-mode module; so must we, leaving no file behind.
            expected = "Freezing is currently only implemented for modules in eval mode"
            ok = status == 1 and expected in stderr and not os.path.exists(output)
            lines.append(("freeze", name, "-", None if ok else f"expected PyTorch's error and exit 1, got {status}: {stderr[:160]}"))
            continue
        if status != 0:
            lines.append(("freeze", name, "-", f"tool failed ({status}): {stderr[:200]}"))
            continue
        frozen_ops = facts.get("frozen", {}).get("ops", {})
        limits = {op: frozen_ops.get(op, 0) for op in ("aten::batch_norm", "aten::dropout", "aten::feature_dropout")}
        cases.append({
            "name": f"freeze {name}", "archive": output, "folder": folder, "facts": facts,
            "no_parameters": True, "op_limits": limits, "methods": facts.get("preserve", []),
        })

    cases_path = os.path.join(work, "cases.json")
    with open(cases_path, "w") as handle:
        json.dump(cases, handle)
    for python in pythons:
        completed = subprocess.run([python, os.path.abspath(__file__), "_child", cases_path], capture_output=True, text=True)
        if completed.returncode != 0:
            lines.append(("python", python, "-", "child failed: " + completed.stderr.strip().splitlines()[-1][:200]))
            continue
        for result in json.loads(completed.stdout.strip().splitlines()[-1]):
            kind, name = result["name"].split(" ", 1)
            lines.append((kind, name, result["torch"], result["problem"]))

    for kind, name, version, problem in lines:
        status = "ok  " if problem is None else "FAIL"
        print(f"{status} {kind:9} {name:22} torch {version:16} {problem or ''}".rstrip())
        if problem is None:
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
