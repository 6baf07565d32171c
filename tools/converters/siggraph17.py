"""`siggraph17`: Zhang, Zhu, Isola, Geng, Lin, Yu, Efros (SIGGRAPH 2017) interactive
colorization, Caffe -> ONNX, without Caffe.

The published network (deploy_nodist.prototxt of junyanz/interactive-deep-colorization) has
one input, data_l_ab_mask: L - 50, the hints' a and b (0 without a hint) and the hint mask
times 110 (data/colorize_image.py, ColorizeImageCaffe: l_mean 50, ab_norm 1, mask_mult 110).
The ONNX graph takes the engine's three inputs instead, "L" (L - 50), "ab_hint" (ab units) and
"mask" (1 where a hint is), and builds data_l_ab_mask itself; its output "ab" ([1, 2, H, W],
H and W multiples of 8) is pred_ab, the TanH times the caffemodel's Scale value, in ab units.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .caffe_graph import Op, build_ops, fold, read_caffe, to_onnx
from .caffe_proto import CaffeFormatError, Layer, net_layers, read_caffemodel
from .common import ConversionError, SourceFile, source_metadata, write_converted
from .winograd import rewrite as winograd_rewrite

MODEL_ID = "siggraph17"
PTH_MODEL_ID = "siggraph17-pytorch"
PTH_URL = "https://colorizers.s3.us-east-2.amazonaws.com/siggraph17-df00044c.pth"
L_OFFSET = 50.0
MASK_MULT = 110.0
INPUT_LAYER = "data_l_ab_mask"
SCALE_LAYER = "pred_ab"
REPOSITORY = "https://github.com/junyanz/interactive-deep-colorization"
PTH_REPOSITORY = "https://github.com/richzhang/colorization"
PROTOTXT_URL = ("https://raw.githubusercontent.com/junyanz/interactive-deep-colorization/"
                "0ee4d11f06d77765d777c0cf90e34278db99e621/models/reference_model/"
                "deploy_nodist.prototxt")
CAFFEMODEL_URL = "http://colorization.eecs.berkeley.edu/siggraph/models/model.caffemodel"
SCALE_VALUE = 100.0  # the prototxt's filler; its lr_mult 0 kept it so in training

# The published architecture's trained blobs, written out here (not read from the prototxt) for
# the structural check of a caffemodel whose source publishes no checksum.
_CONVS = {  # name: (outputs, inputs per group, kernel)
    "bw_conv1_1": (64, 1, 3), "ab_conv1_1": (64, 3, 3), "conv1_2": (64, 64, 3),
    "conv2_1": (128, 64, 3), "conv2_2": (128, 128, 3), "conv3_1": (256, 128, 3),
    "conv3_2": (256, 256, 3), "conv3_3": (256, 256, 3), "conv4_1": (512, 256, 3),
    **{f"conv{i}_{j}": (512, 512, 3) for i in (4, 5, 6, 7) for j in (1, 2, 3)
       if (i, j) != (4, 1)},
    "conv3_3_short": (256, 256, 3), "conv8_2": (256, 256, 3), "conv8_3": (256, 256, 3),
    "conv2_2_short": (128, 128, 3), "conv9_2": (128, 128, 3), "conv1_2_short": (128, 64, 3),
    "conv10_2": (128, 128, 3), "conv10_ab": (2, 128, 1),
}  # fmt: skip
_SUBSAMPLE = {"conv1_2norm_ss": 64, "conv2_2norm_ss": 128, "conv3_3norm_ss": 256}
_DECONVS = {"conv8_1": (512, 256), "conv9_1": (256, 128), "conv10_1": (128, 128)}
_NORMS = {"conv1_2norm": 64, "conv2_2norm": 128, "conv3_3norm": 256, "conv4_3norm": 512,
          "conv5_3norm": 512, "conv6_3norm": 512, "conv7_3norm": 512, "conv8_3norm": 256,
          "conv9_2norm": 128}
BLOB_SHAPES: dict[str, list[tuple[int, ...]]] = {
    **{n: [(o, i, k, k), (o,)] for n, (o, i, k) in _CONVS.items()},
    **{n: [(c, 1, 1, 1)] for n, c in _SUBSAMPLE.items()},
    **{n: [(i, o, 4, 4), (o,)] for n, (i, o) in _DECONVS.items()},
    **{n: [(c,), (c,), (1,)] for n, c in _NORMS.items()},
    SCALE_LAYER: [(1,)],
}
WEIGHT_BYTES = 4 * sum(int(np.prod(s)) for shapes in BLOB_SHAPES.values() for s in shapes)

SOURCES = (
    SourceFile("deploy_nodist.prototxt", PROTOTXT_URL, 19190,
               "7d8828a29ec3b711db33e37fa1f46ce5dd5ac3c13a71961b6b61a5443e4cc75e"),
    # No size or checksum is published: the server's size must at least hold the weights
    # above (a training snapshot may hold more layers), and check_caffemodel must pass.
    SourceFile("model.caffemodel", CAFFEMODEL_URL, 0, "", min_size=WEIGHT_BYTES,
               max_size=400_000_000),
)
# The PyTorch port: torch.hub names it after the first 8 hex digits of its sha256; the whole
# hash and the size are those OpenVINO's Open Model Zoo pins (colorization-siggraph/model.yml).
PTH_SOURCES = (
    SourceFile("siggraph17-df00044c.pth", PTH_URL, 136787426,
               "df00044c0a4d7c3edcecf6f75437ce346a66e7a42612d9b968e1a7e17dbc6f66"),
)
# Winograd pays for 3x3 convolutions of this many channels or more (docs/BENCHMARKS.md).
WINOGRAD_MIN_CHANNELS = 256


def check_caffemodel(path: str | os.PathLike) -> None:
    """Refuse a caffemodel that is not the published network: every layer of BLOB_SHAPES with
    blobs of those shapes (legacy 4-D blob dimensions accepted), finite weights, the Scale
    value 100. Raises ConversionError saying what differs."""
    try:
        layers = net_layers(read_caffemodel(str(path)), test_only=False)
    except OSError as exc:
        raise ConversionError(f"cannot read it: {exc}") from None
    except CaffeFormatError as exc:
        raise ConversionError(f"not a caffemodel: {exc}") from None
    blobs = {layer.name: layer.blobs for layer in layers if layer.blobs}
    for name, shapes in BLOB_SHAPES.items():
        have = blobs.get(name)
        if have is None:
            raise ConversionError(f"it has no layer '{name}' with weights")
        squeezed = [tuple(d for d in b.shape if d != 1) for b in have]
        if squeezed != [tuple(d for d in s if d != 1) for s in shapes]:
            raise ConversionError(
                f"layer '{name}' has blobs of shapes {[b.shape for b in have]}, not {shapes}")
        if not all(np.all(np.isfinite(b)) for b in have):
            raise ConversionError(f"layer '{name}' has weights that are not finite numbers")
    scale = float(blobs[SCALE_LAYER][0].reshape(-1)[0])
    if scale != SCALE_VALUE:
        raise ConversionError(f"its '{SCALE_LAYER}' scale is {scale:g}, not {SCALE_VALUE:g}")


def _input_ops(layer: Layer, mask_mult: float) -> list[Op]:
    """data_l_ab_mask from the engine's inputs: concat(L, ab_hint, mask x mask_mult)."""
    dims = [int(d) for d in layer.params.sub("input_param").sub("shape").all("dim")]
    if len(dims) == 4 and dims[1] != 4:
        raise ConversionError(
            f"the input '{layer.name}' has {dims[1]} channels; this network takes 4 "
            f"(L, a, b, mask)"
        )
    return [Op("affine", "mask_mult", ["mask"], "mask_scaled", scale=np.array(mask_mult)),
            Op("concat", "data_l_ab_mask", ["L", "ab_hint", "mask_scaled"], layer.top[0],
               attrs={"axis": 1})]


def convert(
    prototxt: str | os.PathLike,
    caffemodel: str | os.PathLike,
    winograd: bool = True,
    mask_mult: float = MASK_MULT,
) -> Any:
    """The ONNX model (with metadata) for the deploy prototxt and its caffemodel.

    `winograd`: the wide 3x3 convolutions in Winograd's F(4x4, 3x3) form (converters/
    winograd.py); False keeps plain Conv nodes.
    """
    deploy, weights = read_caffe(prototxt, caffemodel)
    inputs = [layer for layer in deploy if layer.type == "Input"]
    if len(inputs) != 1:
        raise ConversionError("the prototxt must have exactly one input, data_l_ab_mask")
    if SCALE_LAYER not in {layer.name for layer in deploy}:
        raise ConversionError(f"the prototxt has no '{SCALE_LAYER}' output layer")
    ops, graph_input, graph_output = build_ops(deploy, weights)
    ops = _input_ops(inputs[0], mask_mult) + ops
    scale_op = next(op for op in ops if op.name == SCALE_LAYER)
    if scale_op.scale is None or scale_op.scale.ndim != 0 or scale_op.shift is not None:
        raise ConversionError(f"'{SCALE_LAYER}' must scale by one number, without a bias")
    fold(ops, graph_output)
    metadata = {
        **source_metadata("siggraph17", [Path(prototxt), Path(caffemodel)]),
        "l_offset": L_OFFSET,
        "l_divisor": 1.0,
        "hint_divisor": 1.0,
        "mask_offset": 0.0,
        "mask_mult": mask_mult,
        "ab_scale": 1.0,
        "pred_ab_scale": float(scale_op.scale),
    }
    model = to_onnx(ops, [("L", 1), ("ab_hint", 2), ("mask", 1)], ("ab", [1, 2, "H", "W"]),
                    {graph_output: "ab"}, "siggraph17", metadata)
    if winograd:
        winograd_rewrite(model, min_channels=WINOGRAD_MIN_CHANNELS)
    return model


def manifest_entry(model: Any, model_id: str = MODEL_ID) -> dict[str, Any]:
    """The manifest entry (without sha256/size, which save_model adds) for a converted model,
    of the Caffe files or of the PyTorch port (siggraph17_torch.py)."""
    meta = {p.key: p.value for p in model.metadata_props}
    files = json.loads(meta["source_files"])
    digests = json.loads(meta["source_sha256"])
    pytorch = files[0].endswith(".pth")
    sources = ", ".join(f"{f} (sha256 {d})" for f, d in zip(files, digests))
    if pytorch:
        what = (f"the authors' PyTorch port (richzhang/colorization, BSD-2-Clause), {sources}, "
                f"converted to ONNX by tools/convert_models.py siggraph17 --pth")
    else:
        what = (f"Caffe network and weights, {sources}; the source publishes no checksum of "
                f"the caffemodel. Converted to ONNX by tools/convert_models.py siggraph17; "
                f"hint mask x {float(meta['mask_mult']):g} and pred_ab scale "
                f"{float(meta['pred_ab_scale']):g} inside the graph")
    return {
        "id": model_id,
        "name": "Zhang et al. SIGGRAPH 2017 (hints" + (", PyTorch port)" if pytorch else ")"),
        "family": "siggraph17",
        "file": f"{model_id}.onnx",
        "input": {
            "name": "L",
            "layout": "NCHW",
            "size": 256,
            "multiple": 8,
            "fixed_size": False,
            "l_offset": float(meta["l_offset"]),
            "l_divisor": float(meta["l_divisor"]),
            "hint_name": "ab_hint",
            "mask_name": "mask",
            "hint_divisor": float(meta["hint_divisor"]),
            "mask_offset": float(meta["mask_offset"]),
        },
        "output": {"name": "ab", "layout": "NCHW", "ab_scale": float(meta["ab_scale"]),
                   "decoding": "tanh"},
        "license": "BSD-2-Clause" if pytorch else "MIT",
        "provenance": (
            "Zhang, Zhu, Isola, Geng, Lin, Yu, Efros, 'Real-Time User-Guided Image Colorization "
            f"with Learned Deep Priors' (SIGGRAPH 2017): {what} (converter "
            f"{meta['converter_version']})"
            + (f", {len(json.loads(meta['winograd']))} wide 3x3 convolutions in Winograd "
               f"F(4x4, 3x3) form" if "winograd" in meta else "")
        ),
        "source_urls": [PTH_URL, PTH_REPOSITORY] if pytorch else [CAFFEMODEL_URL, REPOSITORY],
        "install": "python3 installer.py --model " + (PTH_MODEL_ID if pytorch else MODEL_ID),
        "description": (
            "Zhang et al. (SIGGRAPH 2017): takes colour hints; plausible colours without them"
            + ("; the authors' retrained PyTorch weights." if pytorch
               else "; about 136 MB download, not shipped.")
        ),
    }


def run(args: argparse.Namespace) -> int:
    if args.pth and (args.prototxt or args.caffemodel):
        raise ConversionError("give either --pth or --prototxt and --caffemodel, not both")
    if args.pth:
        from . import siggraph17_torch

        model = siggraph17_torch.convert(args.pth, winograd=not args.direct_convolutions)
    elif args.prototxt and args.caffemodel:
        model = convert(args.prototxt, args.caffemodel, winograd=not args.direct_convolutions)
    else:
        raise ConversionError("give --prototxt and --caffemodel (or --pth)")
    model_id = args.id or (PTH_MODEL_ID if args.pth else MODEL_ID)
    return write_converted(model, args.output, manifest_entry(model, model_id))
def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "siggraph17",
        help="Zhang et al. SIGGRAPH 2017 interactive Caffe model -> ONNX",
        description="Convert the Zhang et al. (SIGGRAPH 2017) interactive colorization Caffe "
        "model (it takes colour hints) to ONNX.",
    )
    p.add_argument("--prototxt", help="deploy network (deploy_nodist.prototxt)")
    p.add_argument("--caffemodel", help="weights (model.caffemodel)")
    p.add_argument("--pth", help="instead: the authors' PyTorch port (siggraph17-df00044c.pth), "
                   "read without torch")
    p.add_argument("-o", "--output", required=True, help="model folder to write into")
    p.add_argument(
        "--direct-convolutions",
        action="store_true",
        help="keep every 3x3 convolution a plain Conv node (by default the wide ones are "
        "written in Winograd's F(4x4, 3x3) form, the same output to float rounding)",
    )
    p.add_argument("--id", help=f"model id and file name (default {MODEL_ID}, with --pth "
                   f"{PTH_MODEL_ID})")
    p.set_defaults(run=run)
