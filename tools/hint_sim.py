"""Simulated colour hints, for training the hint model and for the evaluation protocol.

Training (SIGGRAPH 2017's recipe): a geometric number of points per photo, each a small square
patch (1-9 px) carrying the patch's mean true ab, and a share of photos with none. Evaluation
(issue #13's protocol): N patches of 5 x 5 pixels at seeded random places, each filled with the
patch's mean true colour, as an RGBA hints image the engine reads like a painted layer.
"""

from __future__ import annotations

import cv2
import numpy as np

NO_HINTS_SHARE = 0.1  # photos trained with no hints at all, so the model colorizes without
# Geometric parameters drawn per photo: few points (p = 1/8, SIGGRAPH 2017) to many.
GEOMETRIC_P = (1 / 8, 1 / 32, 1 / 128)
PATCH_SIDES = (1, 9)  # inclusive
EVAL_PATCH = 5
EVAL_COUNTS = (0, 1, 2, 5, 10, 20, 50, 100, 200)


def _patch_means(ab: np.ndarray, tops: np.ndarray, lefts: np.ndarray, sides: np.ndarray
                 ) -> np.ndarray:
    """Mean ab of each square patch, through an integral image (N x 2)."""
    integral = cv2.integral(np.ascontiguousarray(ab, dtype=np.float32))  # (h+1) x (w+1) x 2
    bottoms, rights = tops + sides, lefts + sides
    total = (integral[bottoms, rights] - integral[tops, rights] - integral[bottoms, lefts]
             + integral[tops, lefts])
    return total / (sides * sides)[:, None]


def training_hints(ab: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hints for one training crop's true ab (h x w x 2): (hint ab h x w x 2, mask h x w)."""
    h, w = ab.shape[:2]
    hint_ab = np.zeros((h, w, 2), np.float32)
    mask = np.zeros((h, w), np.float32)
    if rng.random() < NO_HINTS_SHARE:
        return hint_ab, mask
    count = int(rng.geometric(GEOMETRIC_P[rng.integers(len(GEOMETRIC_P))]))
    sides = rng.integers(PATCH_SIDES[0], PATCH_SIDES[1] + 1, count)
    sides = np.minimum(sides, min(h, w))
    tops = (rng.random(count) * (h - sides + 1)).astype(int)
    lefts = (rng.random(count) * (w - sides + 1)).astype(int)
    means = _patch_means(ab, tops, lefts, sides)
    for top, left, side, mean in zip(tops, lefts, sides, means):
        hint_ab[top:top + side, left:left + side] = mean
        mask[top:top + side, left:left + side] = 1.0
    return hint_ab, mask


def evaluation_patches(shape: tuple[int, int], count: int, seed: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(tops, lefts) of `count` 5 x 5 patches, fixed by the seed."""
    rng = np.random.default_rng(seed)
    h, w = shape
    return (rng.integers(0, h - EVAL_PATCH + 1, count),
            rng.integers(0, w - EVAL_PATCH + 1, count))


def evaluation_hints(rgb: np.ndarray, count: int, seed: int) -> np.ndarray:
    """An RGBA hints image (uint8, the photo's size) with `count` 5 x 5 patches, each filled
    with the patch's mean true colour (mean Lab turned back into sRGB)."""
    h, w = rgb.shape[:2]
    hints = np.zeros((h, w, 4), np.uint8)
    if count == 0:
        return hints
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    tops, lefts = evaluation_patches((h, w), count, seed)
    sides = np.full(count, EVAL_PATCH)
    means = _patch_means(lab, tops, lefts, sides).reshape(-1, 1, 3).astype(np.float32)
    colours = np.clip(cv2.cvtColor(means, cv2.COLOR_Lab2RGB).reshape(-1, 3), 0, 1)
    for top, left, colour in zip(tops, lefts, np.rint(colours * 255).astype(np.uint8)):
        hints[top:top + EVAL_PATCH, left:left + EVAL_PATCH, :3] = colour
        hints[top:top + EVAL_PATCH, left:left + EVAL_PATCH, 3] = 255
    return hints
