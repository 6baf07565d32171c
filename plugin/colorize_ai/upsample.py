"""Edge-aware enlargement of the model's ab, guided by the photo's own full-resolution L.

A local linear model of colour on lightness, as in the guided filter (He, Sun and Tang 2010)
and its fast form (He and Sun 2015): in every window of the model's grid, ab ~ a * L + b,
the slope a fitted by least squares on the model's ab and the photo's L at the model's size.
Enlarging loses the detail finer than the grid in both ab and L; the photo still has its L
detail, so it is put back into ab through the slope:

    ab = enlarged(ab) + bilinear(a) * (L - enlarged(L at the model's size))

ab and the small L are enlarged by the same kernel (bicubic), so where the photo is smooth
L equals its enlarged small copy and the result is the plain enlargement (the guided
filter's own output would be blurred by its windows). At an edge whose two sides differ in
colour, the slope turns the photo's sharp step of L into a sharp step of colour.

Only colour that changes clearly is enlarged sharply: where the grid's colour varies by a few
ab units at most around a cell, the cell is first softened by a small 3 x 3 average. A
model's faint colour ripples are mostly its own uncertainty, which a sharp kernel would only
make crisper (docs/EVALUATION.md). The five
planes (ab, small L, slope) are enlarged as the other interpolations are: vertically first
(photo height x grid width), then band by band horizontally, which maps rows to rows.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

_L_MID = np.float32(50.0)  # L is centred on it: float32 variances keep their precision


class Settings(NamedTuple):
    """The fit's settings; the defaults were tuned on the validation photos
    (tools/evaluate.py --upsampling --tune, docs/EVALUATION.md)."""

    radius: int = 1  # the window's radius, in pixels of the model's grid
    eps: float = 6400.0  # regularisation, in L units squared, for an enlargement of 1: a
    # window whose L varies less than this gets a smaller slope (less of the L texture)
    power: float = 2.0  # eps / enlargement ** power: little enlargement keeps close to
    # the plain one (the photo's own colour, JPEG's half-size chroma, has no finer detail
    # either), a large one follows the photo's edges
    kernel: str = "bicubic"  # of ab and the small L: "bicubic" or "bilinear"
    soften: float = 0.2  # weight of each neighbour in the 3-tap average of faint colour
    # (1 - 2 x soften at the centre; 0.1 makes the bicubic kernel about bilinear), for an
    # enlargement of 2 or more; less below, none at 1
    faint: float = 3.0  # ab units: cells whose 3 x 3 neighbourhood spans less are softened,
    strong: float = 9.0  # those spanning more kept as they are; a ramp between the two


DEFAULT = Settings()


def fit(small_l: np.ndarray, ab: np.ndarray, pixels: int,
        settings: Settings = DEFAULT) -> np.ndarray:
    """The grid: 5 x rows x cols float32 planes (a*, b*, L, slope of a*, slope of b*) from
    the model's ab and the photo's L at the same size, for a photo of `pixels` pixels."""
    if small_l.shape != ab.shape[:2]:
        raise ValueError(f"L {small_l.shape} and ab {ab.shape[:2]} differ in size.")
    size = (2 * settings.radius + 1, 2 * settings.radius + 1)
    enlargement = max(1.0, (pixels / small_l.size) ** 0.5)
    eps = np.float32(settings.eps / enlargement ** settings.power)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    # No enlargement, nothing sharpened: the softening grows with the enlargement up to 2x.
    soften = settings.soften * min(1.0, enlargement - 1.0)
    ab = _soften_faint(ab.astype(np.float32, copy=False), settings._replace(soften=soften))
    centred = small_l.astype(np.float32) - _L_MID
    mean_l = mean(centred)
    var_l = mean(centred * centred) - mean_l * mean_l
    cov = mean(ab * centred[..., None]) - mean(ab) * mean_l[..., None]
    slope = mean(cov / (np.maximum(var_l, 0) + eps)[..., None])
    return np.stack([ab[..., 0], ab[..., 1], small_l.astype(np.float32), slope[..., 0],
                     slope[..., 1]])


def _soften_faint(ab: np.ndarray, settings: Settings) -> np.ndarray:
    """ab with each cell moved towards its 3 x 3 weighted average as far as the colour of its
    neighbourhood is faint (the length of the per-channel range, max - min, in ab units)."""
    if settings.soften <= 0:
        return ab
    taps = np.array([settings.soften, 1 - 2 * settings.soften, settings.soften], np.float32)
    soft = cv2.sepFilter2D(ab, -1, taps, taps, borderType=cv2.BORDER_REFLECT)
    square = np.ones((3, 3), np.uint8)
    span = cv2.dilate(ab, square) - cv2.erode(ab, square)
    contrast = np.sqrt(np.sum(span * span, axis=2))
    ramp = max(settings.strong - settings.faint, 1e-6)
    keep = np.clip((contrast - settings.faint) / np.float32(ramp), 0, 1)[..., None]
    return soft + keep * (ab - soft)


def _flags(settings: Settings) -> tuple[int, ...]:
    base = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR}[settings.kernel]
    return (base, base, base, cv2.INTER_LINEAR, cv2.INTER_LINEAR)  # slopes: no overshoot


def tall(grid: np.ndarray, height: int, settings: Settings = DEFAULT) -> list[np.ndarray]:
    """The vertical pass: each plane enlarged to the photo's height (height x cols)."""
    cols = grid.shape[2]
    return [cv2.resize(plane, (cols, height), interpolation=flag)
            for plane, flag in zip(grid, _flags(settings))]


def rows_of(planes: list[np.ndarray], y0: int, y1: int, width: int,
            settings: Settings = DEFAULT, out: np.ndarray | None = None) -> np.ndarray:
    """The horizontal pass for rows y0..y1 (5 x (y1 - y0) x width), written into `out` if
    given: reusing it saves the page faults of fresh memory, which cost more than the
    resizing. One plane at a time: OpenCV resizes single planes fastest."""
    if out is None:
        out = np.empty((len(planes), y1 - y0, width), np.float32)
    for plane, dst, flag in zip(planes, out, _flags(settings)):
        cv2.resize(plane[y0:y1], (width, y1 - y0), dst=dst, interpolation=flag)
    return out


def apply(planes: np.ndarray, l_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The a* and b* planes for rows of the photo from their enlarged grid planes (which it
    overwrites) and their own L (rows x width)."""
    p_a, p_b, detail, a, b = planes
    np.subtract(l_rows, detail, out=detail)
    np.multiply(a, detail, out=a)
    np.multiply(b, detail, out=b)
    return np.add(a, p_a, out=a), np.add(b, p_b, out=b)
