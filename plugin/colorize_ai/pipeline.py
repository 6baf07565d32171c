"""colorize(): predict ab from a small L, keep the photo's own full-resolution L.

Only the model's ab is resized to the photo; L, and alpha, come from the photo itself. The
full-resolution work runs in bands of rows so that a 100-megapixel photo needs little more
memory than its input and output arrays.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import cv2
import numpy as np

from . import upsample
from .errors import BadInput, BadRequest
from .hints import check_hints, hint_cells, spread_hints
from .lab import FULL_SCALE, grey_to_l, lab_to_rgb, rgb_to_lab, srgb_lightness, to_float
from .model import Model
from .options import BY_NAME

# keep-aspect, the default, was measured as good as stretch: fewer pixels, no distortion.
FITS = BY_NAME["fit"].values
DEFAULT_FIT = BY_NAME["fit"].default
INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}
EDGE_AWARE = "edge-aware"  # guided by the photo's L (upsample.py)
assert set(INTERPOLATIONS) | {EDGE_AWARE} == set(BY_NAME["interpolation"].values)
DEFAULT_INTERPOLATION = BY_NAME["interpolation"].default
BAND_PIXELS = 1 << 20  # pixels per band of rows: bounds the float32 temporaries to ~50 MB
COMPOSE_THREADS = 2  # bands composed at once (each holds its temporaries)

Progress = Callable[[float, str], None]


def _from_float(rgb: np.ndarray, dtype: np.dtype, scale: float) -> np.ndarray:
    """[0, 1] floats -> the photo's dtype, rounded."""
    if dtype == np.float32:
        return rgb
    if dtype == np.uint8:
        return cv2.convertScaleAbs(rgb, alpha=scale)  # one pass; rgb is already >= 0
    return np.rint(rgb * np.float32(scale)).astype(dtype)


def _full_l(pixels: np.ndarray, colour: bool) -> np.ndarray:
    """L of full-resolution pixels (the fast, exact path)."""
    return srgb_lightness(pixels if colour or pixels.ndim == 2 else pixels[..., 0])


def _l_plane(pixels: np.ndarray, colour: bool, scale: float) -> np.ndarray:
    """L (float32, [0, 100]) of grey, grey+alpha, RGB or RGBA pixels, through OpenCV's Lab as
    the reference pipelines compute the models' input."""
    if pixels.ndim == 2:
        return grey_to_l(to_float(pixels, scale))
    if colour:
        return rgb_to_lab(to_float(pixels[..., :3], scale))[..., 0]
    return grey_to_l(to_float(pixels[..., 0], scale))


def _shrink_linear(image: np.ndarray, cols: int, rows: int, scale: float) -> np.ndarray:
    """cv2.resize(float photo, INTER_LINEAR) as reference pipelines do it, without a float
    copy of the whole photo: the horizontal pass runs in bands, then the vertical pass."""
    height, width = image.shape[:2]
    band = max(1, BAND_PIXELS // width)
    narrow = np.concatenate([
        cv2.resize(to_float(image[y0:y0 + band], scale), (cols, min(band, height - y0)),
                   interpolation=cv2.INTER_LINEAR)
        for y0 in range(0, height, band)])
    return cv2.resize(narrow, (cols, rows), interpolation=cv2.INTER_LINEAR)


def check_image(image: np.ndarray) -> None:
    if image.dtype not in FULL_SCALE:
        raise BadInput(f"Pixels of type {image.dtype} are not supported "
                       "(use uint8, uint16 or float32).")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
        raise BadInput(f"An image must be H x W grey or H x W x 1-4 channels, "
                       f"not {image.shape}.")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise BadInput(f"The image is empty ({image.shape[1]} x {image.shape[0]} pixels).")


def model_input(image: np.ndarray, model: Model, render_size: int = 0,
                fit: str = DEFAULT_FIT) -> np.ndarray:
    """The L plane the model sees (rows x cols float32, [0, 100]): the photo shrunk to the
    model's input size the way its family's reference code shrinks it."""
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    scale = FULL_SCALE[image.dtype]
    rows, cols = model.input_dims(height, width, render_size, keep_aspect=fit == "keep-aspect")
    if model.family.downscale == "linear":
        small, small_scale = _shrink_linear(image, cols, rows, scale), 1.0
    else:
        small, small_scale = cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA), scale
    if small.ndim == 3 and small.shape[2] == 1:
        small = small[..., 0]
    return _l_plane(small, channels >= 3, small_scale)


def predict(model: Model, small_l: np.ndarray, hints: np.ndarray | None = None,
            timings: dict | None = None) -> np.ndarray:
    """The model's ab for its input L, with the colour hints (the photo's size) taken as input
    by a family trained on them, and spread over the prediction for the others (and for hint
    models that ask for it). timings gets "hints": the time spent on the hints outside the
    model."""
    clock = {} if timings is None else timings
    if hints is None:
        return model.predict_ab(small_l)
    start = time.perf_counter()
    family = model.family
    cells = None
    if model.takes_hints:
        cells = hint_cells(hints, *small_l.shape)
        if cells is not None and family.spread_input:
            # Over grey, as the model was trained on it (tools/train.py spread_batch).
            cells.spread = spread_hints(small_l, np.zeros_like(cells.ab), cells, linear=True)
        clock["hints"] = time.perf_counter() - start
    ab = model.predict_ab(small_l, cells)
    if not family.spread_after:
        return ab
    start = time.perf_counter()
    if cells is None or cells.mask.shape != ab.shape[:2]:
        cells = hint_cells(hints, *ab.shape[:2])
    if cells is not None:
        if ab.shape[:2] != small_l.shape:
            small_l = cv2.resize(small_l, (ab.shape[1], ab.shape[0]),
                                 interpolation=cv2.INTER_AREA)
        ab = spread_hints(small_l, ab, cells, colour_edges=not model.takes_hints)
    clock["hints"] = clock.get("hints", 0.0) + time.perf_counter() - start
    return ab


def _edge_grid(image: np.ndarray, ab: np.ndarray, colour: bool, small_l: np.ndarray | None,
               settings: upsample.Settings) -> np.ndarray:
    """upsample.fit's grid; small_l: the photo's L at about the model's size if known (the
    model's input), else the photo is shrunk to the ab's size for it."""
    rows, cols = ab.shape[:2]
    if small_l is None:
        small = cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA)
        small_l = _full_l(small, colour)
    elif small_l.shape != (rows, cols):
        small_l = cv2.resize(small_l, (cols, rows), interpolation=cv2.INTER_AREA)
    return upsample.fit(small_l, ab, image.shape[0] * image.shape[1], settings)


def compose(image: np.ndarray, ab: np.ndarray, interpolation: str = DEFAULT_INTERPOLATION,
            progress: Progress | None = None, small_l: np.ndarray | None = None,
            guided: upsample.Settings = upsample.DEFAULT) -> np.ndarray:
    """The photo's own full-resolution L joined to `ab` enlarged to the photo; RGB (or RGBA,
    alpha copied bit for bit) of the photo's dtype. For edge-aware: small_l, the model's
    input L (saves shrinking the photo again), and the fit's settings (tools/evaluate.py
    tunes them)."""
    report = progress or (lambda fraction, stage: None)
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    colour, alpha = channels >= 3, channels in (2, 4)
    scale = FULL_SCALE[image.dtype]
    if interpolation == EDGE_AWARE:
        tall = upsample.tall(_edge_grid(image, ab, colour, small_l, guided), height, guided)
    else:
        flag = INTERPOLATIONS[interpolation]
        # Separable resize, vertical pass first (small: photo height x ab width); the
        # horizontal pass then maps rows to rows, so each band of it is exactly that band of
        # a whole resize.
        tall = cv2.resize(ab, (ab.shape[1], height), interpolation=flag)
    out = np.empty((height, width, 4 if alpha else 3), image.dtype)
    band = max(1, BAND_PIXELS // width)
    scratch = threading.local()  # each thread's planes for edge-aware, reused band to band

    def band_of_rows(y0: int, y1: int) -> None:
        l_band = _full_l(image[y0:y1], colour)
        if interpolation == EDGE_AWARE:
            if not hasattr(scratch, "planes"):
                scratch.planes = np.empty((len(tall), band, width), np.float32)
            planes = upsample.rows_of(tall, y0, y1, width, guided, scratch.planes[:, :y1 - y0])
            ab_planes = upsample.apply(planes, l_band)
        else:
            ab_planes = (cv2.resize(tall[y0:y1], (width, y1 - y0), interpolation=flag),)
        lab = cv2.merge([l_band, *ab_planes])
        rgb = _from_float(lab_to_rgb(lab), image.dtype, scale)
        if alpha:  # whole rows of `out` are contiguous: OpenCV writes them in place
            cv2.merge([rgb, image[y0:y1, :, -1]], dst=out[y0:y1])
        else:
            out[y0:y1] = rgb

    bands = [(y0, min(height, y0 + band)) for y0 in range(0, height, band)]
    # numpy and OpenCV release the GIL: bands on two threads use both cores.
    with ThreadPoolExecutor(max_workers=min(COMPOSE_THREADS, len(bands))) as pool:
        for (_, y1), done in zip(bands, [pool.submit(band_of_rows, *b) for b in bands]):
            done.result()
            report(0.5 + 0.5 * y1 / height, "compose")
    return out


def colorize(image: np.ndarray, model: Model, *, strength: float = 1.0, render_size: int = 0,
             fit: str = DEFAULT_FIT, interpolation: str = DEFAULT_INTERPOLATION,
             hints: np.ndarray | None = None, progress: Progress | None = None,
             timings: dict | None = None) -> np.ndarray:
    """Colorize a photo.

    image: H x W grey, H x W x 2 grey+alpha, H x W x 3 RGB or H x W x 4 RGBA; uint8, uint16 or
    float32 in [0, 1], sRGB-encoded. A colour photo is colorized from its L alone.
    Returns RGB (or RGBA, alpha copied bit for bit) of the input's dtype.
    strength scales the predicted ab (0: the grey photo, 1: the model's colours, up to 2).
    render_size: the model's input side (0: its default), rounded to the model's multiple.
    fit: "keep-aspect" keeps the photo's proportions (its long side at the render size);
    "stretch" squashes it into a square, as the reference pipelines do.
    interpolation: how the model's ab is enlarged to the photo: "edge-aware" (the default,
    guided by the photo's own L: upsample.py), "bilinear" or "bicubic".
    hints: colour hints, H x W x 4 RGBA or H x W x 2 grey + alpha of any supported dtype; a
    pixel's alpha is its weight, its lightness is ignored (hints.py).
    """
    image = np.asarray(image)
    check_image(image)
    if hints is not None:
        hints = np.asarray(hints)
        check_hints(hints, *image.shape[:2])
    try:
        for name, value in (("strength", strength), ("render_size", render_size), ("fit", fit),
                            ("interpolation", interpolation)):
            BY_NAME[name].check(value)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    report = progress or (lambda fraction, stage: None)
    clock = {} if timings is None else timings
    start = time.perf_counter()
    small_l = model_input(image, model, render_size, fit)
    clock["prepare"] = time.perf_counter() - start
    report(0.1, "model")

    t = time.perf_counter()
    ab = predict(model, small_l, hints, clock)
    clock["model"] = time.perf_counter() - t - clock.get("hints", 0.0)
    report(0.5, "compose")

    t = time.perf_counter()
    if strength != 1.0:
        ab *= np.float32(strength)
    out = compose(image, ab, interpolation, report, small_l)
    clock["compose"] = time.perf_counter() - t
    clock["total"] = time.perf_counter() - start
    return out
