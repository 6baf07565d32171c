"""Colour hints: the editor's painted colours, brought to a model's resolution and spread.

A hints image is RGBA (or grey + alpha) of the photo's size; a pixel's alpha is its weight and
its lightness is ignored (the photo's own L is kept). `hint_cells` gives each cell of the
model's grid the alpha-weighted mean ab of the hint pixels in it, and a mask. Families trained
on hints take the cells as input; for the others `spread_hints` spreads the hint colours
along the photo's edges over the model's prediction: the matting Laplacian of Levin,
Lischinski and Weiss ("A Closed-Form Solution to Natural Image Matting", 2008; within each
3 x 3 window the colour is an affine function of the guide, here L and the prediction's own
ab, so it follows the photo's shading and stops at its edges and at the model's colour
edges) with the hints as constraints and a weak pull towards the prediction, solved by
preconditioned conjugate gradients, coarse to fine, at the prediction's resolution.
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
# 0.1-0.2 dB at 20 to 100; 60 or 300 iterations per level changed PSNR by under 0.1 dB (with
# L alone; with the colour guide 300 lose 0.2 dB at N = 10 and 50: stopping early smooths).
MATTING_EPS = 1e-5  # ridge on each window's slope (L in [0, 1]); 1e-6 to 3e-5 within 0.2 dB
# Pull towards the model's own prediction: a hint's influence fades over ~1/sqrt(SCREEN) = 14
# cells. 1e-3 was best for baseline-ours (of 3e-3, 1e-3, 3e-4); unet-ours, whose prediction
# is better, wants it kept closer (7e-3 with ALIKE_FLOOR 2.5 in session 9; 5e-3 with 0.5
# once the guide below took the model's colour edges, session 10).
SCREEN = 5e-3
HINT_WEIGHT = 1e3  # hinted cells keep their hint colour (a soft but firm constraint)
# The prediction's ab joins L in the Laplacian's guide, at this weight against L (both / 100):
# a hint stops where the model changed colour, not only where L changes (sky against a roof
# of the same grey). On 40 validation photos (unet-ours), against L alone: +0.07 dB at N = 1
# hint, +0.33 at 5, +0.29 at 10, +0.31 at 50 (with SCREEN and ALIKE_FLOOR retuned for it;
# weight 0.5 and 2 gave less, a ridge on the ab slopes too).
GUIDE_AB = 1.0
# Look-alikes (before the spread): a hint's difference from the prediction also moves the
# prediction of cells that look like its own (similar L and predicted colour, within about
# half the picture), so one dot of sky recolours the sky behind the trees too. On 40
# validation photos (unet-ours): +0.07 dB at N = 1 and 5 hints, +0.10 at 10, -0.005 at 20,
# +0.02 at 50, +0.01 at 100 (sigmas from a grid of six settings at N = 1-20; the floor and
# SCREEN retuned together in sessions 9 and 10).
ALIKE_SIGMA_L = 5.0  # L units
ALIKE_SIGMA_AB = 5.0  # ab units of the prediction
ALIKE_REACH = 0.5  # the spatial sigma, as a share of the grid's long side
ALIKE_FLOOR = 0.5  # hinted cells' worth of weight that keeps the prediction as it is
ALIKE_BLOCKS = 128  # hinted cells are pooled into at most this many blocks: bounded cost
ITERATIONS_PER_LEVEL = 30  # with the colour guide: as good as 60 or better (+0.02 dB at N = 10)
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


def _twice(plane: np.ndarray) -> np.ndarray:
    """An h x w plane as h x w x 2, the shape of the two ab planes it multiplies: numpy
    multiplies arrays of one shape about ten times faster than it broadcasts h x w x 1."""
    return np.repeat(plane[..., None], 2, axis=2)


def _inverse(m: np.ndarray) -> np.ndarray:
    """The inverses of symmetric 1 x 1 or 3 x 3 matrices (the guides of L alone, and of L and
    ab) held as c x c planes, in closed form: LAPACK's batched inverse takes longer than the
    whole solve."""
    if len(m) == 1:
        return 1 / m
    (a, b, c), (_, d, e), (_, _, f) = m
    cof = np.array([[d * f - e * e, c * e - b * f, b * e - c * d],
                    [c * e - b * f, a * f - c * c, b * c - a * e],
                    [b * e - c * d, b * c - a * e, a * d - b * b]])
    return cof / (a * cof[0, 0] + b * cof[0, 1] + c * cof[0, 2])


class _Matting:
    """The matting Laplacian of a guide (c x h x w: L, and the prediction's ab when it takes
    part) over the 3 x 3 windows that lie inside the grid, applied without building the
    matrix: x minus, in each window, its least-squares affine fit in the guide's channels,
    summed over the windows. Symmetric, as conjugate gradients need. With more than one
    channel it is the colour form of Levin et al.'s Laplacian (a c x c covariance per window)."""

    def __init__(self, guide: np.ndarray) -> None:
        channels, rows, cols = guide.shape
        g = np.ascontiguousarray(guide, dtype=np.float32)
        inside = np.zeros((rows, cols), np.float32)  # windows centred here are whole
        inside[1:-1, 1:-1] = 1.0
        mean = np.stack([_window_sum(plane) / 9 for plane in g])
        covariance = np.empty((channels, channels, rows, cols), np.float64)
        for i in range(channels):
            for j in range(i, channels):
                covariance[i, j] = covariance[j, i] = (
                    _window_sum(g[i] * g[j]) / 9 - mean[i] * mean[j])
            covariance[i, i] += MATTING_EPS
        inv = (_inverse(covariance) * inside).astype(np.float32)  # c x c x h x w
        count = _window_sum(inside)  # windows each cell belongs to
        # The diagonal, for the Jacobi preconditioner: count * 8/9 minus a ninth of the sum,
        # over the windows around a cell, of (g - mean)' inverse (g - mean).
        inv_mean = [sum(inv[i, j] * mean[j] for j in range(channels)) for i in range(channels)]
        quadratic = np.zeros((rows, cols), np.float32)
        for i in range(channels):
            quadratic += (g[i] * sum(g[j] * _window_sum(inv[i, j]) for j in range(channels))
                          - 2 * g[i] * _window_sum(inv_mean[i])
                          + _window_sum(mean[i] * inv_mean[i]))
        self.diagonal = np.maximum(count * 8 / 9 - quadratic / 9, 1e-3)
        # For __call__: the inverse over 9 (window sums in place of means) and its product
        # with the mean, each plane twice over, like x.
        self.scaled = [[_twice(inv[i, j] / 9) for j in range(channels)]
                       for i in range(channels)]
        self.shift = [_twice(product / 9) for product in inv_mean]
        self.planes = [(_twice(plane), _twice(m)) for plane, m in zip(g, mean)]
        self.count, self.inside = _twice(count), _twice(inside)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The Laplacian times x (h x w x 2: OpenCV filters both planes in one call).
        Each window's slope is inverse (sum(g x) - mean(g) sum(x)) / 9; the offset is
        mean(x) - slope . mean(g)."""
        total = _window_sum(x)
        sums = [_window_sum(g * x) for g, _ in self.planes]
        offset = total / 9
        out = self.count * x
        for scaled, shift, (g, m) in zip(self.scaled, self.shift, self.planes):
            slope = shift * -total
            for weight, plane in zip(scaled, sums):
                slope += weight * plane
            offset -= slope * m
            out -= g * _window_sum(slope)
        offset *= self.inside
        out -= _window_sum(offset)
        return out


def _solve(guide: np.ndarray, hinted: np.ndarray, target: np.ndarray,
           x: np.ndarray, iterations: int) -> np.ndarray:
    """Preconditioned (Jacobi) conjugate gradients on (SCREEN + hinted + Laplacian) x =
    target, from x (h x w x 2), both channels at once."""
    laplacian = _Matting(guide)
    fixed = SCREEN + hinted
    diagonal = fixed + laplacian.diagonal[..., None]
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


def _half(image: np.ndarray) -> np.ndarray:
    """Half the size (rounded up) of an h x w or h x w x c image."""
    rows, cols = image.shape[:2]
    return cv2.resize(image, ((cols + 1) // 2, (rows + 1) // 2), interpolation=cv2.INTER_AREA)


def _propagate(guide: np.ndarray, mask: np.ndarray, wanted: np.ndarray,
               prior: np.ndarray) -> np.ndarray:
    """The field (h x w x 2) that is `wanted` where mask is 1, `prior` far from the hints,
    and smooth along the edges of the `guide` (c x h x w) in between. Solved coarse to fine
    (each level starts from the enlarged solution of the next coarser one), since plain
    conjugate gradients would need hundreds of sweeps to carry a hint across the picture."""
    rows, cols = mask.shape
    if min(rows, cols) > COARSEST:
        coarse_mask = _half(mask)
        coarse_wanted = _half(mask[..., None] * wanted) / np.maximum(coarse_mask, 1e-6)[..., None]
        coarse = _propagate(np.stack([_half(g) for g in guide]), coarse_mask, coarse_wanted,
                            _half(prior))
        x = cv2.resize(coarse, (cols, rows), interpolation=cv2.INTER_LINEAR)
    else:
        x = prior.copy()
    hinted = _twice((mask * HINT_WEIGHT).astype(np.float32))
    return _solve(guide, hinted, hinted * wanted + SCREEN * prior, x, ITERATIONS_PER_LEVEL)


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
                 linear: bool = False, colour_edges: bool = True) -> np.ndarray:
    """The ab field (h x w x 2) that keeps the hint colours (cells at h x w), is smooth along
    the edges of `lightness` (h x w, L units) and of the prediction's own colour, and returns
    to the prediction `ab` away from the hints. Measured on the validation photos, this beats
    spreading only the difference between hints and prediction (which keeps the prediction's
    own blotches between the hints) by 1.1-2.3 dB from N = 1 to 100 hints
    (tools/evaluate.py --hints). The prediction is first recoloured where it looks like a
    hinted cell (recolour_alike). colour_edges=False leaves the prediction's colour out of the
    guide: a hint model's output already holds the hints, and the colour edges around each of
    them would stop the spread there. linear=True leaves out both the look-alikes and the
    colour edges, which keeps the spread linear in `ab`, as training through it needs."""
    lightness = lightness.astype(np.float32)
    prior = ab.astype(np.float32)
    guide = [lightness / np.float32(100)]
    if colour_edges and not linear:
        # The model's own colour edges stop a hint too: where it told sky from a roof of the
        # same grey, the sky's hint stays in the sky.
        guide += list(prior.transpose(2, 0, 1) * np.float32(GUIDE_AB / 100))
    if not linear:
        prior = recolour_alike(lightness, prior, cells)
    return _propagate(np.stack(guide), cells.mask.astype(np.float32),
                      cells.ab.astype(np.float32), prior)
