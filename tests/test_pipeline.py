import cv2
import numpy as np
import pytest

from colorize_ai import pipeline
from colorize_ai.errors import BadInput, BadRequest
from colorize_ai.lab import rgb_to_lab
from colorize_ai.model import load_model
from colorize_ai.pipeline import colorize
from tiny_models import add_model, tiny_graph


@pytest.fixture
def model(model_dir):
    return load_model("tiny", device="cpu")


def _photo(height=90, width=120, channels=3, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    # Smooth content, like a photo: a gradient plus a little noise.
    y, x = np.mgrid[0:height, 0:width]
    base = (0.5 + 0.4 * np.sin(x / 17.0) * np.cos(y / 13.0))[..., None]
    img = np.clip(base + 0.05 * rng.standard_normal((height, width, channels)), 0, 1)
    if dtype == np.float32:
        out = img.astype(np.float32)
    else:
        out = np.rint(img * np.iinfo(dtype).max).astype(dtype)
    return out[..., 0] if channels == 1 else out


def _l(rgb):
    scale = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}.get(rgb.dtype, 1)
    return rgb_to_lab(rgb[..., :3].astype(np.float32) / scale)[..., 0]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_shapes_dtypes_and_alpha(model, dtype, channels):
    image = _photo(channels=channels, dtype=dtype)
    if channels == 4:
        image[..., 3] = np.arange(image.shape[1], dtype=dtype)[None, :]  # a distinct alpha
    out = colorize(image, model)
    assert out.dtype == image.dtype
    assert out.shape == image.shape[:2] + ((4,) if channels == 4 else (3,))
    if channels == 4:
        assert np.array_equal(out[..., 3], image[..., 3])
    assert np.ptp(out[..., 0].astype(float) - out[..., 2]) > 0, "the result has no colour"


def test_grey_2d_and_grey_alpha(model):
    grey = _photo(channels=1)
    ga = np.stack([grey, 255 - grey], axis=-1)
    out = colorize(ga, model)
    assert out.shape == grey.shape + (4,)
    assert np.array_equal(out[..., 3], ga[..., 1])
    assert np.array_equal(colorize(grey, model)[..., :3], out[..., :3])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_full_resolution_l_is_kept(tmp_path, dtype):
    add_model(tmp_path, "mild", output={"ab_scale": 30.0})  # colours mostly inside the gamut
    mild = load_model("mild", device="cpu", folders=[tmp_path])
    image = _photo(301, 407, dtype=dtype)
    diff = np.abs(_l(colorize(image, mild)) - _l(image))
    # What remains is OpenCV's float Lab precision (~0.2), the output's quantisation and
    # gamut clipping of a few pixels: far below a visible step of L.
    assert diff.mean() < 0.15
    assert np.percentile(diff, 99) < 0.5


def test_colour_input_is_colorized_from_its_l(model):
    image = _photo(dtype=np.float32)
    lab = rgb_to_lab(image)
    lab[..., 1:] = 0
    neutral = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1)
    assert np.abs(colorize(image, model) - colorize(neutral, model)).max() < 0.02
    grey = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    assert np.abs(colorize(grey, model) - colorize(image, model)).max() > 0.05


def test_strength_zero_gives_the_grey_photo_and_two_doubles_ab(model):
    image = _photo(dtype=np.float32)
    grey = colorize(image, model, strength=0.0)
    assert np.abs(grey[..., 0] - grey[..., 1]).max() < 2e-3
    assert np.abs(grey[..., 1] - grey[..., 2]).max() < 2e-3
    ab1 = rgb_to_lab(colorize(image, model, strength=0.5))[..., 1:]
    ab2 = rgb_to_lab(colorize(image, model, strength=1.0))[..., 1:]
    assert np.median(np.abs(ab2)) == pytest.approx(2 * np.median(np.abs(ab1)), rel=0.05)


@pytest.mark.parametrize("bad", [-0.1, 2.5])
def test_strength_out_of_range(model, bad):
    with pytest.raises(BadRequest, match="between 0 and 2"):
        colorize(_photo(), model, strength=bad)


def test_render_size_is_rounded_to_the_model_multiple(model):
    assert model.input_dims(100, 100, 0) == (64, 64)  # the manifest's size
    assert model.input_dims(100, 100, 131) == (132, 132)
    assert model.input_dims(100, 100, 1) == (4, 4)
    assert model.input_dims(300, 600, 128, keep_aspect=True) == (64, 128)
    assert model.input_dims(600, 300, 128, keep_aspect=True) == (128, 64)
    with pytest.raises(BadRequest):
        model.input_dims(10, 10, -1)


def test_render_size_changes_what_the_model_sees(model):
    image = _photo(200, 200)
    assert not np.array_equal(colorize(image, model, render_size=32),
                              colorize(image, model, render_size=128))


def test_fixed_size_models_ignore_render_size(tmp_path):
    add_model(tmp_path, "fixed", input={"size": 64, "multiple": 4, "fixed_size": True})
    fixed = load_model("fixed", device="cpu", folders=[tmp_path])
    assert fixed.input_dims(300, 600, 256, keep_aspect=True) == (64, 64)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "edge-aware"])
def test_banded_composition_equals_a_whole_image_resize(model, interpolation, monkeypatch):
    image = _photo(333, 250)
    whole = colorize(image, model, interpolation=interpolation)
    monkeypatch.setattr(pipeline, "BAND_PIXELS", 250 * 7)  # 7-row bands, last one shorter
    banded = colorize(image, model, interpolation=interpolation)
    assert np.array_equal(whole, banded)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_vertical_first_banded_resize_matches_opencv(interpolation):
    # colorize() resizes ab vertically first, then horizontally band by band
    rng = np.random.default_rng(1)
    ab = (rng.random((17, 23, 2)) * 100 - 50).astype(np.float32)
    flag = pipeline.INTERPOLATIONS[interpolation]
    expected = cv2.resize(ab, (301, 97), interpolation=flag)
    tall = cv2.resize(ab, (23, 97), interpolation=flag)
    rows = np.concatenate([cv2.resize(tall[y:y + 10], (301, len(tall[y:y + 10])),
                                      interpolation=flag) for y in range(0, 97, 10)])
    assert np.abs(rows - expected).max() < 1e-3


def test_bicubic_differs_from_bilinear(model):
    image = _photo(200, 300)
    assert not np.array_equal(colorize(image, model, interpolation="bilinear"),
                              colorize(image, model, interpolation="bicubic"))


def test_keep_aspect_differs_from_stretch_on_a_wide_photo(model):
    image = _photo(100, 300)
    assert not np.array_equal(colorize(image, model, fit="stretch"),
                              colorize(image, model, fit="keep-aspect"))


def test_nhwc_layout(tmp_path):
    graph = tiny_graph(layout="NHWC")
    add_model(tmp_path, "nhwc", graph, input={"name": "L", "layout": "NHWC", "size": 64,
                                               "multiple": 4, "l_offset": 50.0,
                                               "l_divisor": 50.0},
              output={"name": "ab", "layout": "NHWC", "ab_scale": 100.0})
    add_model(tmp_path, "nchw")
    image = _photo()
    nhwc = colorize(image, load_model("nhwc", device="cpu", folders=[tmp_path]))
    nchw = colorize(image, load_model("nchw", device="cpu", folders=[tmp_path]))
    assert np.abs(nhwc.astype(int) - nchw.astype(int)).max() <= 1


def test_fusion_family_feeds_the_embedding_input(tmp_path):
    add_model(tmp_path, "fusion", tiny_graph(family="fusion", embed=True), family="fusion",
              input={"name": "L", "embed_name": "L_embed", "size": 64, "multiple": 8,
                     "l_offset": 50.0, "l_divisor": 50.0})
    fusion = load_model("fusion", device="cpu", folders=[tmp_path])
    feeds = fusion.family.feeds(np.full((64, 64), 40.0, np.float32))
    assert feeds["L_embed"].shape == (1, 1, 299, 299)
    assert feeds["L_embed"].max() == pytest.approx(40.0)
    assert feeds["L"].max() == pytest.approx(-0.2)
    assert colorize(_photo(), fusion).shape == (90, 120, 3)


@pytest.mark.parametrize("image, message", [
    (np.zeros((4, 4, 3), np.int32), "not supported"),
    (np.zeros((4, 4, 5), np.uint8), "H x W"),
    (np.zeros((0, 4, 3), np.uint8), "empty"),
    (np.zeros(16, np.uint8), "H x W"),
])
def test_bad_images(model, image, message):
    with pytest.raises(BadInput, match=message):
        colorize(image, model)


def test_progress_reaches_one_and_timings_add_up(model):
    seen, timings = [], {}
    colorize(_photo(), model, progress=lambda f, stage: seen.append((f, stage)),
             timings=timings)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"prepare", "model", "compose", "total"} <= set(timings)
    assert timings["total"] >= timings["model"]


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_banded_linear_shrink_equals_opencv_on_the_float_photo(channels, monkeypatch):
    image = _photo(301, 257, channels=channels)
    expected = cv2.resize(image.astype(np.float32) / 255, (56, 40), interpolation=cv2.INTER_LINEAR)
    monkeypatch.setattr(pipeline, "BAND_PIXELS", 257 * 13)
    assert np.abs(pipeline._shrink_linear(image, 56, 40, 255.0) - expected).max() < 1e-5
