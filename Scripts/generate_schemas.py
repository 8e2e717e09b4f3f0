#!/usr/bin/env python3
"""Writes Sources/TorchIR/Schemas/*.swift: the operator schemas the IR knows, as PyTorch states them.

Schemas are facts about PyTorch's operators; this script copies their text from the installed
PyTorch builds so that the registry is never retyped by hand. It reads PyTorch 1.13 (whose ops
every archive we write must load in) first and adds overloads that only 2.x has.

  /usr/bin/python3 Scripts/generate_schemas.py dump > /tmp/s113.json
  /path/to/venv/bin/python Scripts/generate_schemas.py dump > /tmp/s2.json
  python3 Scripts/generate_schemas.py write /tmp/s113.json /tmp/s2.json
"""
import json
import os
import re
import sys

# Op families: each becomes one Swift file. Names are without overloads.
FAMILIES = {
    "Convolution": """aten::conv1d aten::conv2d aten::conv3d aten::conv_transpose1d aten::conv_transpose2d
        aten::_convolution aten::convolution""",
    "Linear": """aten::linear aten::matmul aten::mm aten::addmm aten::bmm aten::baddbmm aten::t aten::einsum
        aten::dot aten::mv aten::addmv""",
    "Normalization": """aten::batch_norm aten::layer_norm aten::group_norm aten::instance_norm aten::norm
        aten::native_batch_norm aten::local_response_norm""",
    "Activation": """aten::relu aten::relu_ aten::relu6 aten::relu6_ aten::hardtanh aten::hardtanh_
        aten::hardswish aten::hardswish_ aten::hardsigmoid aten::hardsigmoid_ aten::sigmoid aten::sigmoid_
        aten::silu aten::silu_ aten::gelu aten::tanh aten::tanh_ aten::clamp aten::clamp_ aten::clamp_min
        aten::clamp_min_ aten::clamp_max aten::clamp_max_ aten::leaky_relu aten::leaky_relu_ aten::elu
        aten::elu_ aten::prelu aten::softplus aten::mish aten::mish_ aten::log_sigmoid aten::threshold
        aten::threshold_ aten::softmax aten::log_softmax aten::_add_relu aten::_add_relu_ aten::dropout
        aten::dropout_ aten::feature_dropout aten::feature_dropout_ aten::alpha_dropout aten::bernoulli_
        aten::selu aten::celu aten::softplus_""",
    "Arithmetic": """aten::add aten::add_ aten::sub aten::sub_ aten::mul aten::mul_ aten::div aten::div_
        aten::floordiv aten::floor_divide aten::remainder aten::fmod aten::pow aten::neg aten::abs
        aten::reciprocal aten::sqrt aten::rsqrt aten::exp aten::log aten::log2 aten::log10 aten::log1p
        aten::sin aten::cos aten::erf aten::sign aten::floor aten::ceil aten::round aten::trunc aten::frac
        aten::maximum aten::minimum aten::eq aten::ne aten::lt aten::le aten::gt aten::ge aten::__and__
        aten::__or__ aten::__xor__ aten::__not__ aten::logical_and aten::logical_or aten::logical_not
        aten::bitwise_not aten::where aten::masked_fill aten::masked_fill_ aten::lerp aten::addcmul
        aten::__lshift__ aten::__rshift__ aten::rsub aten::square aten::atan aten::exp_ aten::neg_
        aten::mul_ aten::zero_ aten::fill_ aten::copy_ aten::true_divide aten::abs_ aten::ceil_ aten::cos_
        aten::erf_ aten::expm1 aten::expm1_ aten::floor_ aten::log10_ aten::log1p_ aten::log2_ aten::log_
        aten::logical_xor aten::reciprocal_ aten::round_ aten::rsqrt_ aten::sign_ aten::sin_ aten::sqrt_
        aten::square_ aten::trunc_ aten::bitwise_and aten::bitwise_or aten::fmod aten::gelu_""",
    "Reduction": """aten::sum aten::mean aten::amax aten::amin aten::max aten::min aten::argmax aten::argmin
        aten::prod aten::var aten::std aten::all aten::any aten::cumsum aten::logsumexp aten::sort
        aten::topk""",
    "Pooling": """aten::max_pool1d aten::max_pool2d aten::max_pool2d_with_indices aten::avg_pool1d
        aten::avg_pool2d aten::adaptive_avg_pool1d aten::adaptive_avg_pool2d aten::adaptive_max_pool2d
        aten::upsample_nearest2d aten::upsample_bilinear2d aten::pixel_shuffle aten::channel_shuffle
        aten::pad aten::constant_pad_nd aten::reflection_pad2d""",
    "Shape": """aten::size aten::dim aten::numel aten::view aten::reshape aten::flatten aten::unflatten
        aten::squeeze aten::squeeze_ aten::unsqueeze aten::unsqueeze_ aten::permute aten::transpose
        aten::transpose_ aten::contiguous aten::expand aten::expand_as aten::repeat aten::select
        aten::slice aten::narrow aten::index aten::index_select aten::gather aten::cat aten::concat
        aten::stack aten::chunk aten::split aten::split_with_sizes aten::unbind aten::roll aten::flip
        aten::clone aten::detach aten::to aten::type_as aten::view_as aten::reshape_as aten::movedim
        aten::embedding aten::tensor_split aten::_unsafe_view aten::item aten::tolist aten::dtype
        aten::is_floating_point aten::stride aten::new_zeros aten::new_ones aten::new_full
        aten::new_empty aten::copy aten::type aten::_shape_as_tensor aten::diagonal aten::tril aten::triu
        aten::alias""",
    "Creation": """aten::zeros aten::ones aten::full aten::empty aten::zeros_like aten::ones_like
        aten::full_like aten::empty_like aten::rand aten::randn aten::rand_like aten::randn_like
        aten::arange aten::linspace aten::logspace aten::tensor aten::scalar_tensor aten::eye
        aten::as_tensor aten::from_file""",
    "Attention": """aten::scaled_dot_product_attention aten::_native_multi_head_attention""",
    "Builtins": """aten::Bool aten::Float aten::Int aten::ScalarImplicit aten::str aten::len aten::__getitem__
        aten::__contains__ aten::__is__ aten::__isnot__ aten::_set_item aten::append aten::extend
        aten::insert aten::pop aten::clear aten::list aten::keys aten::values aten::items aten::get
        aten::setdefault aten::format aten::find aten::join aten::startswith aten::endswith
        aten::replace aten::split aten::strip aten::lower aten::upper aten::__range_length
        aten::__derive_index aten::is_grad_enabled aten::is_autocast_enabled aten::warn aten::sorted
        aten::sort aten::count aten::index aten::reverse aten::wait aten::device aten::__interpolate
        aten::__upsample_nearest aten::__upsample aten::__upsample_bilinear aten::dict aten::__round_to_zero_floordiv
        aten::floor aten::ceil aten::sqrt aten::log aten::exp aten::min aten::max aten::abs aten::pow
        aten::sum aten::all aten::any aten::manual_seed aten::divmod aten::hash aten::ord aten::chr
        aten::isnan aten::isinf aten::isfinite aten::copysign aten::gcd aten::factorial aten::radians
        aten::degrees aten::mathremainder aten::bin aten::hex aten::oct aten::IntImplicit aten::FloatImplicit
        aten::ComplexImplicit aten::slice aten::add aten::mul aten::__getitem__ aten::_list_to_tensor
        aten::cpu aten::numpy_T""",
    "Prim": """prim::RaiseException prim::dtype prim::device prim::layout prim::is_cuda prim::is_nested
        prim::is_quantized prim::is_cpu prim::requires_grad prim::data prim::min prim::max prim::abs
        prim::unchecked_unwrap_optional prim::NumToTensor prim::type prim::Uninitialized prim::TupleIndex
        prim::StringIndex prim::rangelist prim::tolist prim::IfThenElse prim::id prim::Print prim::grad
        prim::itemsize prim::nbytes prim::index""",
    "Quantized": """aten::quantize_per_tensor aten::quantize_per_channel aten::dequantize aten::q_scale
        aten::q_zero_point aten::int_repr quantized::conv2d quantized::conv2d_relu quantized::linear
        quantized::linear_relu quantized::add quantized::add_relu quantized::mul quantized::cat
        quantized::hardswish quantized::conv2d_prepack quantized::linear_prepack quantized::conv2d_unpack
        quantized::linear_unpack quantized::batch_norm2d quantized::relu6 quantized::conv_transpose2d
        quantized::linear_unpack_fp16 quantized::linear_prepack_fp16 quantized::linear_dynamic
        quantized::linear_dynamic_fp16 quantized::conv1d quantized::conv1d_relu quantized::conv1d_prepack
        quantized::conv3d quantized::conv3d_prepack quantized::conv2d_add quantized::conv2d_add_relu""",
    "Prepacked": """prepacked::linear_clamp_prepack prepacked::linear_clamp_run prepacked::conv2d_clamp_prepack
        prepacked::conv2d_clamp_run prepacked::conv2d_transpose_clamp_prepack
        prepacked::conv2d_transpose_clamp_run prepacked::unpack_prepacked_sizes_conv2d
        prepacked::unpack_prepacked_sizes_linear""",
}


def dump():
    import torch
    out = [str(s) for s in torch._C._jit_get_all_schemas()]
    json.dump(out, sys.stdout)


def keep(schema: str) -> bool:
    # Out= variants and complex overloads are never printed in model code we handle.
    head = schema.split("(", 1)[0]
    overload = head.split(".", 1)[1] if "." in head else ""
    if overload == "out" or overload.endswith("_out") or "out" == overload.split("_")[-1]:
        return False
    if "complex" in overload or "Tensor(a!) out" in schema:
        return False
    if "Dimname" in schema or "str[1] dim" in schema or "names_" in overload:
        return False
    if "Generator?" in schema and "aten::rand" not in head and "bernoulli" not in head:
        return False
    return True


def write(path113, path2):
    s113 = json.load(open(path113))
    s2 = json.load(open(path2))
    wanted = {}
    for family, names in FAMILIES.items():
        for name in names.split():
            wanted.setdefault(name, family)
    by_family = {family: [] for family in FAMILIES}
    seen = set()

    def full_name(schema):
        return schema.split("(", 1)[0]

    for source in (s113, s2):
        for schema in source:
            name = full_name(schema).split(".", 1)[0]
            if name not in wanted or not keep(schema):
                continue
            if full_name(schema) in seen:
                continue
            seen.add(full_name(schema))
            text = re.sub(r"\bSymInt\b", "int", schema)
            by_family[wanted[name]].append(text)

    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "TorchIR", "Schemas")
    os.makedirs(out_dir, exist_ok=True)
    for family, schemas in by_family.items():
        lines = [
            f"// Generated by Scripts/generate_schemas.py from PyTorch's own schema strings; do not edit.",
            "",
            "extension OpSchemaList {",
            f"  /// {family} operators, with every overload in PyTorch's registration order.",
            f"  static let {family[0].lower() + family[1:]}: [String] = [",
        ]
        for schema in schemas:
            lines.append("    " + json.dumps(schema) + ",")
        lines += ["  ]", "}", ""]
        with open(os.path.join(out_dir, f"OpSchemaList+{family}.swift"), "w") as handle:
            handle.write("\n".join(lines))
        print(family, len(schemas))


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump()
    else:
        write(sys.argv[2], sys.argv[3])
