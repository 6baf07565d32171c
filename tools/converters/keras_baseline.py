"""`baseline`: a Keras Sequential colorizer (.h5, L in, ab out) to ONNX, without TensorFlow."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import ConversionError
from .keras_h5 import KerasFile, KerasGraph
from .keras_onnx import OnnxGraph, Tensor, Translator, value_info
from .keras_output import add_shared_options, save

FAMILY = "baseline"
DEFAULT_SIZE = 256  # what the public code of this family trains at


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "baseline",
        help="Keras baseline CNN (.h5) -> ONNX",
        description="Convert a Keras .h5 colorizer (Sequential stack of Conv2D, UpSampling2D, "
        "BatchNormalization, Activation; L in, 2 channels out) to ONNX. Defaults are Emil "
        "Wallner's Beta convention: raw L in, ab = 128 * output.",
    )
    parser.add_argument("h5", type=Path,
                        help="the model, saved with Keras' model.save('x.h5') (or its "
                        "weights, with --json)")
    add_shared_options(parser, FAMILY, l_offset=0.0, l_divisor=1.0, ab_scale=128.0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model, input_info, decoding = convert(args.h5, args.json)
    sources = [args.h5] + ([args.json] if args.json else [])
    save(model, args, FAMILY, sources, input_info, {}, decoding)
    return 0


def convert(path: Path, architecture: Path | None = None) -> tuple[Any, dict[str, Any], str]:
    """The ONNX model, the manifest's input fields, and the last activation (the decoding)."""
    with KerasFile(path, architecture) as kfile:
        kgraph = kfile.graph()
        image = _single_input(kgraph, path)
        g = OnnxGraph()
        translator = Translator(g, kfile.weights)
        values = translator.run(kgraph, {image: Tensor("L", "image", 1)})
    out = values[kgraph.outputs[0]]
    if len(kgraph.outputs) != 1 or out.kind != "image" or out.channels != 2:
        raise ConversionError(f"{path}: the model's output must be one H x W x 2 (ab) tensor.")
    g.output("ab", out.name)
    model = g.model(
        [value_info("L", [1, 1, "H", "W"])],
        [value_info("ab", [1, 2] + (["H", "W"] if out.factor == 1 else ["h", "w"]))],
        FAMILY,
    )
    size = kgraph.input_shapes[image][1] or DEFAULT_SIZE
    input_info = {"size": int(size), "multiple": translator.multiple, "fixed_size": False}
    return model, input_info, _last_activation(kgraph)


def _single_input(kgraph: KerasGraph, path: Path) -> Any:
    shape = kgraph.input_shapes.get(kgraph.inputs[0]) if len(kgraph.inputs) == 1 else None
    if shape is None or len(shape) != 4 or shape[3] != 1:
        raise ConversionError(f"{path}: the model must have one input of shape (H, W, 1), the L "
                              "channel.")
    return kgraph.inputs[0]


def _last_activation(kgraph: KerasGraph) -> str:
    # Layers after it (UpSampling2D in Wallner's Beta) do not change the value range.
    for call in reversed(kgraph.calls):
        if "activation" in call.config:
            activation = call.config["activation"]
            return activation if isinstance(activation, str) else "linear"
    return "linear"

