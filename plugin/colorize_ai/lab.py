"""The project's one sRGB <-> CIE Lab (D65) conversion: float32 through OpenCV.

RGB is sRGB-encoded in [0, 1]; L is in [0, 100], a and b roughly in [-128, 127]. Pillow's
"LAB" mode is an 8-bit D50 ICC Lab, a different colour space, and is never used.
"""

from __future__ import annotations

import cv2
import numpy as np


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 sRGB in [0, 1] -> H x W x 3 Lab, float32."""
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """H x W x 3 Lab -> H x W x 3 sRGB, float32, clipped to [0, 1] (out-of-gamut colours)."""
    rgb = cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def grey_to_l(grey: np.ndarray) -> np.ndarray:
    """H x W grey (sRGB-encoded, [0, 1]) -> L, float32: the L of the neutral colour (g, g, g)."""
    g = np.ascontiguousarray(grey, dtype=np.float32)
    return cv2.cvtColor(cv2.merge([g, g, g]), cv2.COLOR_RGB2Lab)[..., 0]
