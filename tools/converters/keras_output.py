"""What the two Keras subcommands share: their output options, metadata and manifest entry."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from toolbox import sha256_file

from .common import CONVERTER_VERSION, save_model, set_metadata
from .subpixel import rewrite as subpixel_rewrite
from .winograd import rewrite as winograd_rewrite


def add_shared_options(parser: argparse.ArgumentParser, family: str, **defaults: float) -> None:
    """Options for a weights-only .h5, where the model goes, its manifest entry and its
    preprocessing constants."""
    parser.add_argument("--json", type=Path,
                        help="the architecture (model.to_json()) when the .h5 holds weights "
                             "only, as saved by model.save_weights()")
    parser.add_argument("-o", "--output", type=Path, default=Path("models"),
                        help="model folder to write the .onnx file and manifest.json into "
                             "(default: models/)")
    parser.add_argument("--id", help=f"model id (default: {family}-<name of the .h5 file>)")
    parser.add_argument("--name", help="display name (default: the id)")
    parser.add_argument("--description", default="", help="one line for --list-models")
    parser.add_argument("--license", default="unknown", help="license of the weights")
    parser.add_argument("--provenance", default="",
                        help="what the weights are (default: names the source files)")
    parser.add_argument("--source-url", action="append", default=[],
                        help="where the weights came from (repeatable)")
    parser.add_argument("--direct-convolutions", action="store_true",
                        help="keep every convolution as Keras computes it (by default each "
                             "UpSampling2D + 3x3 Conv2D pair is one 2x2 convolution at the low "
                             "resolution, and 3x3 convolutions of 256+ channels are in Winograd "
                             "form: the same output to float rounding, faster on the CPU)")
    for key, help_text in (
        ("l_offset", "L offset: the model input is (L - offset) / divisor"),
        ("l_divisor", "L divisor: the model input is (L - offset) / divisor"),
        ("ab_scale", "ab = model output * ab_scale"),
    ):
        default = defaults.get(key)
        parser.add_argument("--" + key.replace("_", "-"), type=float, default=default,
                            help=f"{help_text}" + (f" (default: {default:g})" if default is not None
                                                   else ""))


def default_id(family: str, source: Path) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", source.stem.lower()).strip("-")
    return f"{family}-{slug or 'model'}"


def save(
    model: Any,
    args: argparse.Namespace,
    family: str,
    sources: list[Path],
    input_info: dict[str, Any],
    extra_metadata: dict[str, Any],
    decoding: str = "tanh",
) -> Path:
    """Write metadata, then the model and its manifest entry into args.output."""
    model_id = args.id or default_id(family, sources[0])
    set_metadata(model, {
        "family": family,
        "source_files": [p.name for p in sources],
        "source_sha256": [sha256_file(p) for p in sources],
        "converter_version": CONVERTER_VERSION,
        "l_offset": args.l_offset,
        "l_divisor": args.l_divisor,
        "ab_scale": args.ab_scale,
        **extra_metadata,
    })
    # After the metadata: each rewrite records itself there (winograd for quantize's restore).
    folded = 0 if args.direct_convolutions else subpixel_rewrite(model)
    wide = 0 if args.direct_convolutions else winograd_rewrite(model)
    entry = {
        "id": model_id,
        "name": args.name or model_id,
        "family": family,
        "file": f"{model_id}.onnx",
        "input": {"name": "L", "layout": "NCHW", **input_info,
                  "l_offset": args.l_offset, "l_divisor": args.l_divisor},
        "output": {"name": "ab", "layout": "NCHW", "ab_scale": args.ab_scale,
                   "decoding": decoding},
        "license": args.license,
        "provenance": (args.provenance or "converted by tools/convert_models.py from "
                       + ", ".join(p.name for p in sources))
        + (f"; {folded} UpSampling2D + Conv2D pairs computed at the low resolution "
           "(sub-pixel form)" if folded else "")
        + (f"; {wide} wide 3x3 convolutions in Winograd F(4x4, 3x3) form" if wide else ""),
        "source_urls": args.source_url,
        "description": args.description,
    }
    path = save_model(model, args.output, entry)
    print(f"wrote {path} (id {model_id})")
    return path
