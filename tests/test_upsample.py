"""The edge-aware enlargement (upsample.py) and its use as colorize()'s interpolation."""

import cv2
import numpy as np
import pytest

from colorize_ai import pipeline, upsample
from colorize_ai.cli import main
from colorize_ai.lab import rgb_to_lab
from colorize_ai.model import load_model
from colorize_ai.options import BY_NAME
from colorize_ai.pipeline import colorize, compose

LEFT_AB, RIGHT_AB = (30.0, 25.0), (-25.0, -20.0)


def _step_photo(height=240, width=320, edge=157):
    """A grey photo with a vertical step of lightness at column `edge`, and its true ab: one
    colour left of the step, another right of it."""
    grey = np.full((height, width), 70, np.uint8)
    grey[:, edge:] = 190
    ab = np.empty((height, width, 2), np.float32)
    ab[:, :edge], ab[:, edge:] = LEFT_AB, RIGHT_AB
    return grey, ab


def _shrunk(ab, rows, cols):
    return cv2.resize(ab, (cols, rows), interpolation=cv2.INTER_AREA)


def _enlarged_ab(grey, small_ab, interpolation):
    return rgb_to_lab(compose(grey, small_ab, interpolation).astype(np.float32) / 255)[..., 1:]


def _transition_width(row: np.ndarray) -> int:
    """Columns where a* is strictly between 20 % and 80 % of the way between the sides."""
    t = (row - RIGHT_AB[0]) / (LEFT_AB[0] - RIGHT_AB[0])
    return int(np.count_nonzero((t > 0.2) & (t < 0.8)))


def test_a_step_of_lightness_gets_a_sharp_step_of_colour():
    grey, true_ab = _step_photo()
    small = _shrunk(true_ab, 24, 32)  # 10x smaller: the colour step is one mixed column
    plain = _enlarged_ab(grey, small, "bilinear")
    edge = _enlarged_ab(grey, small, "edge-aware")
    row = grey.shape[0] // 2
    assert _transition_width(plain[row, :, 0]) >= 8
    assert _transition_width(edge[row, :, 0]) <= 1
    # ...and closer to the truth on both sides (the regularisation leaves a little of the
    # plain enlargement's ramp next to the edge)
    assert np.abs(edge - true_ab).max() < 12 < 20 < np.abs(plain - true_ab).max()
    assert np.abs(edge - true_ab).mean() < 0.6 * np.abs(plain - true_ab).mean()


def _enlarge(grid, height, width, settings=upsample.DEFAULT, l_full=None):
    planes = upsample.rows_of(upsample.tall(grid, height, settings), 0, height, width, settings)
    return planes if l_full is None else upsample.apply(planes, l_full)


def test_constant_colour_stays_constant_over_a_textured_photo():
    rng = np.random.default_rng(3)
    small_l = (rng.random((30, 40)) * 100).astype(np.float32)
    ab = np.empty((30, 40, 2), np.float32)
    ab[:] = (12.5, -40.0)
    grid = upsample.fit(small_l, ab, 300 * 400)
    l_full = (rng.random((300, 400)) * 100).astype(np.float32)
    a, b = _enlarge(grid, 300, 400, l_full=l_full)
    assert np.abs(a - 12.5).max() < 1e-3 and np.abs(b + 40.0).max() < 1e-3


@pytest.mark.parametrize("kernel, flag", [("bicubic", cv2.INTER_CUBIC),
                                          ("bilinear", cv2.INTER_LINEAR)])
def test_a_photo_of_even_lightness_gets_the_plain_enlargement(kernel, flag):
    rng = np.random.default_rng(4)
    ab = (rng.random((20, 30, 2)) * 80 - 40).astype(np.float32)
    settings = upsample.Settings(kernel=kernel)
    grid = upsample.fit(np.full((20, 30), 55.0, np.float32), ab, 200 * 300, settings)
    a, b = _enlarge(grid, 200, 300, settings, np.full((200, 300), 55.0, np.float32))
    expected = cv2.resize(ab, (300, 200), interpolation=flag)
    assert np.abs(np.dstack([a, b]) - expected).max() < 1e-3


def test_faint_colour_is_softened_and_a_strong_step_kept():
    flat = np.full((20, 30), 55.0, np.float32)
    l_full = np.full((200, 300), 55.0, np.float32)
    rng = np.random.default_rng(6)
    faint = (rng.random((20, 30, 2)) * 2).astype(np.float32)  # ripples of 2 ab units at most
    plain = cv2.resize(faint, (300, 200), interpolation=cv2.INTER_CUBIC)
    soft = np.dstack(_enlarge(upsample.fit(flat, faint, 200 * 300), 200, 300, l_full=l_full))
    assert soft.std() < 0.6 * plain.std()
    assert abs(soft.mean() - plain.mean()) < 0.01  # averaged, not faded
    sharp = upsample.DEFAULT._replace(soften=0.0)
    kept = np.dstack(_enlarge(upsample.fit(flat, faint, 200 * 300, sharp), 200, 300, sharp,
                              l_full))
    assert np.abs(kept - plain).max() < 1e-3
    step = np.empty((20, 30, 2), np.float32)
    step[:, :15], step[:, 15:] = LEFT_AB, RIGHT_AB
    out = np.dstack(_enlarge(upsample.fit(flat, step, 200 * 300), 200, 300, l_full=l_full))
    assert np.abs(out - cv2.resize(step, (300, 200), interpolation=cv2.INTER_CUBIC)).max() < 1e-3
    # no enlargement, no softening: the model's own colour, cell for cell
    assert np.array_equal(upsample.fit(flat, faint, 20 * 30)[:2], faint.transpose(2, 0, 1))


def test_planes_are_opencvs_enlargement_whatever_the_bands():
    rng = np.random.default_rng(5)
    grid = rng.random((5, 17, 23)).astype(np.float32)
    whole = _enlarge(grid, 97, 301)
    flags = [cv2.INTER_CUBIC] * 3 + [cv2.INTER_LINEAR] * 2  # the slopes: no overshoot
    expected = np.stack([cv2.resize(p, (301, 97), interpolation=f) for p, f in zip(grid, flags)])
    assert np.abs(whole - expected).max() < 1e-4
    tall = upsample.tall(grid, 97)
    banded = np.concatenate([upsample.rows_of(tall, y, min(y + 10, 97), 301)
                             for y in range(0, 97, 10)], axis=1)
    assert np.abs(whole - banded).max() < 1e-5  # OpenCV's cubic pass: not bit for bit
    out = np.zeros((5, 12, 301), np.float32)  # a caller's buffer, larger than the band
    upsample.rows_of(tall, 30, 40, 301, out=out[:, :10])
    assert np.abs(out[:, :10] - whole[:, 30:40]).max() < 1e-5 and not out[:, 10:].any()


def test_fit_refuses_l_and_ab_of_different_sizes():
    with pytest.raises(ValueError, match="differ in size"):
        upsample.fit(np.zeros((10, 12), np.float32), np.zeros((10, 13, 2), np.float32), 100)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_every_layout_and_dtype(model_dir, dtype, channels):
    model = load_model("tiny", device="cpu")
    rng = np.random.default_rng(channels)
    shape = (97, 131) if channels == 1 else (97, 131, channels)
    image = rng.random(shape).astype(np.float32)
    if dtype != np.float32:
        image = np.rint(image * np.iinfo(dtype).max).astype(dtype)
    out = colorize(image, model, interpolation="edge-aware")
    assert out.dtype == image.dtype
    assert out.shape == (97, 131, 4 if channels in (2, 4) else 3)
    if channels in (2, 4):
        assert np.array_equal(out[..., 3], image[..., -1])


def test_photo_smaller_than_the_model_output(model_dir):
    model = load_model("tiny", device="cpu")
    image = (np.random.default_rng(6).random((9, 14, 3)) * 255).astype(np.uint8)
    assert colorize(image, model, interpolation="edge-aware").shape == (9, 14, 3)


def test_edge_aware_is_the_default_and_differs_from_bilinear(model_dir):
    assert BY_NAME["interpolation"].default == "edge-aware"
    assert BY_NAME["interpolation"].gimp  # offered in the GIMP dialogs
    model = load_model("tiny", device="cpu")
    grey, _ = _step_photo()
    default = colorize(grey, model)
    assert np.array_equal(default, colorize(grey, model, interpolation="edge-aware"))
    assert not np.array_equal(default, colorize(grey, model, interpolation="bilinear"))


def test_cli_accepts_edge_aware_and_refuses_an_unknown_choice(model_dir, tmp_path, capsys):
    grey, _ = _step_photo()
    cv2.imwrite(str(tmp_path / "step.png"), grey)
    out = tmp_path / "out"
    assert main([str(tmp_path / "step.png"), "-o", str(out), "--interpolation",
                 "edge-aware"]) == 0
    assert (out / "step_tiny.png").exists()
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "step.png"), "-o", str(out), "--interpolation", "sharp"])
    assert exc.value.code == 2
    assert "edge-aware" in capsys.readouterr().err


def test_edge_aware_settings_reach_the_fit(model_dir):
    grey, true_ab = _step_photo()
    small = _shrunk(true_ab, 24, 32)
    for kernel in ("bicubic", "bilinear"):  # slope ~ 0: the plain enlargement
        loose = compose(grey, small, "edge-aware",
                        guided=upsample.Settings(eps=1e9, power=0.0, kernel=kernel))
        assert np.abs(loose.astype(int) - compose(grey, small, kernel)).max() <= 1
    assert pipeline.DEFAULT_INTERPOLATION == "edge-aware"
