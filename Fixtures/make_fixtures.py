#!/usr/bin/env python3
"""Builds the test fixtures and the example model with real PyTorch.

Every fixture is a folder `Fixtures/<name>/` holding:
  model.pt              the scripted module, saved by the PyTorch version named in facts.json
  callN_inputK.npy      inputs of the N-th call (calls run in order on one loaded module)
  callN_outputK.npy     PyTorch's outputs of that call, flattened in order (tuple/list items,
                        dict values in insertion order); ints, floats and bools as 0-d arrays
  torch_mobile.pt       (some fixtures) PyTorch 1.13's own optimize_for_mobile output
  facts.json            what PyTorch reports: parameters, buffers, methods, frozen and
                        mobile-optimized code and op counts, lints, errors

Usage (needs both PyTorch installs; the Swift tests need neither):
  python3 Fixtures/make_fixtures.py all --py113 /usr/bin/python3 --py2 /path/to/venv/bin/python
  python3 Fixtures/make_fixtures.py bench --py113 ... --py2 ... --out .bench   # full-size models

PyTorch 1.13 with XNNPACK comes from Debian (`apt-get install python3-torch
python3-torchvision`); PyTorch 2.x and ONNX Runtime from PyPI in a venv.
"""

import argparse
import json
import os
import subprocess
import sys
import zlib
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Model definitions (imported lazily so the driver runs without torch)
# --------------------------------------------------------------------------------------------

def define_models():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch import Tensor

    class ConvBnRelu(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=2, dilation=2)
            self.bn2 = nn.BatchNorm2d(16)
            self.relu6 = nn.ReLU6(inplace=True)
            self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
            self.gconv = nn.Conv2d(16, 8, (1, 3), stride=(1, 2), padding=(0, 1), groups=4)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.relu6(self.bn2(self.conv2(x)))
            x = F.hardtanh(self.dw(x), -1.5, 2.5)
            x = self.gconv(x)
            x = torch.flatten(self.pool(x), 1)
            return self.fc(x)

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(16, 32)
            self.drop = nn.Dropout(0.2)
            self.fc2 = nn.Linear(32, 32)
            self.act = nn.ReLU6()
            self.fc3 = nn.Linear(32, 7, bias=False)

        def forward(self, x):
            x = self.drop(F.relu(self.fc1(x)))
            x = self.act(self.fc2(x))
            return self.fc3(x)

    class DropoutNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3)
            self.drop2d = nn.Dropout2d(0.3)
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            y = self.drop2d(self.conv(x))
            y = F.dropout(y, 0.1, self.training)
            return self.drop(y).sum(dim=1)

    class Conv1dBn(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(4, 8, 3, padding=1)
            self.bn = nn.BatchNorm1d(8)
            self.conv2 = nn.Conv1d(8, 8, 5, stride=2, groups=2, bias=False)

        def forward(self, x):
            x = F.relu(self.bn(self.conv1(x)))
            return self.conv2(x).mean(dim=-1)

    class LinearBn(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(12, 6)
            self.bn = nn.BatchNorm1d(6)

        def forward(self, x):
            return torch.relu(self.bn(self.fc(x)))

    class ConvTranspose(nn.Module):
        def __init__(self):
            super().__init__()
            self.up1 = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1)
            self.up2 = nn.ConvTranspose2d(6, 4, 4, stride=2, padding=1, groups=2, bias=False)

        def forward(self, x):
            return self.up2(F.relu(self.up1(x)))

    class ControlFlow(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = 2.0
            self.steps = 3

        def forward(self, x):
            sums: List[Tensor] = []
            y = x
            for i in range(self.steps):
                y = y * self.scale + i
                sums.append(y.sum())
            if bool(x.sum() > 0):
                z = y - 1.0
            else:
                z = y + 1.0
            k = 0
            while k < 4:
                z = z + k
                k += 2
            return z, torch.stack(sums), k

    class ListsDicts(nn.Module):
        def forward(self, x):
            parts = torch.chunk(x, 2, dim=1)
            d: Dict[str, Tensor] = {}
            d["a"] = parts[0] * 2
            d["b"] = parts[1].relu()
            names = ["a", "b"]
            means: List[Tensor] = []
            for n in names:
                means.append(d[n].mean())
            sizes = (x.size(0), x.size(1))
            return d, means, sizes

    class Exported(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.offset = 0.5

        @torch.jit.export
        def helper(self, x: Tensor, k: int) -> Tensor:
            return self.lin(x) * k + self.offset

        def forward(self, x):
            return self.helper(x, 3).relu()

    class Counter(nn.Module):
        history: List[int]

        def __init__(self):
            super().__init__()
            self.count = 0
            self.history = []
            self.register_buffer("total", torch.zeros(1))
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            self.count += 1
            self.history.append(self.count)
            self.total.add_(x.sum())
            return self.lin(x) * self.count + self.total, len(self.history)

    class TrainMode(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            y = F.relu(self.conv(x)).mean(dim=[2, 3])
            return self.fc(y)

    class Raises(nn.Module):
        def forward(self, x):
            if x.dim() != 4:
                raise ValueError("expected 4D input (got {}D input)".format(x.dim()))
            return x.relu()

    class Elementwise(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("rm", torch.randn(4) * 0.1)
            self.register_buffer("rv", torch.rand(4) + 0.5)
            self.w = nn.Parameter(torch.rand(4) + 0.5)
            self.b = nn.Parameter(torch.randn(4) * 0.1)

        def forward(self, x):
            a = F.batch_norm(x, self.rm, self.rv, self.w, self.b, False, 0.1, 1e-5)
            b = F.hardswish(a) + torch.sigmoid(a) * F.silu(a) - F.gelu(a) / 2 + torch.tanh(a)
            c = F.hardsigmoid(b) * F.relu6(b) + torch.clamp(b, -0.5, 0.75) + torch.clamp_min(b, 0.1)
            d = c.clamp_max(1.5) - F.hardtanh(a, -0.25, 0.5)
            d = d * 3 - 1.5 / (a.abs() + 1)
            e = F.softmax(d, dim=-1) + F.log_softmax(d, dim=1)
            e.mul_(2.0)
            e.add_(b, alpha=0.5)
            return e, torch.sub(e, a, alpha=2), torch.div(a, 4)

    class ShapeOps(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(30, 3) * 0.1)
            self.bias = nn.Parameter(torch.randn(3) * 0.1)

        def forward(self, x):
            n, c, h, w = x.size()
            p = F.max_pool2d(x, 3, 2, 1, ceil_mode=True)
            q = F.avg_pool2d(x, 2, 2)
            r = F.adaptive_avg_pool2d(x, [2, 3])
            e = torch.cat([p.flatten(1), q.flatten(1), r.flatten(1)], 1)
            f = F.layer_norm(e, [e.size(1)])
            g = f[:, 0:30]
            m = torch.matmul(g, self.weight) + torch.addmm(self.bias, g, self.weight)
            bb = torch.bmm(x.flatten(2), x.flatten(2).transpose(1, 2))
            parts = torch.split(e, 5, 1)
            sums = torch.stack([part.sum() for part in parts])
            t = x.permute(0, 2, 3, 1).contiguous().view(n, h * w, c)
            u = t.reshape(-1).unsqueeze(0).squeeze(0)
            v = x[:, 1].select(1, 2) + x[0, :, 1:3].mean()
            ones = torch.ones([2, 3]) + torch.zeros(2, 3) + torch.full([2, 3], 0.5)
            amax = torch.amax(x, dim=[2, 3], keepdim=True)
            s = torch.sum(x, dim=1) + torch.mean(x, dim=1, keepdim=False)
            return m, bb.amax(dim=-1), sums, u[:7], v, ones, amax, s, x.numel()

    class ConvAddMul(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
            self.register_buffer("shift", torch.randn(1, 6, 1, 1))
            self.conv2 = nn.Conv2d(6, 4, 1, bias=False)

        def forward(self, x):
            y = self.conv1(x) + self.shift
            y = y * 2.0
            z = self.conv2(y) - 0.5
            w = self.conv2(y) / 3.0
            return z, w, w + 1

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.conv2 = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            out = F.relu(self.conv(x) + x)
            z = self.conv2(out)
            z += out
            z = F.relu(z, inplace=True)
            w = torch.add(z, x, alpha=2)
            return torch.relu_(w)

    class StringPadding(nn.Module):
        def __init__(self):
            super().__init__()
            self.same = nn.Conv2d(3, 4, 3, padding="same")
            self.valid = nn.Conv1d(4, 4, 3, padding="valid")

        def forward(self, x):
            y = F.relu(self.same(x))
            return self.valid(y.mean(dim=2))

    class Bundled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.drop = nn.Dropout(0.1)

        def forward(self, x):
            return self.drop(F.relu(self.bn(self.conv(x))))

    return dict(
        ConvBnRelu=ConvBnRelu, Mlp=Mlp, DropoutNet=DropoutNet, Conv1dBn=Conv1dBn,
        LinearBn=LinearBn, ConvTranspose=ConvTranspose, ControlFlow=ControlFlow,
        ListsDicts=ListsDicts, Exported=Exported, Counter=Counter, TrainMode=TrainMode,
        Raises=Raises, Elementwise=Elementwise, ShapeOps=ShapeOps, ConvAddMul=ConvAddMul,
        Residual=Residual, StringPadding=StringPadding, Bundled=Bundled)


def small_resnet():
    """ResNet-18's structure (BasicBlocks [2, 2, 2, 2]) at a quarter of its width."""
    import torch.nn as nn
    from torchvision.models.resnet import ResNet, BasicBlock

    class SmallResNet(ResNet):
        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
            return super()._make_layer(block, planes // 4, blocks, stride, dilate)

    model = SmallResNet(BasicBlock, [2, 2, 2, 2], num_classes=10)
    model.fc = nn.Linear(128, 10)
    return model


# name -> (saved by, builder, input shapes, extra)
def fixture_table():
    import torch
    import torchvision.models as tvm
    models = define_models()

    def custom(name):
        return lambda: models[name]()

    t = {}
    t["conv_bn_relu"] = ("1.13", custom("ConvBnRelu"), [[1, 3, 20, 18]], dict(torch_mobile=True))
    t["mlp"] = ("2", custom("Mlp"), [[3, 16]], {})
    t["dropout_net"] = ("1.13", custom("DropoutNet"), [[2, 3, 8, 8]], {})
    t["conv1d_bn"] = ("2", custom("Conv1dBn"), [[2, 4, 17]], {})
    t["linear_bn"] = ("1.13", custom("LinearBn"), [[5, 12]], dict(torch_mobile=True))
    t["conv_transpose"] = ("1.13", custom("ConvTranspose"), [[1, 4, 5, 6]], dict(torch_mobile=True))
    t["control_flow"] = ("1.13", custom("ControlFlow"), [[2, 3]], {})
    t["lists_dicts"] = ("2", custom("ListsDicts"), [[2, 4, 3]], {})
    t["exported_method"] = ("1.13", custom("Exported"), [[2, 4]],
                            dict(extra_calls=[("helper", [[2, 4], 2])], preserve=["helper"]))
    t["counter"] = ("2", custom("Counter"), [[2, 3]], dict(repeat=3))
    t["train_mode"] = ("1.13", custom("TrainMode"), [[1, 3, 6, 6]], dict(train=True))
    t["raises"] = ("2", custom("Raises"), [[2, 3, 4, 4]], dict(bad_calls=[("forward", [[2, 3]])]))
    t["elementwise"] = ("1.13", custom("Elementwise"), [[2, 4, 5, 6]], {})
    t["shape_ops"] = ("2", custom("ShapeOps"), [[2, 3, 7, 6]], {})
    t["conv_add_mul"] = ("1.13", custom("ConvAddMul"), [[1, 3, 8, 8]], {})
    t["residual"] = ("2", custom("Residual"), [[1, 4, 6, 6]], {})
    t["string_padding"] = ("1.13", custom("StringPadding"), [[1, 3, 7, 7]], {})
    t["bundled_inputs"] = ("1.13", custom("Bundled"), [[1, 3, 8, 8]], dict(bundle=True))
    t["quantized_conv"] = ("1.13", None, [[1, 3, 8, 8]], dict(quantized=True))
    t["mobilenet_v2"] = ("1.13", lambda: tvm.mobilenet_v2(num_classes=10, width_mult=0.35),
                         [[1, 3, 64, 64]], dict(torch_mobile=True))
    t["mobilenet_v3_small"] = ("2", lambda: tvm.mobilenet_v3_small(num_classes=10, width_mult=0.5),
                               [[1, 3, 64, 64]], {})
    t["mobilenet_v3_large"] = ("1.13", lambda: tvm.mobilenet_v3_large(num_classes=10, width_mult=0.35),
                               [[1, 3, 64, 64]], {})
    t["resnet_small"] = ("1.13", small_resnet, [[1, 3, 64, 64]], dict(torch_mobile=True))
    t["shufflenet_v2"] = ("2", lambda: tvm.shufflenet_v2_x0_5(num_classes=10), [[1, 3, 64, 64]], {})
    t["squeezenet1_1"] = ("1.13", lambda: tvm.squeezenet1_1(num_classes=10), [[1, 3, 64, 64]], {})
    t["mnasnet"] = ("2", lambda: tvm.mnasnet0_5(num_classes=10), [[1, 3, 64, 64]], {})
    return t


# --------------------------------------------------------------------------------------------
# Helpers that run under either PyTorch
# --------------------------------------------------------------------------------------------

def torch_major():
    import torch
    return "1.13" if torch.__version__.startswith("1.") else "2"


def randomize_batchnorm(model, generator):
    import torch
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                if module.weight is not None:
                    module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                    module.bias.copy_(torch.randn(n, generator=generator) * 0.2)


def make_input(spec, generator):
    import torch
    if isinstance(spec, list):
        return torch.randn(spec, generator=generator)
    return spec


def flatten_outputs(value) -> list:
    import torch
    if isinstance(value, (tuple, list)):
        out = []
        for item in value:
            out.extend(flatten_outputs(item))
        return out
    if isinstance(value, dict):
        out = []
        for item in value.values():
            out.extend(flatten_outputs(item))
        return out
    return [value]


def save_value(path, value):
    import numpy as np
    import torch
    if isinstance(value, torch.Tensor):
        np.save(path, value.detach().contiguous().numpy())
    elif isinstance(value, bool):
        np.save(path, np.array(value, dtype=np.bool_))
    elif isinstance(value, int):
        np.save(path, np.array(value, dtype=np.int64))
    elif isinstance(value, float):
        np.save(path, np.array(value, dtype=np.float64))
    else:
        raise TypeError(f"cannot save {type(value)}")


def load_value(path):
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


def graph_op_counts(graph) -> Dict[str, int]:
    counts: Dict[str, int] = {}

    def visit(block):
        for node in block.nodes():
            counts[node.kind()] = counts.get(node.kind(), 0) + 1
            for sub in node.blocks():
                visit(sub)
    visit(graph)
    return dict(sorted(counts.items()))


def method_codes(module) -> Dict[str, str]:
    out = {}
    for name in method_names(module):
        try:
            out[name] = getattr(module, name).code
        except Exception as error:  # noqa: BLE001
            out[name] = f"<unavailable: {error}>"
    return out


def method_names(module) -> List[str]:
    return sorted(module._c._method_names())


def describe_tensors(pairs) -> list:
    return [{"name": n, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
             "requires_grad": bool(t.requires_grad)} for n, t in pairs]


def module_tree(module, prefix="") -> list:
    out = [{"path": prefix, "type": module._c._type().qualified_name()}]
    for name, child in module.named_children():
        out.extend(module_tree(child, f"{prefix}.{name}" if prefix else name))
    return out


def short_error(error) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if "\n" not in text[:300] else text[:300].splitlines()[0]


def lints_of(module):
    from torch.utils.mobile_optimizer import generate_mobile_module_lints
    return [{"name": item["name"], "message": item["message"]}
            for item in generate_mobile_module_lints(module)]


# --------------------------------------------------------------------------------------------
# Phase 1: build, script, save and record (run by the PyTorch that saves the fixture)
# --------------------------------------------------------------------------------------------

def build_quantized():
    import torch
    import torch.nn as nn
    torch.backends.quantized.engine = "qnnpack"

    class Q(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = torch.ao.quantization.QuantStub()
            self.conv = nn.Conv2d(3, 4, 3)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(4, 3)
            self.dequant = torch.ao.quantization.DeQuantStub()

        def forward(self, x):
            x = self.relu(self.conv(self.quant(x)))
            x = x.mean(dim=[2, 3])
            return self.dequant(self.fc(x))

    model = Q().eval()
    model.qconfig = torch.ao.quantization.get_default_qconfig("qnnpack")
    prepared = torch.ao.quantization.prepare(model)
    g = torch.Generator().manual_seed(7)
    for _ in range(4):
        prepared(torch.randn(1, 3, 8, 8, generator=g))
    return torch.ao.quantization.convert(prepared)


def build_fixture(name, entry, out_dir):
    import torch
    from torch.utils.mobile_optimizer import optimize_for_mobile  # noqa: F401
    saved_by, builder, input_specs, extra = entry
    torch.manual_seed(zlib.crc32(name.encode()) % 1000 + 1)
    generator = torch.Generator().manual_seed(sum(map(ord, name)))
    os.makedirs(out_dir, exist_ok=True)

    if extra.get("quantized"):
        model = build_quantized()
    else:
        model = builder()
        randomize_batchnorm(model, generator)
        model.train(bool(extra.get("train")))
    scripted = torch.jit.script(model)
    if extra.get("bundle"):
        from torch.utils.bundled_inputs import augment_model_with_bundled_inputs
        from torch.utils.bundled_inputs import bundle_large_tensor
        bundled = [(bundle_large_tensor(torch.randn(1, 3, 8, 8, generator=generator)),),
                   (torch.zeros(1, 1, 1, 1).expand(2, 3, 5, 5),)]
        augment_model_with_bundled_inputs(scripted, bundled)
    path = os.path.join(out_dir, "model.pt")
    torch.jit.save(scripted, path)
    loaded = torch.jit.load(path)

    calls = []
    call_plan = []
    for _ in range(extra.get("repeat", 1)):
        call_plan.append(("forward", input_specs, False))
    for method, specs in extra.get("extra_calls", []):
        call_plan.append((method, specs, False))
    for method, specs in extra.get("bad_calls", []):
        call_plan.append((method, specs, True))
    with torch.no_grad():
        for index, (method, specs, expect_error) in enumerate(call_plan):
            inputs = [make_input(s, generator) for s in specs]
            record = {"method": method, "inputs": [], "outputs": []}
            for k, value in enumerate(inputs):
                file = f"call{index}_input{k}.npy"
                save_value(os.path.join(out_dir, file), value)
                record["inputs"].append(file)
            try:
                result = getattr(loaded, method)(*inputs)
                for k, value in enumerate(flatten_outputs(result)):
                    file = f"call{index}_output{k}.npy"
                    save_value(os.path.join(out_dir, file), value)
                    record["outputs"].append(file)
            except Exception as error:  # noqa: BLE001
                if not expect_error:
                    raise
                lines = [line.strip() for line in str(error).splitlines() if line.strip()]
                record["error"] = lines[-1] if lines else type(error).__name__
            calls.append(record)

    facts = {
        "name": name,
        "saved_by": torch.__version__,
        "training": bool(loaded.training),
        "parameters": describe_tensors(loaded.named_parameters()),
        "buffers": describe_tensors(loaded.named_buffers()),
        "modules": module_tree(loaded),
        "methods": method_names(loaded),
        "code": method_codes(loaded),
        "calls": calls,
        "preserve": extra.get("preserve", []),
    }
    fresh = torch.jit.load(path)
    try:
        frozen = torch.jit.freeze(fresh,
                                  preserved_attrs=extra.get("preserve", []))
        facts["frozen"] = {"code": method_codes(frozen),
                           "ops": graph_op_counts(frozen.graph),
                           "parameters": len(list(frozen.parameters()))}
    except Exception as error:  # noqa: BLE001
        facts["frozen"] = {"error": short_error(error)}
    with open(os.path.join(out_dir, f"facts_{torch_major()}.json"), "w") as handle:
        json.dump(facts, handle, indent=1, sort_keys=True)
    log(f"built {name} with torch {torch.__version__}")


# --------------------------------------------------------------------------------------------
# Phase 2: facts from the other PyTorch (mobile optimization needs 1.13; lints from both)
# --------------------------------------------------------------------------------------------

def observe_fixture(name, entry, out_dir):
    import torch
    from torch.utils.mobile_optimizer import optimize_for_mobile
    saved_by, _, _, extra = entry
    path = os.path.join(out_dir, "model.pt")
    major = torch_major()
    facts = {"torch": torch.__version__}
    try:
        module = torch.jit.load(path)
    except Exception as error:  # noqa: BLE001
        facts["load_error"] = short_error(error)
        with open(os.path.join(out_dir, f"observed_{major}.json"), "w") as handle:
            json.dump(facts, handle, indent=1, sort_keys=True)
        return
    facts["lints"] = lints_of(module)
    try:
        optimized = optimize_for_mobile(torch.jit.load(path), preserved_methods=extra.get("preserve", []))
        facts["mobile"] = {"code": method_codes(optimized),
                           "ops": graph_op_counts(optimized.graph),
                           "methods": method_names(optimized)}
        if major == "1.13" and extra.get("torch_mobile"):
            torch.jit.save(optimized, os.path.join(out_dir, "torch_mobile.pt"))
    except Exception as error:  # noqa: BLE001
        facts["mobile"] = {"error": short_error(error)}
    with open(os.path.join(out_dir, f"observed_{major}.json"), "w") as handle:
        json.dump(facts, handle, indent=1, sort_keys=True)
    log(f"observed {name} with torch {torch.__version__}")


def merge_facts(out_root, names):
    for name in names:
        folder = os.path.join(out_root, name)
        merged = {}
        for major in ("1.13", "2"):
            built = os.path.join(folder, f"facts_{major}.json")
            if os.path.exists(built):
                with open(built) as handle:
                    merged.update(json.load(handle))
                os.remove(built)
        observed = {}
        for major in ("1.13", "2"):
            path = os.path.join(folder, f"observed_{major}.json")
            if os.path.exists(path):
                with open(path) as handle:
                    observed[major] = json.load(handle)
                os.remove(path)
        merged["observed"] = observed
        with open(os.path.join(folder, "facts.json"), "w") as handle:
            json.dump(merged, handle, indent=1, sort_keys=True)
            handle.write("\n")


# --------------------------------------------------------------------------------------------
# Example and benchmark models
# --------------------------------------------------------------------------------------------

BENCH_MODELS = ["mobilenet_v2", "mobilenet_v3_small", "resnet18", "squeezenet1_1", "shufflenet_v2_x1_0"]


def build_full_size(name, out_dir, with_mobile):
    import torch
    import torchvision.models as tvm
    from torch.utils.mobile_optimizer import optimize_for_mobile
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    model = getattr(tvm, name)()
    randomize_batchnorm(model, generator)
    model.eval()
    scripted = torch.jit.script(model)
    os.makedirs(out_dir, exist_ok=True)
    torch.jit.save(scripted, os.path.join(out_dir, f"{name}.pt"))
    x = torch.randn(1, 3, 224, 224, generator=generator)
    save_value(os.path.join(out_dir, f"{name}_input.npy"), x)
    with torch.no_grad():
        save_value(os.path.join(out_dir, f"{name}_output.npy"), scripted(x))
    if with_mobile:
        optimized = optimize_for_mobile(scripted)
        torch.jit.save(optimized, os.path.join(out_dir, f"{name}_torch_mobile.pt"))
    log(f"built full-size {name}")


def export_onnx(name, out_dir):
    import torch
    scripted_path = os.path.join(out_dir, f"{name}.pt")
    import torchvision.models as tvm
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    model = getattr(tvm, name)()
    randomize_batchnorm(model, generator)
    model.eval()
    # Use the scripted weights so both runtimes compute the same function.
    loaded = torch.jit.load(scripted_path)
    model.load_state_dict(loaded.state_dict())
    x = load_value(os.path.join(out_dir, f"{name}_input.npy"))
    torch.onnx.export(model, (x,), os.path.join(out_dir, f"{name}.onnx"), dynamo=False, opset_version=17)
    log(f"exported {name} to ONNX")


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------

def run_child(python, *args):
    command = [python, os.path.abspath(__file__), *args]
    log("$", " ".join(command))
    subprocess.run(command, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["all", "bench", "example", "_build", "_observe", "_full", "_onnx"])
    parser.add_argument("--py113", default="/usr/bin/python3")
    parser.add_argument("--py2", default=None)
    parser.add_argument("--out", default=HERE)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--mobile", action="store_true")
    args = parser.parse_args()

    if args.command == "_build":
        table = fixture_table()
        major = torch_major()
        for name, entry in table.items():
            if (args.only is None or name in args.only) and entry[0] == major:
                build_fixture(name, entry, os.path.join(args.out, name))
        return
    if args.command == "_observe":
        table = fixture_table()
        for name, entry in table.items():
            if args.only is None or name in args.only:
                observe_fixture(name, entry, os.path.join(args.out, name))
        return
    if args.command == "_full":
        for name in args.only:
            build_full_size(name, args.out, args.mobile)
        return
    if args.command == "_onnx":
        for name in args.only:
            export_onnx(name, args.out)
        return

    if args.command == "all":
        if not args.py2:
            sys.exit("--py2 (a python with PyTorch 2.x) is required")
        only = ["--only", *args.only] if args.only else []
        run_child(args.py113, "_build", "--out", args.out, *only)
        run_child(args.py2, "_build", "--out", args.out, *only)
        run_child(args.py113, "_observe", "--out", args.out, *only)
        run_child(args.py2, "_observe", "--out", args.out, *only)
        names = args.only or sorted(
            d for d in os.listdir(args.out) if os.path.exists(os.path.join(args.out, d, "model.pt")))
        merge_facts(args.out, names)
        return
    if args.command == "example":
        out = os.path.join(ROOT, "Examples")
        run_child(args.py113, "_full", "--out", out, "--only", "mobilenet_v2")
        # Keep only the model and its input/output next to it.
        return
    if args.command == "bench":
        if not args.py2:
            sys.exit("--py2 (a python with PyTorch 2.x and onnx) is required")
        names = args.only or BENCH_MODELS
        run_child(args.py113, "_full", "--out", args.out, "--mobile", "--only", *names)
        run_child(args.py2, "_onnx", "--out", args.out, "--only", *names)


if __name__ == "__main__":
    main()
