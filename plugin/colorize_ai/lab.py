"""The project's sRGB <-> CIE Lab (D65) conversions, float32.

RGB is sRGB-encoded in [0, 1]; L is in [0, 100], a and b roughly in [-128, 127]. Lab <-> RGB
goes through OpenCV. The full-resolution L of a photo has a faster path of its own,
`srgb_lightness`: tables for 8/16-bit pixels and the exact CIE formula, three times faster
than OpenCV's float conversion and closer to the standard (OpenCV interpolates its curves,
up to 0.2 off in L). Pillow's "LAB" mode is an 8-bit D50 ICC Lab and is never used.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# The value of full intensity for each pixel type we read.
FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0,
              np.dtype(np.float32): 1.0}
_Y_ROW = (0.212671, 0.715160, 0.072169)  # sRGB -> Y for D65, as OpenCV uses it
_EPSILON = (6 / 29) ** 3
_KAPPA = 24389 / 27


def to_float(pixels: np.ndarray, scale: float) -> np.ndarray:
    """Pixels divided by their full scale, as float32 in [0, 1] (float photos may hold HDR or
    negative values: clipped)."""
    out = pixels.astype(np.float32)
    if scale != 1.0:
        out *= np.float32(1.0 / scale)
    return np.clip(out, 0.0, 1.0, out=out)


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


def _linear(encoded: np.ndarray) -> np.ndarray:
    """sRGB decoding (float64 or float32 in [0, 1])."""
    return np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)


def _l_from_y(y: np.ndarray) -> np.ndarray:
    out = np.cbrt(y)
    out *= 116
    out -= 16
    np.multiply(y, _KAPPA, out=out, where=y <= _EPSILON)
    return out


@lru_cache(maxsize=4)
def _tables(levels: int) -> tuple[np.ndarray, ...]:
    """Per-channel contributions to Y for every 8- or 16-bit level, and L for grey levels."""
    linear = _linear(np.arange(levels, dtype=np.float64) / (levels - 1))
    per_channel = tuple((linear * k).astype(np.float32) for k in _Y_ROW)
    grey = _l_from_y(linear).astype(np.float32)
    return per_channel + (grey,)


def srgb_lightness(pixels: np.ndarray) -> np.ndarray:
    """L (float32) of grey (H x W) or colour (H x W x 3 or more, first three RGB) pixels:
    uint8, uint16, or float32 in [0, 1]."""
    colour = pixels.ndim == 3
    if pixels.dtype == np.uint8:  # OpenCV's table look-ups: a third of numpy's time
        r, g, b, grey = _tables(256)
        if not colour:
            return cv2.LUT(np.ascontiguousarray(pixels), grey.reshape(1, 256))
        # cvtColor drops alpha six times faster than a numpy copy of pixels[..., :3]
        rgb = pixels if pixels.shape[2] == 3 else cv2.cvtColor(pixels, cv2.COLOR_RGBA2RGB)
        lut = np.stack([r, g, b], axis=-1).reshape(1, 256, 3)  # OpenCV 4 and 5 read it alike
        y = cv2.transform(cv2.LUT(rgb, lut), np.ones((1, 3), np.float32))
        return _l_from_y(y)
    if pixels.dtype == np.uint16:
        r, g, b, grey = _tables(65536)
        if not colour:
            return grey[pixels]
        y = r[pixels[..., 0]]
        y += g[pixels[..., 1]]
        y += b[pixels[..., 2]]
        return _l_from_y(y)
    encoded = np.clip(pixels.astype(np.float32), 0, 1)
    linear = _linear(encoded)
    y = linear if not colour else (_Y_ROW[0] * linear[..., 0] + _Y_ROW[1] * linear[..., 1]
                                   + _Y_ROW[2] * linear[..., 2])
    return _l_from_y(y.astype(np.float32))
