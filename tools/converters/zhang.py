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
from pathlib import Path
from typing import Any

import numpy as np

from .caffe_graph import build_ops, fold, read_caffe, to_onnx
from .common import ConversionError, SourceFile, source_metadata, write_converted
from .winograd import rewrite as winograd_rewrite

MODEL_ID = "zhang-eccv16"
L_OFFSET = 50.0
SCALE_LAYER = "conv8_313_rh"
DECODE_LAYER = "class8_ab"


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
    deploy, weights = read_caffe(prototxt, caffemodel)
    names = {layer.name for layer in deploy}
    if temperature is not None and SCALE_LAYER not in names:
        raise ConversionError(f"--temperature needs the layer '{SCALE_LAYER}' in the prototxt")
    if DECODE_LAYER not in names:
        raise ConversionError(f"the prototxt has no '{DECODE_LAYER}' decoding layer")
    hull = _load_hull(hull_path)
    # What the caffemodel lacks: the bin centres as class8_ab's weights, and the scale 1/T.
    weights = {**weights, DECODE_LAYER: [hull.T.reshape(2, -1, 1, 1), np.zeros(2)]}
    if temperature is not None:
        weights[SCALE_LAYER] = [np.array([1.0 / temperature])]
    ops, graph_input, graph_output = build_ops(deploy, weights)
    scale_op = next((op for op in ops if op.name == SCALE_LAYER), None)
    factor = float(np.mean(scale_op.scale)) if scale_op is not None else 1.0
    fold(ops, graph_output)
    metadata = {
        **source_metadata("zhang", [Path(prototxt), Path(caffemodel), Path(hull_path)]),
        "l_offset": L_OFFSET,
        "l_divisor": 1.0,
        "ab_scale": 1.0,
        "temperature": 1.0 / factor,
    }
    model = to_onnx(ops, [("L", 1)], ("ab", [1, 2, "h", "w"]),
                    {graph_input: "L", graph_output: "ab"}, "zhang_eccv16", metadata)
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
    return write_converted(model, args.output, manifest_entry(model, args.id))


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
