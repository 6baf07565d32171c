"""Caffe deploy layers -> a small graph of our own -> ONNX, shared by the Caffe converters.

`build_ops` translates the layers (weights matched by layer name), `fold` moves per-channel
affines (BatchNorm, Scale) into convolutions wherever that is exact, and `to_onnx` writes the
result with the converter's input and output names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .caffe_proto import (
    CaffeFormatError,
    Layer,
    Message,
    net_layers,
    read_caffemodel,
    read_prototxt,
)
from .common import CONVERTER_VERSION, ConversionError, set_metadata

OPSET = 17
IR_VERSION = 8  # the IR of opset 17: loadable by every ONNX Runtime the engine supports
# Layer types with a translation (besides Input, and Silence, which is dropped).
SUPPORTED = ("Convolution", "Deconvolution", "ReLU", "BatchNorm", "Scale", "Softmax", "TanH",
             "Eltwise", "Slice", "Concat")


@dataclass
class Op:
    kind: str  # conv, deconv, relu, affine, softmax, tanh, add, slice, concat
    name: str
    inputs: list[str]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    scale: np.ndarray | None = None  # affine: per channel (C,) or scalar ()
    shift: np.ndarray | None = None


def read_caffe(
    prototxt: str | os.PathLike, caffemodel: str | os.PathLike
) -> tuple[list[Layer], dict[str, list[np.ndarray]]]:
    """(deploy layers of the prototxt, the caffemodel's blobs by layer name)."""
    try:
        net = read_prototxt(str(prototxt))
        deploy = net_layers(net, with_blobs=False)
        # Weights by layer name, from layers of any phase (a training snapshot keeps them all).
        trained = net_layers(read_caffemodel(str(caffemodel)), test_only=False)
        weights = {layer.name: layer.blobs for layer in trained if layer.blobs}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConversionError(f"cannot read the Caffe files: {exc}") from None
    except CaffeFormatError as exc:
        raise ConversionError(f"not a Caffe file: {exc}") from None
    # The deprecated NetParameter.input declares the input without a layer.
    inputs = [Layer(str(n), "Input", [], [str(n)], Message()) for n in net.all("input")]
    return inputs + deploy, weights


def _pair(params: Message, name: str, default: int) -> tuple[int, int]:
    values = [int(v) for v in params.all(name)]
    h, w = params.get(f"{name}_h"), params.get(f"{name}_w")
    if h is not None or w is not None:
        return int(h if h is not None else default), int(w if w is not None else default)
    if not values:
        return default, default
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    raise ConversionError(f"{name} has {len(values)} values; only 2-D convolutions are supported")


def _conv_op(layer: Layer, blobs: list[np.ndarray], src: str, dst: str) -> Op:
    p = layer.params.sub("convolution_param")
    if int(p.get("axis", 1)) != 1:
        raise ConversionError(f"layer '{layer.name}': convolution axis other than 1")
    kernel = _pair(p, "kernel_size", 0)
    if "kernel_h" in p or "kernel_w" in p:
        kernel = (int(p.get("kernel_h", 0)), int(p.get("kernel_w", 0)))
    if min(kernel) < 1:
        raise ConversionError(f"layer '{layer.name}' has no kernel size")
    stride = _pair(p, "stride", 1)
    pad = _pair(p, "pad", 0)
    dilation = _pair(p, "dilation", 1)
    group = int(p.get("group", 1))
    num_output = int(p.get("num_output", 0))
    bias_term = bool(p.get("bias_term", True))
    deconv = layer.type == "Deconvolution"
    if not blobs:
        raise ConversionError(
            f"layer '{layer.name}' ({layer.type}) has no weights in the caffemodel"
        )
    weight = blobs[0]
    size = weight.size
    if deconv:  # Caffe and ONNX agree: (C_in, C_out / group, kh, kw)
        per_in = num_output // group * kernel[0] * kernel[1]
        shape = (size // max(per_in, 1), num_output // group, *kernel)
    else:
        per_out = num_output * kernel[0] * kernel[1]
        shape = (num_output, size // max(per_out, 1), *kernel)
    if num_output < 1 or int(np.prod(shape)) != size:
        raise ConversionError(
            f"layer '{layer.name}': weights of shape {weight.shape} do not fit num_output "
            f"{num_output}, kernel {kernel}, group {group}"
        )
    bias = None
    if bias_term and len(blobs) > 1:
        bias = blobs[1].reshape(-1)
        if bias.size != num_output:
            raise ConversionError(
                f"layer '{layer.name}': {bias.size} biases for {num_output} outputs"
            )
    elif bias_term:
        raise ConversionError(f"layer '{layer.name}' has no bias in the caffemodel")
    return Op(
        "deconv" if deconv else "conv",
        layer.name,
        [src],
        dst,
        attrs={
            "strides": list(stride),
            "pads": [pad[0], pad[1], pad[0], pad[1]],
            "dilations": list(dilation),
            "group": group,
            "kernel_shape": list(kernel),
        },
        weight=weight.reshape(shape).astype(np.float32),
        bias=None if bias is None else bias.astype(np.float32),
    )


def _batchnorm_op(layer: Layer, blobs: list[np.ndarray], src: str, dst: str) -> Op:
    if len(blobs) < 3:
        raise ConversionError(
            f"layer '{layer.name}' (BatchNorm) needs 3 blobs (mean, variance, scale factor) in "
            f"the caffemodel, found {len(blobs)}"
        )
    factor = float(blobs[2].reshape(-1)[0])
    factor = 0.0 if factor == 0 else 1.0 / factor  # Caffe's own rule for an unset moving average
    mean = blobs[0].reshape(-1).astype(np.float64) * factor
    var = blobs[1].reshape(-1).astype(np.float64) * factor
    eps = float(layer.params.sub("batch_norm_param").get("eps", 1e-5))
    if mean.shape != var.shape or np.any(var + eps <= 0) or not np.all(np.isfinite(var)):
        raise ConversionError(f"layer '{layer.name}' (BatchNorm) has invalid statistics")
    scale = 1.0 / np.sqrt(var + eps)
    return Op("affine", layer.name, [src], dst, scale=scale, shift=-mean * scale)


def _scale_op(layer: Layer, blobs: list[np.ndarray], src: str, dst: str) -> Op:
    p = layer.params.sub("scale_param")
    if len(layer.bottom) != 1:
        raise ConversionError(f"layer '{layer.name}' (Scale) with a second input is not supported")
    if int(p.get("axis", 1)) != 1:
        raise ConversionError(f"layer '{layer.name}' (Scale) on an axis other than channels")
    if blobs:
        scale = blobs[0].reshape(-1).astype(np.float64)
    else:
        # Caffe fills a missing scale from its filler (default: constant 1).
        filler = p.sub("filler")
        if str(filler.get("type", "constant")) != "constant":
            raise ConversionError(
                f"layer '{layer.name}' (Scale) has no weights in the caffemodel and a "
                f"non-constant filler"
            )
        scale = np.array(float(filler.get("value", 1.0 if "filler" not in p else 0.0)))
    if scale.size == 1:
        scale = scale.reshape(())
    elif int(p.get("num_axes", 1)) != 1:
        raise ConversionError(f"layer '{layer.name}' (Scale) over several axes is not supported")
    shift = None
    if bool(p.get("bias_term", False)) and len(blobs) > 1:
        shift = blobs[1].reshape(scale.shape).astype(np.float64)
    return Op("affine", layer.name, [src], dst, scale=scale, shift=shift)


def _eltwise_op(layer: Layer, srcs: list[str], dst: str) -> Op:
    p = layer.params.sub("eltwise_param")
    operation = p.get("operation", "SUM")
    coeffs = [float(c) for c in p.all("coeff")]
    if operation not in ("SUM", 1) or any(c != 1 for c in coeffs) or len(srcs) < 2:
        raise ConversionError(
            f"layer '{layer.name}' (Eltwise): only plain sums of two or more inputs are supported"
        )
    return Op("add", layer.name, srcs, dst)


def _axis(layer: Layer, params: str) -> int:
    p = layer.params.sub(params)
    axis = int(p.get("axis", 1))
    if axis != 1 or "slice_dim" in p or "concat_dim" in p:
        raise ConversionError(f"layer '{layer.name}' ({layer.type}) on an axis other than channels")
    return axis


def build_ops(
    layers: list[Layer], weights: dict[str, list[np.ndarray]]
) -> tuple[list[Op], str, str]:
    """Translate deploy layers to Ops; returns (ops, input tensor, output tensor). Op names are
    the layers' names, made unique (a prototxt may reuse a name for an in-place layer)."""
    tensors: dict[str, str] = {}  # Caffe blob name -> current tensor (in-place layers rename)
    used: set[str] = set()
    names: set[str] = set()
    ops: list[Op] = []
    graph_input = graph_output = None

    def new_tensor(top: str, layer: Layer) -> str:
        name = top if top not in used else layer.name
        while name in used:
            name += "_"
        used.add(name)
        tensors[top] = name
        return name

    def unique(name: str) -> str:
        while name in names:
            name += "_"
        names.add(name)
        return name

    for layer in layers:
        if layer.type == "Silence":
            continue
        if layer.type == "Input":
            if graph_input is not None or len(layer.top) != 1:
                raise ConversionError("the network must have exactly one input")
            graph_input = new_tensor(layer.top[0], layer)
            continue
        if layer.type not in SUPPORTED:
            raise ConversionError(
                f"layer '{layer.name}' has type '{layer.type}', which the Caffe converter "
                f"cannot convert"
            )
        if len(layer.bottom) < 1 or not layer.top or (
            len(layer.top) != 1 and layer.type != "Slice"
        ):
            raise ConversionError(f"layer '{layer.name}' must have one input and one output")
        for bottom in layer.bottom:
            if bottom not in tensors:
                raise ConversionError(
                    f"layer '{layer.name}' reads '{bottom}', which no layer makes"
                )
        srcs = [tensors[b] for b in layer.bottom]
        src = srcs[0]
        blobs = weights.get(layer.name, [])
        name = unique(layer.name)
        if layer.type == "Slice":
            new = _slice_ops(layer, name, src, [new_tensor(t, layer) for t in layer.top])
            for op in new[1:]:
                op.name = unique(op.name)
            ops.extend(new)
            graph_output = new[-1].output
            continue
        dst = new_tensor(layer.top[0], layer)
        if layer.type in ("Convolution", "Deconvolution"):
            op = _conv_op(layer, blobs, src, dst)
        elif layer.type == "ReLU":
            slope = float(layer.params.sub("relu_param").get("negative_slope", 0.0))
            op = Op("relu", layer.name, [src], dst, attrs={"alpha": slope})
        elif layer.type == "BatchNorm":
            op = _batchnorm_op(layer, blobs, src, dst)
        elif layer.type == "Scale":
            op = _scale_op(layer, blobs, src, dst)
        elif layer.type == "TanH":
            op = Op("tanh", layer.name, [src], dst)
        elif layer.type == "Eltwise":
            op = _eltwise_op(layer, srcs, dst)
        elif layer.type == "Concat":
            op = Op("concat", layer.name, srcs, dst, attrs={"axis": _axis(layer, "concat_param")})
        else:
            axis = int(layer.params.sub("softmax_param").get("axis", 1))
            op = Op("softmax", layer.name, [src], dst, attrs={"axis": axis})
        op.name = name
        ops.append(op)
        graph_output = op.output
    if graph_input is None:
        raise ConversionError("the prototxt has no Input layer")
    if graph_output is None:
        raise ConversionError("the prototxt has no layers after its input")
    return ops, graph_input, graph_output


def _slice_ops(layer: Layer, name: str, src: str, dsts: list[str]) -> list[Op]:
    """A channel Slice as one ONNX Slice per output. Caffe splits at `slice_point`s, or into
    equal parts without them; the parts' sizes are only known for the former."""
    axis = _axis(layer, "slice_param")
    points = [int(v) for v in layer.params.sub("slice_param").all("slice_point")]
    if len(points) != len(dsts) - 1 or points != sorted(points) or (points and points[0] < 1):
        raise ConversionError(
            f"layer '{layer.name}' (Slice) needs one slice_point fewer than its outputs"
        )
    bounds = [0, *points, np.iinfo(np.int64).max]
    return [Op("slice", f"{name}.{i}" if i else name, [src], dst,
               attrs={"axis": axis, "start": bounds[i], "end": bounds[i + 1]})
            for i, dst in enumerate(dsts)]


# ---------------------------------------------------------------------------------------------
# Folding per-channel affines (BatchNorm, Scale) into convolutions, only where it is exact


def _consumers(ops: list[Op], tensor: str) -> list[Op]:
    return [op for op in ops if tensor in op.inputs]


def _producer(ops: list[Op], tensor: str) -> Op | None:
    return next((op for op in ops if op.output == tensor), None)


def _out_axis_view(conv: Op) -> np.ndarray | None:
    """The conv's weights with output channels on axis 0, or None if that is not a plain view."""
    if conv.kind == "conv":
        return conv.weight
    if conv.attrs["group"] == 1:
        return conv.weight.transpose(1, 0, 2, 3)
    return None


def _fold_into_previous(conv: Op, scale: np.ndarray | None, shift: np.ndarray | None) -> bool:
    """conv -> affine becomes one conv (the affine acts per output channel); False if the
    weights cannot be scaled per output channel (grouped ConvTranspose)."""
    view = _out_axis_view(conv)
    if view is None:
        return False
    channels = view.shape[0]
    s = np.ones(channels) if scale is None else np.broadcast_to(scale, (channels,))
    scaled = view.astype(np.float64) * s[:, None, None, None]
    weight = scaled if conv.kind == "conv" else scaled.transpose(1, 0, 2, 3)
    bias = np.zeros(channels) if conv.bias is None else conv.bias.astype(np.float64)
    bias = bias * s + (0.0 if shift is None else np.broadcast_to(shift, (channels,)))
    conv.weight = weight.astype(np.float32)
    conv.bias = None if shift is None and conv.bias is None else bias.astype(np.float32)
    return True


def _remove(ops: list[Op], op: Op) -> None:
    """Drop a one-input node, connecting its consumers to its input."""
    ops.remove(op)
    for other in ops:
        other.inputs = [op.inputs[0] if t == op.output else t for t in other.inputs]
    op.output = op.inputs[0]


def fold(ops: list[Op], graph_output: str) -> None:
    """Fold affines (BatchNorm, Scale) into convolutions, in place, wherever that is exact."""
    changed = True
    while changed:
        changed = False
        for op in list(ops):
            if op.kind != "affine":
                continue
            prev = _producer(ops, op.inputs[0])
            single = prev is not None and len(_consumers(ops, prev.output)) == 1
            keep_name = op.output == graph_output
            # conv -> affine: exact, the affine is per output channel.
            if (
                single
                and prev.kind in ("conv", "deconv")
                and not keep_name
                and _fold_into_previous(prev, op.scale, op.shift)
            ):
                _remove(ops, op)
                changed = True
                continue
            # conv -> ReLU -> affine with scale > 0: ReLU(s*z) = s*ReLU(z), so the scale moves
            # into the conv and a shift is left; the shift cannot move on into a padded conv,
            # whose zero padding would then stand for -shift instead of 0.
            if (
                single
                and prev.kind == "relu"
                and op.scale is not None
                and np.all(op.scale > 0)
                and not np.all(op.scale == 1)
            ):
                conv = _producer(ops, prev.inputs[0])
                if (
                    conv is not None
                    and conv.kind in ("conv", "deconv")
                    and len(_consumers(ops, conv.output)) == 1
                    and _fold_into_previous(conv, op.scale, None)
                ):
                    op.scale = None
                    changed = True
            if op.scale is None and (op.shift is None or not np.any(op.shift)) and not keep_name:
                _remove(ops, op)
                changed = True
                continue
            # affine -> unpadded conv: exact, every input pixel the conv reads is a real one.
            nxt = _consumers(ops, op.output)
            if (
                len(nxt) == 1
                and nxt[0].kind == "conv"
                and not any(nxt[0].attrs["pads"])
                and not keep_name
            ):
                _fold_into_next(nxt[0], op.scale, op.shift)
                _remove(ops, op)
                changed = True


def _fold_into_next(conv: Op, scale: np.ndarray | None, shift: np.ndarray | None) -> None:
    """affine -> unpadded conv becomes one conv: scale the input channels' weights and add
    the shift's contribution to the bias."""
    w = conv.weight.astype(np.float64)
    out_ch, in_per_group = w.shape[:2]
    group = conv.attrs["group"]
    in_ch = in_per_group * group
    s = np.ones(in_ch) if scale is None else np.broadcast_to(scale, (in_ch,))
    t = np.zeros(in_ch) if shift is None else np.broadcast_to(shift, (in_ch,))
    s_g = s.reshape(group, in_per_group)
    t_g = t.reshape(group, in_per_group)
    per_out = out_ch // group
    g_of = np.arange(out_ch) // per_out
    bias = np.zeros(out_ch) if conv.bias is None else conv.bias.astype(np.float64)
    bias = bias + np.einsum("oikl,oi->o", w, t_g[g_of])
    conv.weight = (w * s_g[g_of][:, :, None, None]).astype(np.float32)
    conv.bias = bias.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# ONNX


def to_onnx(
    ops: list[Op],
    inputs: list[tuple[str, int]],
    output: tuple[str, list[Any]],
    renames: dict[str, str],
    graph_name: str,
    metadata: dict[str, Any],
) -> Any:
    """The checked ONNX model of `ops`: `inputs` (name, channels) are [1, C, H, W] float32;
    `output` is (name, shape); `renames` maps our tensor names to the graph's."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def t(name: str) -> str:
        return renames.get(name, name)

    nodes, inits = [], []

    def const(name: str, value: np.ndarray, dtype: Any = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    for op in ops:
        srcs, dst = [t(i) for i in op.inputs], t(op.output)
        src = srcs[0]
        if op.kind in ("conv", "deconv"):
            args = [src, const(f"{op.name}.weight", op.weight)]
            if op.bias is not None:
                args.append(const(f"{op.name}.bias", op.bias))
            node_type = "Conv" if op.kind == "conv" else "ConvTranspose"
            nodes.append(helper.make_node(node_type, args, [dst], name=op.name, **op.attrs))
        elif op.kind == "relu":
            if op.attrs["alpha"]:
                nodes.append(helper.make_node("LeakyRelu", [src], [dst], name=op.name, **op.attrs))
            else:
                nodes.append(helper.make_node("Relu", [src], [dst], name=op.name))
        elif op.kind == "softmax":
            nodes.append(helper.make_node("Softmax", [src], [dst], name=op.name, **op.attrs))
        elif op.kind == "tanh":
            nodes.append(helper.make_node("Tanh", [src], [dst], name=op.name))
        elif op.kind == "add":
            node_type = "Add" if len(srcs) == 2 else "Sum"
            nodes.append(helper.make_node(node_type, srcs, [dst], name=op.name))
        elif op.kind == "concat":
            nodes.append(helper.make_node("Concat", srcs, [dst], name=op.name, **op.attrs))
        elif op.kind == "slice":
            bounds = [const(f"{op.name}.{k}", [op.attrs[k]], np.int64)
                      for k in ("start", "end", "axis")]
            nodes.append(helper.make_node("Slice", [src, *bounds], [dst], name=op.name))
        elif op.kind == "affine":
            shape = () if op.scale is None or op.scale.ndim == 0 else (1, -1, 1, 1)
            x = src
            if op.scale is not None:
                x = dst if op.shift is None else f"{op.name}.scaled"
                scale = const(f"{op.name}.scale", np.reshape(op.scale, shape))
                nodes.append(helper.make_node("Mul", [src, scale], [x], name=f"{op.name}.mul"))
            if op.shift is not None:
                shift_shape = () if op.shift.ndim == 0 else (1, -1, 1, 1)
                shift = const(f"{op.name}.shift", np.reshape(op.shift, shift_shape))
                nodes.append(helper.make_node("Add", [x, shift], [dst], name=f"{op.name}.add"))
    graph = helper.make_graph(
        nodes,
        graph_name,
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, "H", "W"])
         for name, channels in inputs],
        [helper.make_tensor_value_info(output[0], TensorProto.FLOAT, output[1])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="colorize-ai tools/convert_models.py",
        producer_version=CONVERTER_VERSION,
    )
    model.ir_version = IR_VERSION
    set_metadata(model, metadata)
    onnx.checker.check_model(model)
    return model
