"""`quantize`: faster variants of an installed model, int8 for the CPU and fp16 for CUDA.

    python3 tools/convert_models.py quantize int8 --model ID --calibration PHOTOS --test PHOTOS
    python3 tools/convert_models.py quantize fp16 --model ID --test PHOTOS

int8 is ONNX Runtime's static quantization in QDQ format (weights per channel, int8 in a 7-bit
range that CPUs without VNNI compute exactly; activations uint8), calibrated on the model's own
inputs made from a folder of photos exactly as the engine makes them. fp16 keeps float32 inputs
and outputs (the engine feeds float32) and stores and computes everything inside in float16.
Either variant is written beside the source model as `<id>-int8.onnx` / `<id>-fp16.onnx` with
its own manifest entry: a copy of the source entry plus `variant_of`, `variant` ("fast"),
`precision`, `device` and `fidelity`, the CIEDE2000 difference of the engine's final RGB against
the float32 model over the --test photos.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from toolbox import Progress, sha256_file

from .common import ConversionError, save_model, set_metadata
from .subpixel import int8_interleave
from .winograd import METADATA_KEY as WINOGRAD_KEY
from .winograd import restore as winograd_restore

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
MAX_SIDE = 1024  # test photos are shrunk to this: ab comes from a 224-256 px input anyway
DEVICE = {"int8": "cpu", "fp16": "cuda"}
METHODS = ("minmax", "percentile", "entropy")


def read_photos(folder: str | os.PathLike, limit: int = 0, max_side: int = MAX_SIDE
                ) -> list[np.ndarray]:
    """RGB uint8 photos of a folder, in name order, shrunk to `max_side`."""
    import cv2

    folder = Path(folder)
    if not folder.is_dir():
        raise ConversionError(f"the photo folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    photos = []
    for path in files[:limit or None]:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        scale = max_side / max(bgr.shape[:2])
        if scale < 1:
            bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        photos.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if not photos:
        raise ConversionError(f"no readable photos ({', '.join(PHOTO_SUFFIXES)}) in {folder}")
    return photos


def model_feeds(model: Any, rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The model's inputs for a photo with the engine's default options: the engine's own
    input preparation (pipeline.model_input), so calibration sees what colorize() feeds."""
    from colorize_ai.pipeline import model_input

    return model.family.feeds(model_input(rgb, model))


def _reader(model: Any, photos: list[np.ndarray]) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    # ONNX Runtime's percentile and entropy calibrators stack each tensor's values over all
    # the inputs, which fails when photos of different proportions give them different shapes.
    mixed = len({rgb.shape[:2] for rgb in photos}) > 1

    class PhotoReader(CalibrationDataReader):
        def __init__(self) -> None:
            self._photos = iter(photos)
            self._bar = Progress("calibrating", len(photos), sys.stderr)

        def get_next(self) -> dict[str, np.ndarray] | None:
            rgb = next(self._photos, None)
            if rgb is None:
                return None
            self._bar.step()
            if mixed:  # the photos' centre squares, which the engine feeds as they are
                side = min(rgb.shape[:2])
                top, left = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
                rgb = rgb[top:top + side, left:left + side]
            return model_feeds(model, rgb)

    return PhotoReader()


def direct(source: Path) -> Any:
    """The source model with plain convolutions: Winograd's transforms (float32 CPU form)
    would widen the value ranges int8 has to cover, and CUDA has its own fast convolutions."""
    import onnx

    model = onnx.load(str(source))
    winograd_restore(model)
    return model


def to_int8(source: Path, model: Any, photos: list[np.ndarray], method: str = "percentile"
            ) -> Any:
    """The int8 QDQ model of `source`, calibrated on `photos`."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    with tempfile.TemporaryDirectory(prefix="colorize-quantize-") as tmp:
        plain = Path(tmp) / "direct.onnx"
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        graph = direct(source)
        int8_interleave(graph)  # the sub-pixel interleave in a form that stays uint8
        onnx.save(graph, str(plain))
        # Shape inference and graph fusions first, as ONNX Runtime recommends for QDQ (ONNX's
        # own shape inference: the symbolic one would need sympy).
        quant_pre_process(str(plain), str(prepared), skip_symbolic_shape=True)
        # Weights in [-64, 64] (reduce_range): on x86 CPUs without VNNI (AVX2; AVX-512 before
        # Cascade Lake; AMD before Zen 4) ONNX Runtime's uint8 x int8 kernels add pairs of
        # products in int16 (vpmaddubsw), which saturates past 32767; 2 x 255 x 64 = 32640 does
        # not. With full int8 weights baseline-ours-int8 measured mean ΔE00 3.67 on such a CPU
        # against 0.36 on a VNNI one.
        quantize_static(str(prepared), str(quantized), _reader(model, photos),
                        quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=methods[method])
        return onnx.load(str(quantized))


def _sort_nodes(graph: Any) -> None:
    """Topological order: the float16 converter appends its input Casts at the end."""
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise ConversionError("the float16 graph has a cycle or an undefined input")
        for node in ready:
            known.update(node.output)
        ordered += ready
        pending = [n for n in pending if all(n is not r for r in ready)]
    del graph.node[:]
    graph.node.extend(ordered)


def to_fp16(source: Path) -> Any:
    """The float16 model of `source`, with float32 inputs and outputs."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(direct(source), keep_io_types=True)
    _sort_nodes(model.graph)
    return model


def fidelity(reference: Any, variant: Any, photos: list[np.ndarray]) -> dict[str, Any]:
    """CIEDE2000 between the two models' final RGB (engine defaults) over `photos`."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    from colorize_ai.pipeline import colorize

    deltas = []
    bar = Progress("measuring fidelity", len(photos), sys.stderr)
    for rgb in photos:
        bar.step()
        a, b = colorize(rgb, reference), colorize(rgb, variant)
        deltas.append(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).ravel())
    d = np.concatenate(deltas)
    return {"mean_de00": round(float(d.mean()), 4),
            "p99_de00": round(float(np.percentile(d, 99)), 4),
            "max_de00": round(float(d.max()), 4), "photos": len(photos), "pixels": int(d.size)}


def _source_entry(spec: Any) -> dict[str, Any]:
    data = json.loads((spec.folder / "manifest.json").read_text(encoding="utf-8"))
    entry = next(e for e in data["models"] if e.get("id") == spec.id)
    return {k: v for k, v in entry.items()
            if k not in ("sha256", "size_bytes", "default", "folder")}


def make_variant(model_id: str, precision: str, test: str | os.PathLike,
                 calibration: str | os.PathLike | None = None,
                 models: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                 method: str = "percentile", photos: int = 32) -> tuple[Path, dict[str, Any]]:
    """Write the int8 or fp16 variant of an installed model with its manifest entry."""
    import onnx

    from colorize_ai.errors import ColorizeError
    from colorize_ai.model import load_model
    from colorize_ai.registry import get_spec

    if precision not in DEVICE:
        raise ConversionError(f"unknown precision '{precision}' (choose int8 or fp16)")
    if precision == "int8" and calibration is None:
        raise ConversionError("int8 needs --calibration, a folder of photos")
    try:
        spec = get_spec(model_id, None if models is None else [models])
        reference = load_model(spec, device="cpu", variant="exact")
    except ColorizeError as exc:
        raise ConversionError(str(exc)) from None
    test_photos = read_photos(test)
    if precision == "int8":
        calibration_photos = read_photos(calibration, photos)
        proto = to_int8(spec.path, reference, calibration_photos, method)
    else:
        proto = to_fp16(spec.path)
    meta = {p.key: p.value for p in onnx.load(str(spec.path), load_external_data=False)
            .metadata_props if p.key != WINOGRAD_KEY}
    set_metadata(proto, {**meta, "variant_of": spec.id, "precision": precision})

    variant_id = f"{spec.id}-{precision}"
    out_dir = Path(out) if out is not None else spec.folder
    out_dir.mkdir(parents=True, exist_ok=True)
    # Measure first, from a temporary file, so the manifest entry is written once, complete.
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".onnx.part")
    os.close(fd)
    try:
        onnx.save(proto, tmp)
        trial = dataclasses.replace(spec, id=variant_id, folder=out_dir, file=Path(tmp).name,
                                    sha256=sha256_file(tmp))
        trial_model = load_model(trial, device="cpu", variant="exact")
        measured = fidelity(reference, trial_model, test_photos)
    finally:
        os.unlink(tmp)
    measured["test_photos"] = Path(test).name
    how = (f"int8 static quantization (ONNX Runtime, QDQ, per-channel 7-bit weights, {method} "
           f"calibration on {len(calibration_photos)} photos of "
           f"{Path(calibration).name}/)" if precision == "int8"
           else "float16 weights and arithmetic, float32 inputs and outputs")
    source = _source_entry(spec)
    entry = {**source, "id": variant_id, "file": f"{variant_id}.onnx",
             "name": f"{source.get('name', spec.name)} ({precision}, fast)",
             "variant_of": spec.id, "variant": "fast", "precision": precision,
             "device": DEVICE[precision], "fidelity": measured,
             "provenance": f"{source.get('provenance', '')}; {how} by tools/convert_models.py "
                           f"quantize",
             "description": f"{source.get('description', spec.description)} "
                            f"({precision}: faster on {DEVICE[precision].upper()}, mean "
                            f"ΔE00 {measured['mean_de00']:.2f} from the exact model)"}
    try:
        return save_model(proto, out_dir, entry), entry
    except OSError as exc:
        raise ConversionError(f"cannot write into {out_dir}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    path, entry = make_variant(args.model, args.precision, args.test, args.calibration,
                               args.models, args.output, args.method, args.photos)
    f = entry["fidelity"]
    print(f"wrote {path} ('{entry['id']}'): mean ΔE00 {f['mean_de00']:.3f}, 99th percentile "
          f"{f['p99_de00']:.3f} against '{args.model}' over {f['photos']} photos")
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("quantize", help="int8 (CPU) or fp16 (CUDA) variant of a model",
                              description=__doc__.splitlines()[0])
    p.add_argument("precision", choices=sorted(DEVICE))
    p.add_argument("--model", required=True, help="id of the float32 model")
    p.add_argument("--models", help="folder holding it (default: the engine's search folders)")
    p.add_argument("--calibration", help="int8: folder of photos to calibrate on")
    p.add_argument("--photos", type=int, default=32, help="calibration photos used (default 32)")
    p.add_argument("--method", choices=METHODS, default="percentile",
                   help="int8 calibration (default percentile)")
    p.add_argument("--test", required=True,
                   help="folder of photos (not the calibration ones) to measure fidelity on")
    p.add_argument("-o", "--output", help="model folder to write into (default: the source's)")
    p.set_defaults(run=run)
