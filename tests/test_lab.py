import itertools

import numpy as np
import pytest
from skimage import color

from colorize_ai.lab import grey_to_l, lab_to_rgb, rgb_to_lab, srgb_lightness


def _colours() -> np.ndarray:
    rng = np.random.default_rng(0)
    corners = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    return np.concatenate([corners, rng.random((5000, 3))]).astype(np.float32)[None]


def test_rgb_to_lab_matches_scikit_image():
    rgb = _colours()
    ours = rgb_to_lab(rgb)
    reference = color.rgb2lab(rgb.astype(np.float64), illuminant="D65")
    assert ours.dtype == np.float32
    assert np.abs(ours - reference).max(axis=(0, 1)) == pytest.approx([0, 0, 0], abs=0.5)


def test_lab_to_rgb_matches_scikit_image():
    lab = color.rgb2lab(_colours().astype(np.float64))
    ours = lab_to_rgb(lab.astype(np.float32))
    reference = color.lab2rgb(lab)
    assert np.abs(ours - reference).max() < 0.5 / 255


def test_round_trip_lab_rgb_lab():
    lab = rgb_to_lab(_colours())
    again = rgb_to_lab(lab_to_rgb(lab))
    # OpenCV's float path interpolates tabulated curves: ~0.4 at worst, far below a visible step.
    assert np.abs(again - lab).max() < 0.5


def test_out_of_gamut_lab_is_clipped():
    rgb = lab_to_rgb(np.array([[[50.0, 120.0, -120.0]]], np.float32))
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0


def test_grey_to_l_is_the_l_of_neutral_grey():
    g = np.linspace(0, 1, 256, dtype=np.float32)[None]
    expected = color.rgb2lab(np.repeat(g[..., None], 3, axis=2).astype(np.float64))[..., 0]
    assert np.abs(grey_to_l(g) - expected).max() < 0.5


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_srgb_lightness_is_exact(dtype):
    rng = np.random.default_rng(1)
    top = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
    pixels = (rng.random((64, 64, 4)) * top).astype(dtype)
    pixels[0, :8, :3] = np.array(list(itertools.product([0, top], repeat=3)), dtype)
    rgb = pixels[..., :3].astype(np.float64) / top
    expected = color.rgb2lab(rgb)[..., 0]
    assert np.abs(srgb_lightness(pixels) - expected).max() < 0.01
    assert np.abs(srgb_lightness(pixels) - rgb_to_lab(rgb)[..., 0]).max() < 0.5  # OpenCV's
    grey = pixels[..., 0]
    expected_grey = color.rgb2lab(np.repeat(grey[..., None], 3, 2).astype(np.float64)
                                  / top)[..., 0]
    assert np.abs(srgb_lightness(grey) - expected_grey).max() < 0.01
