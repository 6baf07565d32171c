"""Colour hints in the engine: cells at the model's resolution, hint models, and the spread
over automatic models' predictions."""

import cv2
import numpy as np
import pytest

from colorize_ai.errors import BadInput
from colorize_ai.families import HintCells
from colorize_ai.hints import check_hints, hint_cells, recolour_alike, spread_hints
from colorize_ai.model import load_model
from colorize_ai.pipeline import colorize
from tiny_models import add_hint_model

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _ab(rgb) -> np.ndarray:
    return cv2.cvtColor(np.array([[rgb]], np.float32) / 255, cv2.COLOR_RGB2Lab)[0, 0, 1:]


def _lab(pixels: np.ndarray) -> np.ndarray:
    scale = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}.get(pixels.dtype, 1)
    return cv2.cvtColor(pixels[..., :3].astype(np.float32) / scale, cv2.COLOR_RGB2Lab)


def _grey(height=64, width=96) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.clip(60 + x + y // 2, 0, 255).astype(np.uint8)


def test_cells_are_alpha_weighted_means_with_a_mask():
    hints = np.zeros((8, 8, 4), np.uint8)
    hints[0, 0] = (*RED, 255)
    hints[0, 1] = (*BLUE, 85)  # a third of red's weight, in the same 2 x 2 cell
    hints[7, 7] = (*BLUE, 40)  # too little paint for its cell to count
    cells = hint_cells(hints, 4, 4)
    expected = (3 * _ab(RED) + _ab(BLUE)) / 4
    assert np.allclose(cells.ab[0, 0], expected, atol=0.05)
    assert cells.mask.sum() == 1 and cells.mask[0, 0] == 1
    assert (cells.ab[cells.mask == 0] == 0).all()


def test_lightness_of_a_hint_is_ignored_only_its_colour_counts():
    dark, light = np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8)
    dark[..., :3], light[..., :3] = (120, 20, 20), (255, 140, 140)
    dark[..., 3] = light[..., 3] = 255
    a_dark, a_light = hint_cells(dark, 2, 2).ab[0, 0], hint_cells(light, 2, 2).ab[0, 0]
    assert a_dark[0] > 30 and a_light[0] > 30  # both red, whatever their lightness


@pytest.mark.parametrize("dtype, full", [(np.uint16, 65535), (np.float32, 1.0)])
def test_every_dtype_gives_the_same_cells(dtype, full):
    hints = np.zeros((16, 16, 4), np.uint8)
    hints[2:6, 3:9] = (*RED, 255)
    hints[10:12, 10:16] = (*BLUE, 128)
    as_8bit = hint_cells(hints, 8, 8)
    other = hint_cells((hints.astype(np.float64) / 255 * full).astype(dtype), 8, 8)
    assert np.array_equal(as_8bit.mask, other.mask)
    assert np.allclose(as_8bit.ab, other.ab, atol=0.6)


def test_a_photo_smaller_than_the_grid_samples_cell_centres():
    hints = np.zeros((3, 3, 2), np.uint8)  # grey + alpha: "make it grey here"
    hints[1, 1] = (128, 255)
    cells = hint_cells(hints, 9, 9)
    assert cells.mask[3:6, 3:6].all() and cells.mask.sum() == 9
    assert np.abs(cells.ab).max() < 0.5


def test_all_transparent_is_no_hints():
    assert hint_cells(np.zeros((40, 30, 4), np.uint8), 8, 8) is None


def test_wrong_size_and_no_alpha_are_clear_errors():
    with pytest.raises(BadInput, match="30 x 40 pixels but the photo is 32 x 40"):
        check_hints(np.zeros((40, 30, 4), np.uint8), 40, 32)
    with pytest.raises(BadInput, match="transparent layer"):
        check_hints(np.zeros((40, 30, 3), np.uint8), 40, 30)


def test_spread_follows_the_hint_and_stops_at_edges():
    lightness = np.full((64, 64), 30, np.float32)
    lightness[:, 32:] = 80  # a strong edge down the middle
    prediction = np.zeros((64, 64, 2), np.float32)
    hints = np.zeros((64, 64, 4), np.uint8)
    hints[30:33, 10:13] = (*RED, 255)
    out = spread_hints(lightness, prediction, hint_cells(hints, 64, 64))
    red = _ab(RED)
    assert np.allclose(out[31, 11], red, atol=1)
    assert out[5:60, 2:28, 0].min() > 0.6 * red[0]  # the whole left region turns red
    assert np.abs(out[:, 40:]).max() < 0.1 * red[0]  # the right one keeps the prediction


def test_spread_stops_where_the_prediction_changes_colour_at_the_same_lightness():
    """A sky and a roof of the same grey that the model told apart: a hint on the sky does
    not leak onto the roof, as it does when only L guides the spread (linear=True)."""
    lightness = np.full((64, 64), 60, np.float32)
    prediction = np.zeros((64, 64, 2), np.float32)
    prediction[:, :32] = (0, -30)  # sky blue
    prediction[:, 32:] = (10, 30)  # roof ochre
    hints = np.zeros((64, 64, 4), np.uint8)
    hints[30:34, 24:28] = (*RED, 255)
    cells = hint_cells(hints, 64, 64)
    guided = spread_hints(lightness, prediction, cells)
    by_lightness = spread_hints(lightness, prediction, cells, linear=True)
    pull = np.linalg.norm(_ab(RED) - (10, 30))
    roof = np.s_[26:38, 33:40]
    assert np.allclose(guided[31, 25], _ab(RED), atol=2)  # the hint is kept
    assert np.linalg.norm(guided[roof] - (10, 30), axis=-1).max() < 0.1 * pull
    assert np.linalg.norm(by_lightness[roof] - (10, 30), axis=-1).max() > 0.3 * pull


def test_colour_guided_laplacian_is_symmetric_and_is_the_lightness_one_without_colour():
    """Conjugate gradients need a symmetric operator and its true diagonal; with the
    prediction's ab flat, the colour-guided Laplacian is the one of L alone."""
    from colorize_ai.hints import _Matting

    rng = np.random.default_rng(3)
    lightness = rng.uniform(0, 1, (20, 24)).astype(np.float32)
    guide = np.stack([lightness, *rng.uniform(-0.5, 0.5, (2, 20, 24)).astype(np.float32)])
    x, y = rng.normal(size=(2, 20, 24, 2)).astype(np.float32)
    laplacian = _Matting(guide)
    assert np.isclose((laplacian(x) * y).sum(), (x * laplacian(y)).sum(), rtol=1e-4)
    for cell in ((5, 7), (0, 0), (19, 1)):  # inside, and on the border
        unit = np.zeros((20, 24, 2), np.float32)
        unit[cell][0] = 1
        assert np.isclose(laplacian(unit)[cell][0], laplacian.diagonal[cell], rtol=1e-4)
    flat = np.stack([lightness, np.zeros_like(lightness), np.zeros_like(lightness)])
    assert np.allclose(_Matting(flat)(x), _Matting(lightness[None])(x), atol=1e-3)


def test_a_hint_recolours_look_alike_regions_the_spread_cannot_reach():
    """Before the spread, a dot on one patch of sky also moves a patch of the same lightness
    and predicted colour behind a dark band; the band and a patch that the model coloured
    differently keep their prediction."""
    lightness = np.full((64, 64), 70, np.float32)
    lightness[:, 28:36] = 20  # the band
    prediction = np.zeros((64, 64, 2), np.float32)
    prediction[40:, 40:] = (20, 40)  # "not sky" by the model's own colour
    hints = np.zeros((64, 64, 4), np.uint8)
    hints[10:13, 10:13] = (80, 130, 220, 255)  # blue
    cells = hint_cells(hints, 64, 64)
    out = recolour_alike(lightness, prediction, cells)
    blue = _ab((80, 130, 220))
    # Nine hinted cells against ALIKE_FLOOR's 0.5: most of the way (the spread keeps the hint).
    assert out[11, 11, 1] < 0.7 * blue[1]
    assert out[5:30, 40:60, 1].mean() < 0.2 * blue[1]  # behind the band: towards blue
    assert np.abs(out[:, 28:36]).max() < 0.01 * abs(blue[1])  # the band: unlike
    assert np.allclose(out[50:60, 50:60], (20, 40), atol=0.01 * abs(blue[1]))
    # And spread_hints starts from it, unless linear=True.
    kept = spread_hints(lightness, prediction, cells, linear=True)
    moved = spread_hints(lightness, prediction, cells)
    assert moved[5:30, 40:60, 1].mean() < kept[5:30, 40:60, 1].mean() - 0.1 * abs(blue[1])


def test_look_alikes_pool_many_hinted_cells_into_bounded_blocks():
    rng = np.random.default_rng(5)
    lightness = rng.uniform(20, 80, (256, 192)).astype(np.float32)
    prediction = rng.normal(0, 10, (256, 192, 2)).astype(np.float32)
    cells = HintCells(ab=np.full((256, 192, 2), 15, np.float32), mask=np.ones((256, 192),
                                                                            np.float32))
    out = recolour_alike(lightness, prediction, cells)  # every cell hinted
    assert out.shape == prediction.shape and np.isfinite(out).all()
    # Hinted everywhere with one colour: every prediction moves towards it.
    assert np.abs(out - 15).mean() < np.abs(prediction - 15).mean()


def test_hint_model_gets_the_cells_as_input(tmp_path, monkeypatch):
    add_hint_model(tmp_path)
    model = load_model("tiny-hints", device="cpu", folders=[tmp_path])
    photo = _grey()
    hints = np.zeros((64, 96, 4), np.uint8)
    rose, sky = (170, 110, 100), (100, 120, 160)  # within the gamut at the photo's lightness
    hints[8:24, 8:40] = (*rose, 255)
    hints[40:56, 50:90] = (*sky, 255)
    out = _lab(colorize(photo, model, hints=hints))
    assert np.allclose(out[12:20, 12:36, 1:].mean((0, 1)), _ab(rose), atol=2)
    assert np.allclose(out[44:52, 54:86, 1:].mean((0, 1)), _ab(sky), atol=2)
    assert np.allclose(out[..., 0], _lab(np.dstack([photo] * 3))[..., 0], atol=0.5)  # L kept
    unhinted = _lab(colorize(photo, model))
    assert np.abs(unhinted[12:20, 12:36, 1] - out[12:20, 12:36, 1]).mean() > 20


def test_hint_model_may_ask_for_the_spread_hints_as_an_input(tmp_path):
    """A model whose manifest names a spread input gets the hints spread over grey along the
    photo's edges there (zeros without hints)."""
    add_hint_model(tmp_path, "tiny-spread-in", spread_input=True)
    model = load_model("tiny-spread-in", device="cpu", folders=[tmp_path])
    assert model.family.input_names[-1] == "ab_spread"
    photo = _grey()
    hints = np.zeros((64, 96, 4), np.uint8)
    rose = (170, 110, 100)
    hints[8:16, 8:16] = (*rose, 255)
    out = _lab(colorize(photo, model, hints=hints))
    assert out[20:28, 20:28, 1].mean() > 0.5 * _ab(rose)[0]  # spread beyond the painted cells
    assert np.abs(_lab(colorize(photo, model))[..., 1:]).max() < 1  # nothing to spread: grey


@pytest.mark.parametrize("spread_after", [False, True])
def test_hint_model_output_is_spread_over_only_when_its_manifest_says(tmp_path, spread_after):
    """Published hint models run as they are; ours may have the hints kept and spread over
    its prediction, as the automatic models do."""
    add_hint_model(tmp_path, spread_after=spread_after)
    model = load_model("tiny-hints", device="cpu", folders=[tmp_path])
    photo = np.full((64, 96), 120, np.uint8)  # flat: the spread crosses no edge
    hints = np.zeros((64, 96, 4), np.uint8)
    hints[8:16, 8:16] = (100, 120, 160, 255)
    near = _lab(colorize(photo, model, hints=hints))[16:24, 16:24, 2].mean()
    plain = _lab(colorize(photo, model))[16:24, 16:24, 2].mean()
    assert (near < plain - 5) == spread_after  # bluer next to the hint only when spread


def test_a_hint_models_own_colour_edges_do_not_guide_the_spread(tmp_path, model_dir,
                                                                 monkeypatch):
    """A hint model's output holds the hints, ringed by colour edges that would stop the
    spread at each of them; an automatic model's colour edges do guide it."""
    import colorize_ai.pipeline as pipeline

    calls = []

    def spread(*args, **kwargs):
        calls.append(kwargs.get("colour_edges", True))
        return spread_hints(*args, **kwargs)

    monkeypatch.setattr(pipeline, "spread_hints", spread)
    add_hint_model(tmp_path, spread_after=True)
    hints = np.zeros((64, 96, 4), np.uint8)
    hints[8:16, 8:16] = (100, 120, 160, 255)
    colorize(_grey(), load_model("tiny-hints", device="cpu", folders=[tmp_path]), hints=hints)
    colorize(_grey(), load_model("tiny", device="cpu"), hints=hints)
    assert calls == [False, True]


def test_automatic_models_take_hints_through_the_spread(model_dir):
    model = load_model("tiny", device="cpu")
    photo = _grey()
    hints = np.zeros((64, 96, 4), np.uint8)
    hints[20:30, 20:30] = (*BLUE, 255)
    out = _lab(colorize(photo, model, hints=hints))
    plain = _lab(colorize(photo, model))
    assert out[22:28, 22:28, 2].mean() < plain[22:28, 22:28, 2].mean() - 20  # bluer (b* down)
    empty = np.zeros_like(hints)
    assert np.array_equal(colorize(photo, model, hints=empty), colorize(photo, model))


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_deep_photos_take_8bit_hints(model_dir, dtype):
    model = load_model("tiny", device="cpu")
    photo = np.dstack([_grey()] * 3).astype(np.float32) / 255
    photo = photo if dtype == np.float32 else np.rint(photo * 65535).astype(np.uint16)
    hints = np.zeros((64, 96, 4), np.uint8)
    hints[20:30, 20:30] = (*BLUE, 255)
    out = colorize(photo, model, hints=hints)
    assert out.dtype == dtype
    assert _lab(out)[22:28, 22:28, 2].mean() < -20
