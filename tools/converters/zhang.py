"""`zhang`: Zhang, Isola, Efros (ECCV 2016) Caffe colorization network -> ONNX, without Caffe.

The graph comes from the deploy prototxt, the weights from the caffemodel (matched by layer
name), and what the caffemodel lacks is inserted here: the `conv8_313_rh` scale (1/T, the
annealed-mean temperature) and the `class8_ab` 1x1 convolution whose weights are the 313 ab bin
centres (pts_in_hull.npy). Input "L" is L - 50 ([1, 1, H, W], H and W multiples of 8); output
"ab" is [1, 2, H/4, W/4] in ab units.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
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
from .common import CONVERTER_VERSION, ConversionError, save_model, set_metadata, sha256_file
from .winograd import rewrite as winograd_rewrite

MODEL_ID = "zhang-eccv16"
OPSET = 17
IR_VERSION = 8  # the IR of opset 17: loadable by every ONNX Runtime the engine supports
L_OFFSET = 50.0
SCALE_LAYER = "conv8_313_rh"
DECODE_LAYER = "class8_ab"
# Layer types with a translation (besides Input, and Silence, which is dropped).
SUPPORTED = ("Convolution", "Deconvolution", "ReLU", "BatchNorm", "Scale", "Softmax")


@dataclass(frozen=True)
class SourceFile:
    name: str
    url: str
    size: int
    sha256: str
    mirrors: tuple[str, ...] = ()  # tried in order when `url` answers 404


_GITHUB = "https://raw.githubusercontent.com/richzhang/colorization"

# The published files (docs/MODELS.md section 3); fetch downloads and checks these. The
# GitHub repository moved its Caffe files twice (master/colorization/, then the caffe branch);
# the sha256 check makes any of its copies equally good.
SOURCES = (
    SourceFile(
        "colorization_deploy_v2.prototxt",
        f"{_GITHUB}/master/models/colorization_deploy_v2.prototxt",
        9945,
        "d16418cef8df4ccd703a55ae0ef3960861d5010418f77c90d0a47689998a7169",
        (
            f"{_GITHUB}/caffe/colorization/models/colorization_deploy_v2.prototxt",
            f"{_GITHUB}/master/colorization/models/colorization_deploy_v2.prototxt",
        ),
    ),
    SourceFile(
        "colorization_release_v2.caffemodel",
        "http://eecs.berkeley.edu/~rich.zhang/projects/2016_colorization/files/demo_v2/"
        "colorization_release_v2.caffemodel",
        128946764,
        "f5af1e602646328c792e1094f9876fe9cd4c09ac46fa886e5708a1abc89137b1",
        (
            "https://people.eecs.berkeley.edu/~rich.zhang/projects/2016_colorization/files/"
            "demo_v2/colorization_release_v2.caffemodel",
        ),
    ),
    SourceFile(
        "pts_in_hull.npy",
        f"{_GITHUB}/master/resources/pts_in_hull.npy",
        5088,
        "b5dec01315c34f43f1c8c089e84c45ae35d1838d8e77ed0e7ca930f79ffa450e",
        (
            f"{_GITHUB}/caffe/colorization/resources/pts_in_hull.npy",
            f"{_GITHUB}/master/colorization/resources/pts_in_hull.npy",
        ),
    ),
)


# ---------------------------------------------------------------------------------------------
# A small graph of our own, simplified before it becomes ONNX


@dataclass
class Op:
    kind: str  # conv, deconv, relu, affine, softmax
    name: str
    input: str
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    scale: np.ndarray | None = None  # affine: per channel (C,) or scalar ()
    shift: np.ndarray | None = None


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
    elif bias_term and layer.name != DECODE_LAYER:
        raise ConversionError(f"layer '{layer.name}' has no bias in the caffemodel")
    return Op(
        "deconv" if deconv else "conv",
        layer.name,
        src,
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
    return Op("affine", layer.name, src, dst, scale=scale, shift=-mean * scale)


def _scale_op(
    layer: Layer, blobs: list[np.ndarray], src: str, dst: str, override: float | None
) -> Op:
    p = layer.params.sub("scale_param")
    if len(layer.bottom) != 1:
        raise ConversionError(f"layer '{layer.name}' (Scale) with a second input is not supported")
    if int(p.get("axis", 1)) != 1:
        raise ConversionError(f"layer '{layer.name}' (Scale) on an axis other than channels")
    if override is not None:
        scale = np.array(override, np.float64)
    elif blobs:
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
    return Op("affine", layer.name, src, dst, scale=scale, shift=shift)


def build_ops(
    layers: list[Layer], weights: dict[str, list[np.ndarray]], hull: np.ndarray, scale: float | None
) -> tuple[list[Op], str, str]:
    """Translate deploy layers to Ops; returns (ops, input tensor, output tensor)."""
    tensors: dict[str, str] = {}  # Caffe blob name -> current tensor (in-place layers rename)
    used: set[str] = set()
    ops: list[Op] = []
    graph_input = graph_output = None

    def new_tensor(layer: Layer) -> str:
        name = layer.top[0] if layer.top[0] not in used else layer.name
        while name in used:
            name += "_"
        used.add(name)
        tensors[layer.top[0]] = name
        return name

    for layer in layers:
        if layer.type == "Silence":
            continue
        if layer.type == "Input":
            if graph_input is not None or len(layer.top) != 1:
                raise ConversionError("the network must have exactly one input")
            graph_input = new_tensor(layer)
            continue
        if layer.type not in SUPPORTED:
            raise ConversionError(
                f"layer '{layer.name}' has type '{layer.type}', which the Caffe converter "
                f"cannot convert"
            )
        if len(layer.bottom) < 1 or len(layer.top) != 1:
            raise ConversionError(f"layer '{layer.name}' must have one input and one output")
        if layer.bottom[0] not in tensors:
            raise ConversionError(
                f"layer '{layer.name}' reads '{layer.bottom[0]}', which no layer makes"
            )
        src = tensors[layer.bottom[0]]
        blobs = weights.get(layer.name, [])
        if layer.type in ("Convolution", "Deconvolution"):
            if layer.name == DECODE_LAYER:
                blobs = [hull.T.reshape(2, -1, 1, 1).astype(np.float32)]
            op = _conv_op(layer, blobs, src, new_tensor(layer))
        elif layer.type == "ReLU":
            slope = float(layer.params.sub("relu_param").get("negative_slope", 0.0))
            op = Op("relu", layer.name, src, new_tensor(layer), attrs={"alpha": slope})
        elif layer.type == "BatchNorm":
            op = _batchnorm_op(layer, blobs, src, new_tensor(layer))
        elif layer.type == "Scale":
            override = scale if layer.name == SCALE_LAYER else None
            op = _scale_op(layer, blobs, src, new_tensor(layer), override)
        else:
            axis = int(layer.params.sub("softmax_param").get("axis", 1))
            op = Op("softmax", layer.name, src, new_tensor(layer), attrs={"axis": axis})
        ops.append(op)
        graph_output = op.output
    if graph_input is None:
        raise ConversionError("the prototxt has no Input layer")
    if graph_output is None:
        raise ConversionError("the prototxt has no layers after its input")
    return ops, graph_input, graph_output


# ---------------------------------------------------------------------------------------------
# Folding per-channel affines (BatchNorm, Scale) into convolutions, only where it is exact


def _consumers(ops: list[Op], tensor: str) -> list[Op]:
    return [op for op in ops if op.input == tensor]


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
    """Drop a node, connecting its consumers to its input."""
    ops.remove(op)
    for other in ops:
        if other.input == op.output:
            other.input = op.input
    op.output = op.input


def fold(ops: list[Op], graph_output: str) -> None:
    """Fold affines (BatchNorm, Scale) into convolutions, in place, wherever that is exact."""
    changed = True
    while changed:
        changed = False
        for op in list(ops):
            if op.kind != "affine":
                continue
            prev = _producer(ops, op.input)
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
                conv = _producer(ops, prev.input)
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


def to_onnx(ops: list[Op], graph_input: str, graph_output: str, metadata: dict[str, Any]) -> Any:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    names = {graph_input: "L", graph_output: "ab"}

    def t(name: str) -> str:
        return names.get(name, name)

    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    for op in ops:
        src, dst = t(op.input), t(op.output)
        if op.kind in ("conv", "deconv"):
            inputs = [src, const(f"{op.name}.weight", op.weight)]
            if op.bias is not None:
                inputs.append(const(f"{op.name}.bias", op.bias))
            node_type = "Conv" if op.kind == "conv" else "ConvTranspose"
            nodes.append(helper.make_node(node_type, inputs, [dst], name=op.name, **op.attrs))
        elif op.kind == "relu":
            if op.attrs["alpha"]:
                nodes.append(helper.make_node("LeakyRelu", [src], [dst], name=op.name, **op.attrs))
            else:
                nodes.append(helper.make_node("Relu", [src], [dst], name=op.name))
        elif op.kind == "softmax":
            nodes.append(helper.make_node("Softmax", [src], [dst], name=op.name, **op.attrs))
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
        "zhang_eccv16",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, [1, 1, "H", "W"])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, [1, 2, "h", "w"])],
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


def _load_hull(path: str | os.PathLike) -> np.ndarray:
    try:
        hull = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConversionError(f"cannot read the bin centres {path}: {exc}") from None
    if hull.ndim != 2 or hull.shape[1] != 2 or not np.all(np.isfinite(hull)):
        raise ConversionError(
            f"{path} must hold an N x 2 array of ab bin centres, not {hull.shape}"
        )
    return hull.astype(np.float64)


def convert(
    prototxt: str | os.PathLike,
    caffemodel: str | os.PathLike,
    hull_path: str | os.PathLike,
    temperature: float | None = None,
    winograd: bool = True,
) -> Any:
    """The ONNX model (with metadata) for a deploy prototxt, its caffemodel and bin centres.

    `winograd`: compute the wide 3x3 convolutions by Winograd's F(4x4, 3x3) (converters/
    winograd.py), 1.3x faster on the CPU with ONNX Runtime; False keeps plain Conv nodes.
    """
    if temperature is not None and not temperature > 0:
        raise ConversionError("the temperature must be a positive number")
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
    deploy = [Layer(str(n), "Input", [], [str(n)], Message()) for n in net.all("input")] + deploy
    names = {layer.name for layer in deploy}
    if temperature is not None and SCALE_LAYER not in names:
        raise ConversionError(f"--temperature needs the layer '{SCALE_LAYER}' in the prototxt")
    if DECODE_LAYER not in names:
        raise ConversionError(f"the prototxt has no '{DECODE_LAYER}' decoding layer")
    hull = _load_hull(hull_path)
    ops, graph_input, graph_output = build_ops(
        deploy, weights, hull, None if temperature is None else 1.0 / temperature
    )
    scale_op = next((op for op in ops if op.name == SCALE_LAYER), None)
    factor = float(np.mean(scale_op.scale)) if scale_op is not None else 1.0
    fold(ops, graph_output)
    files = [Path(prototxt), Path(caffemodel), Path(hull_path)]
    metadata = {
        "family": "zhang",
        "source_files": [f.name for f in files],
        "source_sha256": [sha256_file(f) for f in files],
        "converter_version": CONVERTER_VERSION,
        "l_offset": L_OFFSET,
        "l_divisor": 1.0,
        "ab_scale": 1.0,
        "temperature": 1.0 / factor,
    }
    model = to_onnx(ops, graph_input, graph_output, metadata)
    if winograd:
        winograd_rewrite(model)
    return model


def manifest_entry(model: Any, model_id: str = MODEL_ID) -> dict[str, Any]:
    """The manifest entry (without sha256/size, which save_model adds) for a converted model."""
    meta = {p.key: p.value for p in model.metadata_props}
    temperature = float(meta["temperature"])
    return {
        "id": model_id,
        "name": "Zhang et al. ECCV 2016",
        "family": "zhang",
        "file": f"{model_id}.onnx",
        "input": {
            "name": "L",
            "layout": "NCHW",
            "size": 224,
            "multiple": 8,
            "fixed_size": False,
            "l_offset": L_OFFSET,
            "l_divisor": 1.0,
        },
        "output": {"name": "ab", "layout": "NCHW", "ab_scale": 1.0, "decoding": "annealed-mean"},
        "license": "BSD-2-Clause",
        "provenance": (
            f"Caffe weights {meta['source_files']} (sha256 {meta['source_sha256']}) of Zhang, "
            f"Isola, Efros, 'Colorful Image Colorization' (ECCV 2016), converted to ONNX by "
            f"tools/convert_models.py zhang (converter {meta['converter_version']}), "
            f"annealed-mean temperature {temperature:.4f}"
            + (f", {len(json.loads(meta['winograd']))} wide 3x3 convolutions in Winograd "
               f"F(4x4, 3x3) form" if "winograd" in meta else "")
        ),
        "source_urls": [s.url for s in SOURCES],
        "install": "python3 installer.py --model zhang",
        "description": (
            "Zhang et al. (ECCV 2016): vivid colours from a classification over 313 ab bins; "
            "the reference model"
        ),
    }


def run(args: argparse.Namespace) -> int:
    model = convert(args.prototxt, args.caffemodel, args.hull, args.temperature,
                    winograd=not args.direct_convolutions)
    try:
        target = save_model(model, args.output, manifest_entry(model, args.id))
    except OSError as exc:
        raise ConversionError(f"cannot write into {args.output}: {exc}") from None
    print(f"wrote {target} and its entry '{args.id}' in {Path(args.output) / 'manifest.json'}")
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "zhang",
        help="Zhang et al. ECCV 2016 Caffe model -> ONNX",
        description="Convert the Zhang et al. (ECCV 2016) Caffe colorization model to ONNX.",
    )
    p.add_argument(
        "--prototxt", required=True, help="deploy network (colorization_deploy_v2.prototxt)"
    )
    p.add_argument(
        "--caffemodel", required=True, help="weights (colorization_release_v2.caffemodel)"
    )
    p.add_argument("--hull", required=True, help="ab bin centres (pts_in_hull.npy)")
    p.add_argument("-o", "--output", required=True, help="model folder to write into")
    p.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="annealed-mean temperature T (scale 1/T before the softmax); default: the "
        "prototxt's 2.606, i.e. T = 0.3837; higher T gives duller, safer colours",
    )
    p.add_argument(
        "--direct-convolutions",
        action="store_true",
        help="keep every 3x3 convolution a plain Conv node (by default the wide ones are "
        "written in Winograd's F(4x4, 3x3) form, the same output to float rounding and 1.3x "
        "faster on the CPU)",
    )
    p.add_argument("--id", default=MODEL_ID, help=f"model id and file name (default {MODEL_ID})")
    p.set_defaults(run=run)
