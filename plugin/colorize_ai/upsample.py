"""Edge-aware enlargement of the model's ab, guided by the photo's own full-resolution L.

A local linear model of colour on lightness, as in the guided filter (He, Sun and Tang 2010)
and its fast form (He and Sun 2015): in every window of the model's grid, ab ~ a * L + b,
the slope a fitted by least squares on the model's ab and the photo's L at the model's size.
Enlarging loses the detail finer than the grid in both ab and L; the photo still has its L
detail, so it is put back into ab through the slope:

    ab = bilinear(ab) + bilinear(a) * (L - bilinear(L at the model's size))

Where the photo is smooth, L equals its enlarged small copy and the result is the plain
bilinear enlargement (the guided filter's own output would be blurred by its windows). At an
edge whose two sides differ in colour, the slope turns the photo's sharp step of L into a
sharp step of colour. The grid holds five planes (ab, small L, slope) enlarged together, and
each row of the result needs only two rows of the grid, so the photo is done in bands.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

_L_MID = np.float32(50.0)  # the guide is centred on it: float32 variances stay exact


class Settings(NamedTuple):
    """The fit's settings; the defaults were tuned on the validation photos
    (tools/evaluate.py --upsampling --tune, docs/EVALUATION.md)."""

    radius: int = 1  # the window's radius, in pixels of the model's grid
    eps: float = 1600.0  # regularisation, in L units squared, for an enlargement of 1: a
    # window whose L varies less than this gets a smaller slope (less of the L texture)
    power: float = 2.0  # eps / enlargement ** power: little enlargement keeps close to
    # bilinear (the photo's own colour, JPEG's half-size chroma, has no finer detail
    # either), a large one follows the photo's edges


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

    ab = ab.astype(np.float32, copy=False)
    centred = small_l.astype(np.float32) - _L_MID
    mean_l = mean(centred)
    var_l = mean(centred * centred) - mean_l * mean_l
    cov = mean(ab * centred[..., None]) - mean(ab) * mean_l[..., None]
    slope = mean(cov / (np.maximum(var_l, 0) + eps)[..., None])
    return np.stack([ab[..., 0], ab[..., 1], small_l.astype(np.float32), slope[..., 0],
                     slope[..., 1]])


def rows_of(grid: np.ndarray, y0: int, y1: int, height: int, width: int,
            out: np.ndarray | None = None) -> np.ndarray:
    """The grid's planes enlarged bilinearly to rows y0..y1 of a height x width photo
    (5 x (y1 - y0) x width, written into `out` if given: reusing it saves the page faults
    of fresh memory, which cost more than the resizing). Pixel centres map as in
    cv2.resize, and a band's rows are the same whatever the bands (the horizontal resize
    maps rows to rows)."""
    rows = grid.shape[1]
    y = (np.arange(y0, y1, dtype=np.float64) + 0.5) * (rows / height) - 0.5
    y = np.clip(y, 0, rows - 1)
    top = y.astype(np.intp)  # floor: y >= 0
    below = np.minimum(top + 1, rows - 1)
    w = (y - top).astype(np.float32)[:, None]
    if out is None:
        out = np.empty((len(grid), y1 - y0, width), np.float32)
    # One plane at a time: OpenCV resizes single planes fastest (five at once: 4x slower).
    for plane, dst in zip(grid, out):
        cv2.resize(plane[top] * (1 - w) + plane[below] * w, (width, y1 - y0), dst=dst,
                   interpolation=cv2.INTER_LINEAR)
    return out


def apply(planes: np.ndarray, l_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The a* and b* planes for rows of the photo from their enlarged grid planes (which it
    overwrites) and their own L (rows x width)."""
    p_a, p_b, detail, a, b = planes
    np.subtract(l_rows, detail, out=detail)
    np.multiply(a, detail, out=a)
    np.multiply(b, detail, out=b)
    return np.add(a, p_a, out=a), np.add(b, p_b, out=b)
