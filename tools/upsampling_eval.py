"""How the model's ab is enlarged to the photo, measured at the photos' full resolution
(tools/evaluate.py --upsampling).

Two measures per photo and method, PSNR on 8-bit sRGB against the photo itself:
- oracle: the photo's true ab shrunk (area average) to the default model's ab size and enlarged
  back; this isolates the enlargement;
- model: the default model's own ab for the photo.
Both keep the photo's own L, as colorize() does. `tune` runs the oracle over a grid of the
edge-aware filter's settings (on the validation photos, never the test photos).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from evaluate import SUFFIXES
from evaluate import EvaluationError as UpsamplingError

METHODS = ("bilinear", "bicubic", "edge-aware",
           EDGE_SHARP := "edge-aware, faint colour not softened")
TARGET_ORACLE_GAIN = 0.5  # dB over bilinear (issue 15)
BIG_MP = 2.0  # "big" photos: enlarged about 5x or more from the model's 256 px
CROP = 160  # side of the 100 % crops, pixels
SECTION_START = "<!-- upsampling: written by tools/evaluate.py --upsampling -->"
SECTION_END = "<!-- /upsampling -->"


def photo_files(images: Path, originals: Path | None, limit: int = 0) -> list[tuple[str, Path]]:
    """(name, file) of every photo in `images`; with `originals` (a tools/dataset.py cache),
    each prepared photo's full-resolution original, found through the index.json beside
    `images`."""
    files = sorted(f for f in images.iterdir() if f.suffix.lower() in SUFFIXES)
    if not files:
        raise UpsamplingError(f"No photos in {images}.")
    files = files[: limit or None]
    if originals is None:
        return [(f.name, f) for f in files]
    index_file = images.parent / "index.json"
    if not index_file.exists():
        raise UpsamplingError(f"No index.json beside {images} to find the originals by.")
    index = {Path(e["file"]).name: e for e in json.loads(index_file.read_text("utf-8"))}
    found = []
    for f in files:
        entry = index.get(f.name)
        source = entry and _original(originals, entry["source"], entry["path"])
        if source is None:
            raise UpsamplingError(f"The original of {f.name} is not under {originals}.")
        found.append((f.name, source))
    return found


def _original(cache: Path, source: str, path: str) -> Path | None:
    if source == "scikit-image":
        import skimage.data

        candidate = Path(skimage.data.__file__).parent / Path(path).name
    elif (cache / "github" / source / path).exists():
        candidate = cache / "github" / source / path
    else:
        candidate = cache / "extract" / source / path
    return candidate if candidate.exists() else None


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def psnr(truth: np.ndarray, guess: np.ndarray) -> float:
    """evaluate.psnr in float32 differences: a 24 MP photo's float64 copies take gigabytes."""
    mse = np.mean((truth.astype(np.float32) - guess.astype(np.float32)) ** 2, dtype=np.float64)
    return 100.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def oracle_ab(rgb: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The photo's true ab, area-averaged to rows x cols."""
    from colorize_ai.lab import rgb_to_lab

    lab = rgb_to_lab(rgb.astype(np.float32) / np.float32(255))
    return cv2.resize(lab[..., 1:], (cols, rows), interpolation=cv2.INTER_AREA)


def measure_photo(rgb: np.ndarray, model, methods=METHODS) -> dict:
    """Oracle and model PSNR of each method on one photo."""
    from colorize_ai import upsample
    from colorize_ai.pipeline import compose, model_input, predict

    def enlarge(ab: np.ndarray, method: str, small_l: np.ndarray | None = None) -> np.ndarray:
        if method == EDGE_SHARP:  # the default settings but for the softening (session 12's)
            return compose(rgb, ab, "edge-aware", small_l=small_l,
                           guided=upsample.DEFAULT._replace(soften=0.0))
        return compose(rgb, ab, method, small_l=small_l)

    rows, cols = model.input_dims(*rgb.shape[:2], 0, keep_aspect=True)
    truth_ab = oracle_ab(rgb, rows, cols)
    small_l = model_input(rgb, model)
    model_ab = predict(model, small_l)
    row = {"megapixels": rgb.shape[0] * rgb.shape[1] / 1e6, "ab": [rows, cols]}
    for method in methods:
        row[f"oracle {method}"] = psnr(rgb, enlarge(truth_ab, method))
        row[f"model {method}"] = psnr(rgb, enlarge(model_ab, method, small_l))
    return row


def run(photos: list[tuple[str, Path]], model_id: str | None, folders=None,
        big_mp: float = BIG_MP) -> dict:
    """Every photo's scores, and their means over all photos and over the big ones."""
    from colorize_ai.model import load_model

    model = load_model(model_id, device="cpu", folders=folders, variant="exact")
    rows = []
    for name, path in photos:
        rows.append({"image": name, **measure_photo(load_rgb(path), model)})
        print(json.dumps(rows[-1]), flush=True)
    keys = [k for k in rows[0] if k.startswith(("oracle", "model "))]
    groups = {"all": rows, "big": [r for r in rows if r["megapixels"] >= big_mp]}
    return {"model": model.spec.id, "big_mp": big_mp,
            "groups": {g: {"images": len(rs),
                           "megapixels": float(np.median([r["megapixels"] for r in rs])),
                           "mean": {k: float(np.mean([r[k] for r in rs])) for k in keys}}
                       for g, rs in groups.items() if rs},
            "per_image": rows}


def markdown(summary: dict, command: str, image: str | None) -> str:
    """The EVALUATION.md section: means per method, the targets, the crop."""
    groups = summary["groups"]
    lines = [
        SECTION_START, "## Colour edges: enlarging the model's colour to the photo", "",
        "The model sees the photo at 256 px; its ab is enlarged to the photo's full "
        "resolution and joined to the photo's own L (`--interpolation`). Each test photo is "
        "taken at its original full resolution; PSNR on 8-bit sRGB against the photo, "
        "averaged over photos. *Oracle*: the photo's true ab shrunk to the default model's ab "
        f"size ({summary['model']}: long side 256) and enlarged back, which isolates the "
        "enlargement; *model*: the default model's own ab. Edge-aware settings "
        f"{_settings()}, tuned on the validation photos (`--tune`); *{EDGE_SHARP}*: the "
        "same without the softening, the default until session 13, for comparison.", "",
        "    " + command, "",
        "| photos | method | oracle PSNR (dB) | vs bilinear | model PSNR (dB) | vs bilinear |",
        "|---|---|---|---|---|---|"]
    for name, group in groups.items():
        label = (f"all {group['images']}" if name == "all" else
                 f"{group['images']} of {summary['big_mp']:g} MP or more")
        label += f" (median {group['megapixels']:.1f} MP)"
        mean = group["mean"]
        for method in METHODS:
            o, m = mean[f"oracle {method}"], mean[f"model {method}"]
            lines.append(f"| {label} | {method} | {o:.2f} | "
                         f"{o - mean['oracle bilinear']:+.2f} | {m:.3f} | "
                         f"{m - mean['model bilinear']:+.3f} |")
    mean = groups["all"]["mean"]
    gain = mean["oracle edge-aware"] - mean["oracle bilinear"]
    model_gain = mean["model edge-aware"] - mean["model bilinear"]
    lines += ["", "| target (all photos) | measured | met |", "|---|---|---|",
              f"| oracle: edge-aware >= bilinear + {TARGET_ORACLE_GAIN} dB | {gain:+.2f} dB | "
              f"{'yes' if gain >= TARGET_ORACLE_GAIN else 'NO'} |",
              f"| model: edge-aware >= bilinear | {model_gain:+.4f} dB | "
              f"{'yes' if model_gain >= 0 else 'NO'} |"]
    if image:
        lines += ["", f"![An edge at 100 %: bilinear, edge-aware, the photo]({image})", "",
                  "*An edge at 100 % (" + summary.get("crop", "") + "): left the bilinear "
                  "enlargement, middle edge-aware, right the photo itself; top row from the "
                  "true colours shrunk to the model's size (oracle), bottom row from the "
                  "default model's colours.*"]
    return "\n".join(lines + [SECTION_END]) + "\n"


def _settings() -> str:
    from colorize_ai import upsample

    d = upsample.DEFAULT
    return (f"radius {d.radius}, eps {d.eps:g} / enlargement^{d.power:g}, {d.kernel} base, "
            f"colour spanning under {d.faint:g}-{d.strong:g} ab units in a 3 x 3 neighbourhood "
            f"softened (taps {d.soften:g}, {1 - 2 * d.soften:g}, {d.soften:g})")


def tail_of(doc: Path) -> str | None:
    """The section and the hand-written notes after it (to the end of doc), if there."""
    text = doc.read_text("utf-8") if doc.exists() else ""
    return SECTION_START + text.split(SECTION_START, 1)[1] if SECTION_START in text else None


def splice(doc: Path, section: str) -> None:
    """Put the section into doc, in place of its earlier copy (or at the end)."""
    text = doc.read_text("utf-8") if doc.exists() else ""
    if SECTION_START in text and SECTION_END in text:
        head, rest = text.split(SECTION_START, 1)
        text = head + section.rstrip("\n") + rest.split(SECTION_END, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    doc.write_text(text, "utf-8")


def edge_crop(photos: list[tuple[str, Path]], summary: dict, model_id: str | None,
              folders=None, side: int = CROP) -> Image.Image:
    """side x side crops at 100 %, where edge-aware gains most on the oracle in the big
    photo where it gains most: bilinear | edge-aware | photo, oracle row above model row."""
    from colorize_ai.model import load_model
    from colorize_ai.pipeline import compose, model_input, predict

    rows = summary["per_image"]
    big = [r for r in rows if r["megapixels"] >= summary["big_mp"]] or rows
    name = max(big, key=lambda r: r["oracle edge-aware"] - r["oracle bilinear"])["image"]
    rgb = load_rgb(dict(photos)[name])
    model = load_model(model_id, device="cpu", folders=folders, variant="exact")
    rows, cols = model.input_dims(*rgb.shape[:2], 0, keep_aspect=True)
    truth_ab = oracle_ab(rgb, rows, cols)
    oracle = [compose(rgb, truth_ab, m) for m in ("bilinear", "edge-aware")]
    errors = [cv2.boxFilter(np.abs(o.astype(np.float32) - rgb).sum(axis=2), -1, (side, side))
              for o in oracle]
    gain = errors[0] - errors[1]
    half = side // 2
    y, x = np.unravel_index(np.argmax(gain[half:-half, half:-half]), (
        gain.shape[0] - 2 * half, gain.shape[1] - 2 * half))
    window = (slice(y, y + side), slice(x, x + side))
    small_l = model_input(rgb, model)
    ab = predict(model, small_l)
    modelled = [compose(rgb, ab, m, small_l=small_l) for m in ("bilinear", "edge-aware")]
    top = np.concatenate([o[window] for o in oracle] + [rgb[window]], axis=1)
    bottom = np.concatenate([o[window] for o in modelled] + [rgb[window]], axis=1)
    summary["crop"] = (f"{name}, {rgb.shape[1]}x{rgb.shape[0]}, pixels "
                       f"{x}-{x + side} x {y}-{y + side}")
    return Image.fromarray(np.concatenate([top, bottom], axis=0))


def tune(photos: list[tuple[str, Path]], model_id: str | None, grid: dict[str, list],
         folders=None) -> list[dict]:
    """Oracle and model PSNR (means over the photos) for every setting of `grid` (each
    upsample.Settings field: its values to try), and bilinear's."""
    from colorize_ai import upsample
    from colorize_ai.model import load_model
    from colorize_ai.pipeline import compose, model_input, predict

    model = load_model(model_id, device="cpu", folders=folders, variant="exact")
    cases = []
    for _, path in photos:
        rgb = load_rgb(path)
        rows, cols = model.input_dims(*rgb.shape[:2], 0, keep_aspect=True)
        small_l = model_input(rgb, model)
        cases.append((rgb, oracle_ab(rgb, rows, cols), None, predict(model, small_l), small_l))

    def mean_psnr(method: str, settings=upsample.DEFAULT) -> dict[str, float]:
        return {kind: float(np.mean([psnr(c[0], compose(c[0], c[i], method, small_l=c[i + 1],
                                                        guided=settings)) for c in cases]))
                for kind, i in (("oracle", 1), ("model", 3))}

    results = [{"setting": "bilinear", **mean_psnr("bilinear")}]
    print(json.dumps(results[-1]), flush=True)
    fields = upsample.Settings._fields
    for values in itertools.product(*(grid.get(f, [getattr(upsample.DEFAULT, f)])
                                      for f in fields)):
        settings = upsample.Settings(*values)
        results.append({"setting": list(settings), **mean_psnr("edge-aware", settings)})
        print(json.dumps(results[-1]), flush=True)
    return results
