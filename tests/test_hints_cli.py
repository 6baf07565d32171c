"""Colour hints from the command line and through the worker."""

import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from colorize_ai import client
from colorize_ai.cli import main
from tiny_models import add_hint_model

PLUGIN = __import__("pathlib").Path(__file__).resolve().parents[1] / "plugin"
W, H = 96, 64


def _a_star(path) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[..., 1]


@pytest.fixture
def photo(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    y, x = np.mgrid[0:H, 0:W]
    Image.fromarray(np.clip(70 + x + y // 2, 0, 255).astype(np.uint8)).save(folder / "p.png")
    return folder / "p.png"


def _hints(path, size=(W, H), painted=True):
    rgba = np.zeros((size[1], size[0], 4), np.uint8)
    if painted:
        rgba[10:30, 10:40] = (200, 60, 60, 255)
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def test_hints_turn_the_painted_region_red(model_dir, photo, tmp_path):
    assert main([str(photo), "-o", str(tmp_path / "plain")]) == 0
    hints = _hints(tmp_path / "hints.png")
    assert main([str(photo), "--hints", str(hints), "-o", str(tmp_path / "hinted")]) == 0
    plain = _a_star(tmp_path / "plain" / "p_tiny.png")[14:26, 14:36].mean()
    hinted = _a_star(tmp_path / "hinted" / "p_tiny_hints.png")[14:26, 14:36].mean()
    assert hinted > plain + 20


def test_a_hinted_result_is_kept_beside_the_automatic_one(model_dir, photo, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(photo), "-o", str(out)]) == 0
    automatic = (out / "p_tiny.png").read_bytes()
    assert main([str(photo), "--hints", str(_hints(tmp_path / "h.png")), "-o", str(out)]) == 0
    assert "skipped" not in capsys.readouterr().out
    assert (out / "p_tiny.png").read_bytes() == automatic
    assert (out / "p_tiny_hints.png").exists()
    # Both are known as results: a run over the folder does not take them as photos.
    assert main([str(out), "-o", str(tmp_path / "again")]) == 1
    assert "the folder has no images" in capsys.readouterr().err


def test_all_transparent_hints_are_the_same_as_none(model_dir, photo, tmp_path):
    hints = _hints(tmp_path / "empty.png", painted=False)
    assert main([str(photo), "-o", str(tmp_path / "a")]) == 0
    assert main([str(photo), "--hints", str(hints), "-o", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "p_tiny.png").read_bytes() == (
        tmp_path / "b" / "p_tiny_hints.png").read_bytes()


def test_hints_of_the_wrong_size_are_one_clear_line(model_dir, photo, tmp_path, capsys):
    hints = _hints(tmp_path / "small.png", size=(W // 2, H // 2))
    assert main([str(photo), "--hints", str(hints), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "48 x 32 pixels but the photo is 96 x 64" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "p_tiny.png").exists()


def test_hints_without_alpha_are_refused(model_dir, photo, tmp_path, capsys):
    path = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(path)
    assert main([str(photo), "--hints", str(path), "-o", str(tmp_path / "out")]) == 1
    assert "transparent layer" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--hints", "{h}", "{folder}"], "--hints goes with one photo"),
    (["--hints", "{h}", "{photo}", "{photo}"], "--hints goes with one photo"),
    (["--hints", "{h}", "--hints-dir", "{folder}", "{photo}"], "cannot be used together"),
    (["--hints", "{folder}/nope.png", "{photo}"], "does not exist"),
    (["--render-size", "100000", "{photo}"], "Render size"),
    (["--threads", "100000", "{photo}"], "--threads"),
])
def test_usage_errors_exit_2(model_dir, photo, tmp_path, capsys, args, message):
    hints = _hints(tmp_path / "h.png")
    fill = {"h": hints, "folder": photo.parent, "photo": photo}
    with pytest.raises(SystemExit) as info:
        code = main([a.format(**fill) for a in args] + ["-o", str(tmp_path / "o")])
        raise SystemExit(code)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_hints_dir_pairs_by_name(model_dir, photo, tmp_path, capsys):
    other = photo.parent / "q.png"
    other.write_bytes(photo.read_bytes())
    folder = tmp_path / "hints"
    folder.mkdir()
    _hints(folder / "p.png")
    assert main([str(photo.parent), "--hints-dir", str(folder), "-o", str(tmp_path / "o")]) == 0
    assert "no hints for" in capsys.readouterr().out
    p, q = (_a_star(tmp_path / "o" / name)[14:26, 14:36].mean()
            for name in ("p_tiny_hints.png", "q_tiny.png"))
    assert p > q + 20


def test_with_hints_and_no_model_the_default_hint_model_runs(model_dir, photo, tmp_path,
                                                             capsys):
    add_hint_model(model_dir)
    assert main([str(photo), "-o", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "p_tiny.png").exists()  # no hints: the default model
    hints = _hints(tmp_path / "h.png")
    assert main([str(photo), "--hints", str(hints), "-o", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "p_tiny-hints_hints.png").exists()


def _raw(array: np.ndarray) -> client.Raw:
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    return client.Raw(array.tobytes(), w, h, channels, str(array.dtype))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_worker_takes_a_hints_buffer(model_dir, dtype):
    y, x = np.mgrid[0:H, 0:W]
    grey = np.clip(70 + x + y // 2, 0, 255).astype(np.uint8)
    photo = grey.astype(dtype) * (257 if dtype == np.uint16 else 1)
    hints = np.zeros((H, W, 4), np.uint8)
    hints[10:30, 10:40] = (200, 60, 60, 255)
    plain, hinted, wrong = client.run_worker(
        sys.executable, _raw(photo), ["tiny"], package_parent=str(PLUGIN)) + \
        client.run_worker(sys.executable, _raw(photo), ["tiny"], images={"hints": _raw(hints)},
                          package_parent=str(PLUGIN)) + \
        client.run_worker(sys.executable, _raw(photo), ["tiny"],
                          images={"hints": _raw(hints[:32])}, package_parent=str(PLUGIN))
    assert plain["ok"] and hinted["ok"]
    scale = 65535 if dtype == np.uint16 else 255
    a_plain, a_hinted = (cv2.cvtColor(
        np.frombuffer(r["pixels"], dtype).reshape(H, W, 3).astype(np.float32) / scale,
        cv2.COLOR_RGB2Lab)[14:26, 14:36, 1].mean() for r in (plain, hinted))
    assert a_hinted > a_plain + 20
    # The front ends name the two layers apart, so the editor can toggle and compare them.
    assert (client.layer_name(plain), client.layer_name(hinted)) == (
        "Colorized (Tiny tiny)", "Colorized (Tiny tiny, hints)")
    assert not wrong["ok"] and wrong["error"] == "bad-input" and "96 x 32" in wrong["message"]
