"""tools/evaluate.py: the metrics, the grey reference, and a run on a tiny registered model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import evaluate  # noqa: E402
from converters.common import save_model  # noqa: E402


def test_psnr_of_a_known_error():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert evaluate.psnr(a, a) == 100.0
    assert evaluate.psnr(a, a + 1) == pytest.approx(20 * np.log10(255), abs=1e-9)


def test_colourfulness_of_grey_is_zero():
    assert evaluate.colourfulness(np.full((8, 8, 3), 77, np.uint8)) == 0.0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200
    assert evaluate.colourfulness(red) > 50


def test_grey_output_keeps_lightness_and_drops_colour():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    grey = evaluate.grey_output(rgb)
    assert (np.ptp(grey.astype(int), axis=2) <= 1).all()
    luma = rgb @ np.array([0.2126, 0.7152, 0.0722])
    assert np.corrcoef(luma.ravel(), grey[..., 0].ravel())[0, 1] > 0.95


def test_square_crops_the_centre():
    rgb = np.zeros((100, 300, 3), np.uint8)
    rgb[:, 100:200] = 255
    out = evaluate.square(rgb, 50)
    assert out.shape == (50, 50, 3) and out.min() == 255


def tint_model(folder: Path, a: float, b: float) -> None:
    """A 'baseline' model that paints every pixel with one ab, tanh-encoded."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mul", ["L", "zero"], ["z"]),
         helper.make_node("Add", ["z", "ta"], ["ca"]),
         helper.make_node("Add", ["z", "tb"], ["cb"]),
         helper.make_node("Concat", ["ca", "cb"], ["ab"], axis=1)],
        "tint",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, [1, 1, "h", "w"])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, [1, 2, "h", "w"])],
        [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
         helper.make_tensor("ta", TensorProto.FLOAT, [], [a / 128]),
         helper.make_tensor("tb", TensorProto.FLOAT, [], [b / 128])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    save_model(model, folder, {
        "id": "tint", "name": "Tint", "family": "baseline", "file": "tint.onnx",
        "input": {"name": "L", "size": 64, "multiple": 4, "l_offset": 0.0, "l_divisor": 1.0},
        "output": {"name": "ab", "ab_scale": 128.0, "decoding": "tanh"},
        "license": "MIT", "provenance": "test", "description": "test"})


def test_evaluation_of_a_tint_model_on_photos(tmp_path):
    tint_model(tmp_path / "models", 30.0, 40.0)
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        base = rng.integers(0, 256, (1, 1, 3)) * np.ones((48, 80, 1))
        Image.fromarray(np.clip(base + rng.normal(0, 20, base.shape), 0, 255)
                        .astype(np.uint8)).save(photos / f"{i}.png")
    out = tmp_path / "docs"
    code = evaluate.main(["--images", str(photos), "--models", "tint", "--size", "32",
                          "--folders", str(tmp_path / "models"), "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "evaluation.json").read_text())
    grey, tint = summary["models"][evaluate.GREY], summary["models"]["tint"]
    assert summary["images"] == 3 and len(tint["per_image"]) == 3
    assert grey["colourfulness"] < 1.0 < tint["colourfulness"]
    first = evaluate.square(np.asarray(Image.open(photos / "0.png")), 32)
    assert grey["per_image"][0]["psnr"] == pytest.approx(
        evaluate.psnr(first, evaluate.grey_output(first)))
    report = (out / "EVALUATION.md").read_text()
    assert "| tint |" in report and "## PSNR per photo" in report
    assert summary["default"] is None and "## Targets" not in report
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size == (3 * 128, 16 + 3 * 128)


def test_unknown_model_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "p" / "a.png")
    code = evaluate.main(["--images", str(tmp_path / "p"), "--models", "nope",
                          "--folders", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == 1
    assert "nope" in capsys.readouterr().err


def test_targets_say_met_or_not_with_the_numbers():
    def row(psnr, ratio):
        return {"psnr": psnr, "ssim": 0.9, "colourfulness": 10.0, "colourfulness_ratio": ratio,
                "per_image": [{"image": "a.png", "psnr": psnr}]}

    summary = {"size": 256, "images": 1, "default": "m", "ground_truth_colourfulness": 25.0,
               "colour_class_models": ["c"],
               "models": {evaluate.GREY: row(20.0, 0.0), "m": row(27.0, 0.3),
                          "c": row(19.5, 1.2)}}
    text = evaluate.markdown(summary, "T")
    assert "| m: PSNR >= 26.4 dB | 27.00 dB | yes |" in text
    assert "| m: PSNR >= grey + 2.0 dB | +7.00 dB | yes |" in text
    assert "| m: colourfulness >= 50% of ground truth | 30% | NO |" in text
    assert "| c (colour classes): PSNR >= grey + 0.0 dB | -0.50 dB | NO |" in text
    assert "| a.png | 20.00 | 27.00 | 19.50 |" in text


def _edge_photos(folder: Path, count: int = 2) -> None:
    """Photos with sharp colour edges on sharp edges of lightness: a red and a blue block."""
    folder.mkdir(parents=True)
    for i in range(count):
        rgb = np.full((240, 320, 3), (30, 80, 30), np.uint8)  # L 30
        rgb[60 + 10 * i:170, 50:150] = (250, 110, 90)  # L 62
        rgb[100:230, 190 + 7 * i:300] = (110, 150, 250)  # L 63
        Image.fromarray(rgb).save(folder / f"{i}.png")


def test_upsampling_evaluation_writes_its_section_and_keeps_it(tmp_path, capsys):
    tint_model(tmp_path / "models", 30.0, 40.0)
    _edge_photos(tmp_path / "photos")
    out = tmp_path / "docs"
    args = ["--upsampling", "--images", str(tmp_path / "photos"), "--models", "tint",
            "--folders", str(tmp_path / "models"), "--out", str(out)]
    assert evaluate.main(args) == 0
    summary = json.loads((out / "upsampling_evaluation.json").read_text())
    mean = summary["groups"]["all"]["mean"]
    assert summary["groups"]["all"]["images"] == 2 and "big" not in summary["groups"]
    # the model's 64 px colour enlarged 5x: following the photo's edges wins by far
    assert mean["oracle edge-aware"] > max(mean["oracle bicubic"], mean["oracle bilinear"]) + 1
    assert mean["oracle edge-aware, faint colour not softened"] > mean["oracle bilinear"] + 1
    with Image.open(out / "images" / "edge_crop.png") as crop:
        assert crop.size == (3 * 160, 2 * 160)
    text = (out / "EVALUATION.md").read_text()
    assert text.count("## Colour edges") == 1 and "| oracle: edge-aware >=" in text
    assert "images/edge_crop.png" in text and "--upsampling --images" in text
    # notes after the section are kept: the main evaluation rewrites the page above the
    # section, a second --upsampling run replaces the section alone
    (out / "EVALUATION.md").write_text(text + "\nNotes.\n")
    assert evaluate.main(["--images", str(tmp_path / "photos"), "--models", "tint",
                          "--size", "32", "--folders", str(tmp_path / "models"),
                          "--out", str(out)]) == 0
    assert evaluate.main(args) == 0
    text = (out / "EVALUATION.md").read_text()
    assert text.startswith("# Evaluation") and text.count("## Colour edges") == 1
    assert "| tint |" in text and text.endswith("\nNotes.\n")


def test_upsampling_finds_the_originals_through_the_index(tmp_path, capsys):
    import upsampling_eval

    _edge_photos(tmp_path / "data" / "test", 1)
    cache = tmp_path / "cache"
    original = cache / "extract" / "pkg" / "usr" / "big.png"
    original.parent.mkdir(parents=True)
    (tmp_path / "data" / "test" / "0.png").rename(original)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "data" / "test" / "0.png")
    (tmp_path / "data" / "index.json").write_text(json.dumps(
        [{"file": "test/0.png", "source": "pkg", "path": "usr/big.png"}]))
    found = upsampling_eval.photo_files(tmp_path / "data" / "test", cache)
    assert found == [("0.png", original)]
    original.unlink()
    code = evaluate.main(["--upsampling", "--images", str(tmp_path / "data" / "test"),
                          "--originals", str(cache), "--out", str(tmp_path / "o")])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        f"error: The original of 0.png is not under {cache}.")


def test_upsampling_tune_prints_every_setting(tmp_path, capsys):
    tint_model(tmp_path / "models", 30.0, 40.0)
    _edge_photos(tmp_path / "photos", 1)
    assert evaluate.main(["--upsampling", "--tune", "--images", str(tmp_path / "photos"),
                          "--models", "tint", "--folders", str(tmp_path / "models"),
                          "--radius", "1", "2", "--eps", "100", "--power", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["setting"] for r in rows] == ["bilinear",
                                            [1, 100.0, 2.0, "bicubic", 0.2, 3.0, 9.0],
                                            [2, 100.0, 2.0, "bicubic", 0.2, 3.0, 9.0]]
    assert all(r["oracle"] > rows[0]["oracle"] for r in rows[1:])
