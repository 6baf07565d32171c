"""`fusion`: a Keras encoder-fusion-decoder colorizer plus Inception-ResNet-v2, as one ONNX graph.

The graph has two inputs: "L" (the normalised L the encoder sees, [1, 1, H, W]) and "L_embed"
(raw L in [0, 100] at 299 x 299). From L_embed the graph itself computes the grey image the
source code gave Inception-ResNet-v2, its preprocessing and the embedding, so the engine
needs no second model and no knowledge of Inception's conventions.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from . import inception_resnet_v2
from .common import ConversionError
from .keras_h5 import KerasFile, KerasGraph, TensorRef
from .keras_onnx import OnnxGraph, Tensor, Translator, value_info
from .keras_output import add_shared_options, save

FAMILY = "fusion"
EMBED_NAME = "L_embed"
EMBED_SIZE = 299
DEFAULT_SIZE = 256

# Reference: Baldassarre et al.'s code (TF-slim logits, L scaled to [-1, 1], ab = 127 y).
# Wallner: the public Keras code (Keras softmax, raw L, ab = 128 y, Inception input
# preprocessed twice, which its weights were trained with).
PRESETS: dict[str, dict[str, Any]] = {
    "reference": {"l_offset": 50.0, "l_divisor": 50.0, "ab_scale": 127.0,
                  "embedding": "logits", "preprocess_twice": False},
    "wallner": {"l_offset": 0.0, "l_divisor": 1.0, "ab_scale": 128.0,
                "embedding": "softmax", "preprocess_twice": True},
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fusion",
        help="Keras fusion colorizer + Inception-ResNet-v2 (.h5) -> one ONNX graph",
        description="Convert a Keras fusion colorizer (encoder, RepeatVector/Reshape/"
        "Concatenate fusion, decoder; inputs L and the Inception embedding) and the "
        "Inception-ResNet-v2 weights it was trained with into one ONNX graph with inputs L "
        "and L_embed.",
    )
    parser.add_argument("h5", type=Path,
                        help="the fusion model, saved with model.save('x.h5') (or its "
                        "weights, with --json)")
    parser.add_argument("--inception", type=Path, required=True,
                        help="Inception-ResNet-v2 .h5: the Keras applications weights file "
                             "(inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5) or "
                             "a full model saved with model.save()")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="wallner",
                        help="conventions of the code the model was trained with (default: "
                             "wallner); the options below override single values")
    parser.add_argument("--embedding", choices=("softmax", "logits"),
                        help="what the fusion layer was fed: Inception's softmax scores "
                             "(Keras) or its logits (TF-slim)")
    parser.add_argument("--preprocess-twice", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="Inception input preprocessed twice (values near -1), as in "
                             "Wallner's code")
    add_shared_options(parser, FAMILY)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    model, input_info = convert(args.h5, args.inception, args.embedding, args.preprocess_twice,
                                args.json)
    sources = [args.h5, args.inception] + ([args.json] if args.json else [])
    save(model, args, FAMILY, sources, input_info,
         {"embedding": args.embedding, "preprocess_twice": args.preprocess_twice,
          "preset": args.preset})
    return 0


def convert(
    fusion_path: Path,
    inception_path: Path,
    embedding: str,
    preprocess_twice: bool,
    architecture: Path | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The ONNX model and the manifest's input fields; `architecture` as in KerasFile."""
    g = OnnxGraph()
    with KerasFile(fusion_path, architecture) as kfile:
        kgraph = kfile.graph()
        image, vector = _inputs(kgraph, fusion_path)
        with KerasFile(inception_path) as inception:
            embed = _embedding(g, inception, embedding, preprocess_twice)
        wanted = kgraph.input_shapes[vector][1]
        if wanted != embed.channels:
            raise ConversionError(
                f"{fusion_path.name} expects an embedding of {wanted} values but "
                f"{inception_path.name} gives {embed.channels} classes (the TF-slim 1001-class "
                "logits need an Inception file with 1001 classes)."
            )
        translator = Translator(g, kfile.weights)
        values = translator.run(kgraph, {image: Tensor("L", "image", 1), vector: embed})
    out = values[kgraph.outputs[0]]
    if len(kgraph.outputs) != 1 or out.kind != "image" or out.channels != 2:
        raise ConversionError(f"{fusion_path}: the model's output must be one H x W x 2 (ab) "
                              "tensor.")
    g.output("ab", out.name)
    model = g.model(
        [value_info("L", [1, 1, "H", "W"]),
         value_info(EMBED_NAME, [1, 1, EMBED_SIZE, EMBED_SIZE])],
        [value_info("ab", [1, 2] + (["H", "W"] if out.factor == 1 else ["h", "w"]))],
        FAMILY,
    )
    size = kgraph.input_shapes[image][1] or DEFAULT_SIZE
    return model, {"size": int(size), "multiple": translator.multiple, "fixed_size": False,
                   "embed_name": EMBED_NAME}


def _inputs(kgraph: KerasGraph, path: Path) -> tuple[TensorRef, TensorRef]:
    shapes = {ref: kgraph.input_shapes.get(ref) or [] for ref in kgraph.inputs}
    images = [r for r, s in shapes.items() if len(s) == 4 and s[3] == 1]
    vectors = [r for r, s in shapes.items() if len(s) == 2]
    if len(shapes) != 2 or len(images) != 1 or len(vectors) != 1:
        raise ConversionError(f"{path}: a fusion model has two inputs, L (H, W, 1) and the "
                              "embedding (E,).")
    return images[0], vectors[0]


def _embedding(g: OnnxGraph, kfile: KerasFile, kind: str, twice: bool) -> Tensor:
    """Nodes from L_embed to the Inception-ResNet-v2 embedding (softmax scores or logits)."""
    if kfile.has_model:
        kgraph = kfile.graph()
        weights = kfile.weights
    else:
        kgraph = inception_resnet_v2.build_graph(inception_resnet_v2.classes_in(kfile))
        by_layer = inception_resnet_v2.weights_by_layer(kfile, kgraph)
        weights = by_layer.__getitem__
    shape = kgraph.input_shapes.get(kgraph.inputs[0]) if len(kgraph.inputs) == 1 else None
    if not shape or len(shape) != 4 or shape[3] != 3 or shape[1] not in (None, EMBED_SIZE):
        raise ConversionError(f"{kfile.path}: Inception-ResNet-v2 must take one 299 x 299 x 3 "
                              "image.")
    last = next((c for c in kgraph.calls if c.output == kgraph.outputs[0]), None)
    if last is None or last.kind != "Dense":
        raise ConversionError(f"{kfile.path}: the Inception model must end in its Dense "
                              "classifier (not a 'notop' file).")
    x = Tensor(_inception_input(g, twice), "image", 3, (EMBED_SIZE, EMBED_SIZE))
    out = Translator(g, weights).run(kgraph, {kgraph.inputs[0]: x}, logits_of=last.name)
    logits = out[kgraph.outputs[0]]
    if kind == "logits":
        return logits
    return Tensor(g.op("Softmax", [logits.name], "embedding_softmax", axis=1), "vector",
                  logits.channels)


def _inception_input(g: OnnxGraph, twice: bool) -> str:
    """Inception's 3-channel input from raw L: the grey sRGB value v in [0, 1], then scaled.

    For a grey photo, v is exactly the pixel value the source code converted to grey and gave
    Inception. Keras' preprocess_input maps it to 2v - 1 (reference) or, applied a second
    time to an image already in [0, 1], to v / 127.5 - 1 (Wallner).
    """
    def c(hint: str, value: float) -> str:
        return g.const(hint, np.array(value, np.float32))

    lum = g.op("Clip", [EMBED_NAME, c("l_min", 0.0), c("l_max", 100.0)], "embed_l")
    # CIE L* -> relative luminance Y (linear below L = 8).
    f = g.op("Div", [g.op("Add", [lum, c("l_16", 16.0)], "embed_l16"), c("l_116", 116.0)],
             "embed_f")
    cube = g.op("Mul", [g.op("Mul", [f, f], "embed_f2"), f], "embed_f3")
    linear = g.op("Div", [lum, c("kappa", 24389.0 / 27.0)], "embed_y_linear")
    y = g.op("Where", [g.op("Greater", [lum, c("l_8", 8.0)], "embed_l_gt8"), cube, linear],
             "embed_y")
    # Relative luminance -> sRGB-encoded grey value.
    low = g.op("Mul", [y, c("srgb_slope", 12.92)], "embed_v_low")
    high = g.op("Sub", [g.op("Mul", [g.op("Pow", [y, c("inv_gamma", 1 / 2.4)], "embed_y_pow"),
                                     c("srgb_a1", 1.055)], "embed_v_scaled"),
                        c("srgb_a", 0.055)], "embed_v_high")
    v = g.op("Where", [g.op("LessOrEqual", [y, c("srgb_knee", 0.0031308)], "embed_y_low"),
                       low, high], "embed_v")
    scale = 1 / 127.5 if twice else 2.0
    x = g.op("Sub", [g.op("Mul", [v, c("inception_scale", scale)], "embed_v_scaled2"),
                     c("one", 1.0)], "inception_grey")
    return g.op("Concat", [x, x, x], "inception_input", axis=1)
