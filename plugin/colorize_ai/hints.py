"""Colour hints: the editor's painted colours, brought to a model's resolution and spread.

A hints image is RGBA (or grey + alpha) of the photo's size; a pixel's alpha is its weight and
its lightness is ignored (the photo's own L is kept). `hint_cells` gives each cell of the
model's grid the alpha-weighted mean ab of the hint pixels in it, and a mask. Families trained
on hints take the cells as input; for the others `spread_hints` spreads the hint colours
along the photo's edges over the model's prediction: the matting Laplacian of Levin,
Lischinski and Weiss ("A Closed-Form Solution to Natural Image Matting", 2008; within each
3 x 3 window the colour is an affine function of L, so it follows the photo's shading and
stops at its edges) with the hints as constraints and a weak pull towards the prediction,
solved by preconditioned conjugate gradients, coarse to fine, at the prediction's resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import BadInput
from .families import HintCells
from .lab import FULL_SCALE, rgb_to_lab, to_float

# A cell is hinted with at least half a pixel's worth of fully opaque paint in it: the faint
# fringe of a soft brush still counts, stray almost-transparent pixels do not.
MIN_WEIGHT = 0.5
BAND_PIXELS = 1 << 20  # hint pixels read per band: bounds the temporaries for a 100 MP layer

# Propagation, tuned on the validation split (123 photos, baseline-ours; tools/evaluate.py
# --hints protocol). The matting Laplacian beat the 4-neighbour edge-weighted Laplacian of
# Levin et al.'s 2004 colorization (exp(-dL^2 / 2 * 4^2)) by 0.4 dB at N = 5 and 10 hints and
# 0.1-0.2 dB at 20 to 100; 60 or 300 iterations per level changed PSNR by under 0.1 dB.
MATTING_EPS = 1e-5  # ridge on each window's slope (L in [0, 1]); 1e-6 to 3e-5 within 0.2 dB
# Pull towards the model's own prediction: a hint's influence fades over ~1/sqrt(SCREEN) = 12
# cells. 1e-3 was best for baseline-ours (of 3e-3, 1e-3, 3e-4); unet-ours, whose prediction
# is better, wants its prediction kept closer: 7e-3 with ALIKE_FLOOR 2.5 (session 9, swept on
# 40 validation photos, then +0.44 dB at N = 1 hint, +0.47 at 10, +0.09 at 50 on the other 83).
SCREEN = 7e-3
HINT_WEIGHT = 1e3  # hinted cells keep their hint colour (a soft but firm constraint)
# Look-alikes (before the spread): a hint's difference from the prediction also moves the
# prediction of cells that look like its own (similar L and predicted colour, within about
# half the picture), so one dot of sky recolours the sky behind the trees too. On 40
# validation photos (unet-ours): +0.07 dB at N = 1 and 5 hints, +0.10 at 10, -0.005 at 20,
# +0.02 at 50, +0.01 at 100 (sigmas from a grid of six settings at N = 1-20; the floor and
# SCREEN retuned together in session 9).
ALIKE_SIGMA_L = 5.0  # L units
ALIKE_SIGMA_AB = 5.0  # ab units of the prediction
ALIKE_REACH = 0.5  # the spatial sigma, as a share of the grid's long side
ALIKE_FLOOR = 2.5  # hinted cells' worth of weight that keeps the prediction as it is
ALIKE_BLOCKS = 128  # hinted cells are pooled into at most this many blocks: bounded cost
ITERATIONS_PER_LEVEL = 60
COARSEST = 16  # the coarse-to-fine solve starts at this side or below
TOLERANCE = 1e-3  # of the preconditioned residual, relative to the start's


def check_hints(hints: np.ndarray, height: int, width: int) -> None:
    """A clear error unless `hints` can be a hints image for a height x width photo."""
    if hints.dtype not in FULL_SCALE:
        raise BadInput(f"Hint pixels of type {hints.dtype} are not supported "
                       "(use uint8, uint16 or float32).")
    if hints.ndim != 3 or hints.shape[2] not in (2, 4):
        raise BadInput("Hints need transparency: paint the hint colours on a transparent "
                       f"layer (RGBA or grey + alpha), not an image of shape {hints.shape}.")
    if hints.shape[:2] != (height, width):
        raise BadInput(f"The hints image is {hints.shape[1]} x {hints.shape[0]} pixels but the "
                       f"photo is {width} x {height}; they must be the same size.")


def _weighted_ab(pixels: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """N x C hint pixels -> (alpha, alpha-weighted ab N x 2), float64."""
    values = to_float(pixels, scale)
    alpha = values[:, -1].astype(np.float64)
    rgb = values[:, :3] if values.shape[1] == 4 else np.repeat(values[:, :1], 3, axis=1)
    ab = rgb_to_lab(rgb.reshape(-1, 1, 3)).reshape(-1, 3)[:, 1:]
    return alpha, ab.astype(np.float64) * alpha[:, None]


def hint_cells(hints: np.ndarray, rows: int, cols: int) -> HintCells | None:
    """Hints (H x W x 2 or 4, the photo's size) at a rows x cols grid; None when no cell has
    enough paint (an all-transparent layer is the same as no hints)."""
    height, width = hints.shape[:2]
    scale = FULL_SCALE[hints.dtype]
    if height >= rows and width >= cols:
        # Every pixel belongs to one cell: weighted sums over the painted pixels only.
        cell_row = np.arange(height) * rows // height
        cell_col = np.arange(width) * cols // width
        weight = np.zeros(rows * cols)
        sums = np.zeros((2, rows * cols))
        band = max(1, BAND_PIXELS // width)
        for y0 in range(0, height, band):
            alpha = cv2.extractChannel(hints[y0:y0 + band], hints.shape[2] - 1)  # contiguous
            if not cv2.countNonZero(alpha):
                continue  # hints are sparse: most bands hold no paint
            ys, xs = np.nonzero(alpha)
            alpha, ab = _weighted_ab(hints[y0 + ys, xs], scale)
            index = cell_row[y0 + ys] * cols + cell_col[xs]
            weight += np.bincount(index, alpha, rows * cols)
            for c in range(2):
                sums[c] += np.bincount(index, ab[:, c], rows * cols)
        weight, sums = weight.reshape(rows, cols), sums.reshape(2, rows, cols)
    else:
        # A photo smaller than the grid: each cell takes the pixel under its centre.
        ys = np.minimum(((np.arange(rows) + 0.5) * height / rows).astype(int), height - 1)
        xs = np.minimum(((np.arange(cols) + 0.5) * width / cols).astype(int), width - 1)
        picked = hints[ys[:, None], xs[None, :]].reshape(rows * cols, -1)
        alpha, ab = _weighted_ab(picked, scale)
        weight, sums = alpha.reshape(rows, cols), ab.T.reshape(2, rows, cols)
    mask = weight >= MIN_WEIGHT
    if not mask.any():
        return None
    mean_ab = np.where(mask, sums / np.maximum(weight, 1e-12), 0.0)
    return HintCells(ab=np.ascontiguousarray(mean_ab.transpose(1, 2, 0), dtype=np.float32),
                     mask=mask.astype(np.float32))


def _window_sum(plane: np.ndarray) -> np.ndarray:
    """Each cell's sum over the 3 x 3 windows around it, zero beyond the borders."""
    return cv2.boxFilter(plane, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)


class _Matting:
    """The matting Laplacian of `lightness` over the 3 x 3 windows that lie inside the grid,
    applied without building the matrix: x minus, in each window, its least-squares affine
    fit in L, summed over the windows. Symmetric, as conjugate gradients need."""

    def __init__(self, lightness: np.ndarray) -> None:
        rows, cols = lightness.shape
        self.guide = np.ascontiguousarray(lightness / np.float32(100), dtype=np.float32)
        self.inside = np.zeros((rows, cols), np.float32)  # windows centred here are whole
        self.inside[1:-1, 1:-1] = 1.0
        self.mean = _window_sum(self.guide) / 9
        variance = np.maximum(_window_sum(self.guide * self.guide) / 9 - self.mean**2, 0)
        self.inverse = self.inside / (variance + np.float32(MATTING_EPS))
        self.count = _window_sum(self.inside)  # windows each cell belongs to
        g = self.guide
        spread = (g * g * _window_sum(self.inverse) - 2 * g * _window_sum(self.mean * self.inverse)
                  + _window_sum(self.mean**2 * self.inverse))
        self.diagonal = np.maximum(self.count * 8 / 9 - spread / 9, 1e-3)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        for c, plane in enumerate(x):
            mean = _window_sum(plane) / 9
            slope = (_window_sum(self.guide * plane) / 9 - self.mean * mean) * self.inverse
            offset = (mean - slope * self.mean) * self.inside
            out[c] = (self.count * plane - self.guide * _window_sum(slope)
                      - _window_sum(offset))
        return out


def _solve(lightness: np.ndarray, hinted: np.ndarray, target: np.ndarray,
           x: np.ndarray, iterations: int) -> np.ndarray:
    """Preconditioned (Jacobi) conjugate gradients on (SCREEN + hinted + Laplacian) x =
    target, from x, both channels at once."""
    laplacian = _Matting(lightness)
    fixed = SCREEN + hinted
    diagonal = fixed + laplacian.diagonal[None]
    residual = target - (fixed * x + laplacian(x))
    z = residual / diagonal
    direction = z.copy()
    rz = float((residual * z).sum())
    stop = TOLERANCE**2 * float((target * target / diagonal).sum())
    for _ in range(iterations):
        if rz <= stop:
            break
        product = fixed * direction + laplacian(direction)
        step = rz / float((direction * product).sum())
        x += step * direction
        residual -= step * product
        z = residual / diagonal
        rz_next = float((residual * z).sum())
        direction = z + (rz_next / rz) * direction
        rz = rz_next
    return x


def _half(plane: np.ndarray) -> np.ndarray:
    rows, cols = plane.shape[-2:]
    size = ((cols + 1) // 2, (rows + 1) // 2)
    if plane.ndim == 2:
        return cv2.resize(plane, size, interpolation=cv2.INTER_AREA)
    return np.stack([cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in plane])


def _propagate(lightness: np.ndarray, mask: np.ndarray, wanted: np.ndarray,
               prior: np.ndarray) -> np.ndarray:
    """The field (2 x h x w) that is `wanted` where mask is 1, `prior` far from the hints,
    and smooth along the edges of `lightness` in between. Solved coarse to fine (each
    level starts from the enlarged solution of the next coarser one), since plain conjugate
    gradients would need hundreds of sweeps to carry a hint across the picture."""
    rows, cols = mask.shape
    if min(rows, cols) > COARSEST:
        coarse_mask = _half(mask)
        coarse_wanted = _half(mask[None] * wanted) / np.maximum(coarse_mask, 1e-6)[None]
        coarse = _propagate(_half(lightness), coarse_mask, coarse_wanted, _half(prior))
        x = np.stack([cv2.resize(c, (cols, rows), interpolation=cv2.INTER_LINEAR)
                      for c in coarse])
    else:
        x = prior.copy()
    hinted = (mask * HINT_WEIGHT)[None].astype(np.float32)
    return _solve(lightness, hinted, hinted * wanted + SCREEN * prior, x, ITERATIONS_PER_LEVEL)


def _features(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Each cell's L, predicted ab and position, in units of their sigmas (h x w x 5)."""
    rows, cols = lightness.shape
    reach = ALIKE_REACH * max(rows, cols)
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32) / np.float32(reach)
    return np.dstack([lightness / np.float32(ALIKE_SIGMA_L), ab / np.float32(ALIKE_SIGMA_AB),
                      ys, xs]).astype(np.float32, copy=False)


def recolour_alike(lightness: np.ndarray, ab: np.ndarray, cells: HintCells) -> np.ndarray:
    """The prediction `ab` (h x w x 2) moved, at every cell, by the hints' differences from it,
    weighted by how much the cell looks like each hinted one (a Gaussian of the distance in
    L, predicted ab and position); cells like no hint keep their prediction."""
    rows, cols = cells.mask.shape
    features = _features(lightness, ab)
    # Pool the hinted cells into square blocks: mean feature and difference, and their count.
    side = max(1, int(np.ceil(np.sqrt(rows * cols / ALIKE_BLOCKS))))
    hinted = cells.mask > 0
    block = ((np.arange(rows) // side)[:, None] * -(-cols // side)
             + (np.arange(cols) // side)[None, :])[hinted]
    count = np.bincount(block).astype(np.float32)
    used = count > 0
    pooled = np.stack([np.bincount(block, v)[used] for v in features[hinted].T], axis=1)
    difference = cells.ab[hinted] - ab[hinted]
    moved = np.stack([np.bincount(block, v)[used] for v in difference.T], axis=1)
    count = count[used]
    pooled = (pooled / count[:, None]).astype(np.float32)  # float32 from here: twice as fast
    moved = (moved / count[:, None]).astype(np.float32)
    flat = features.reshape(-1, 5)
    out = ab.reshape(-1, 2).copy()
    chunk = 8192  # cells at a time: bounds the cells x blocks weight matrix
    for start in range(0, len(flat), chunk):
        f = flat[start:start + chunk]
        d2 = (f * f).sum(1)[:, None] - 2 * f @ pooled.T + (pooled * pooled).sum(1)[None]
        weight = np.exp(np.minimum(-0.5 * d2, 0)) * count[None]
        out[start:start + chunk] += (weight @ moved) / (weight.sum(1) + ALIKE_FLOOR)[:, None]
    return out.reshape(ab.shape).astype(np.float32, copy=False)


def spread_hints(lightness: np.ndarray, ab: np.ndarray, cells: HintCells,
                 alike: bool = True) -> np.ndarray:
    """The ab field (h x w x 2) that keeps the hint colours (cells at h x w), is smooth along
    the edges of `lightness` (h x w, L units) and returns to the prediction `ab` away from
    the hints. Measured on the validation photos, this beats spreading only the difference
    between hints and prediction (which keeps the prediction's own blotches between the
    hints) by 1.1-2.3 dB from N = 1 to 100 hints (tools/evaluate.py --hints). The prediction
    is first recoloured where it looks like a hinted cell (recolour_alike; alike=False leaves
    that out, which keeps the spread linear in `ab`, as training through it needs)."""
    lightness = lightness.astype(np.float32)
    prior = ab.astype(np.float32)
    if alike:
        prior = recolour_alike(lightness, prior, cells)
    field = _propagate(lightness, cells.mask.astype(np.float32),
                       cells.ab.transpose(2, 0, 1).astype(np.float32),
                       np.ascontiguousarray(prior.transpose(2, 0, 1)))
    return field.transpose(1, 2, 0)
