"""The colour-hint protocol of tools/evaluate.py --hints: simulated hints, the Levin et al.
reference, and a whole run on a tiny model with the reference's cache."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnx")
pytest.importorskip("scipy")
pytest.importorskip("skimage")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests"))
import evaluate  # noqa: E402
import hint_eval  # noqa: E402
from hint_sim import EVAL_PATCH, evaluation_hints  # noqa: E402
from test_evaluate import tint_model  # noqa: E402


def _two_regions(size: int = 48) -> np.ndarray:
    """A red left half and a blue right half, of different lightness (an edge in L)."""
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[:, : size // 2] = (200, 60, 50)
    rgb[:, size // 2:] = (40, 70, 160)
    return rgb


def test_evaluation_hints_are_seeded_5x5_patches_of_the_true_colour():
    rgb = _two_regions()
    hints = evaluation_hints(rgb, 6, seed=7)
    assert hints.dtype == np.uint8 and hints.shape == (48, 48, 4)
    assert np.array_equal(hints, evaluation_hints(rgb, 6, seed=7))
    assert not np.array_equal(hints, evaluation_hints(rgb, 6, seed=8))
    opaque = hints[..., 3] == 255
    assert 0 < opaque.sum() <= 6 * EVAL_PATCH**2
    left = opaque[:, :20]  # patches wholly inside the red half keep its colour
    if left.any():
        assert np.abs(hints[:, :20][left][:, :3].astype(int) - (200, 60, 50)).max() <= 2
    assert not evaluation_hints(rgb, 0, seed=7).any()


def test_levin_spreads_each_hint_over_its_own_region_only():
    rgb = _two_regions()
    hints = np.zeros((48, 48, 4), np.uint8)
    hints[20:25, 5:10] = (*rgb[0, 0], 255)
    hints[20:25, 38:43] = (*rgb[0, -1], 255)
    out = hint_eval.levin_colorize(rgb, hints)
    lab = cv2.cvtColor(out.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    truth = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    assert np.abs(lab[..., 1:] - truth[..., 1:]).mean() < 3  # both halves, edge respected
    grey = hint_eval.levin_colorize(rgb, np.zeros_like(hints))
    assert np.abs(grey[..., 0].astype(int) - grey[..., 2]).max() <= 1  # no hints: grey


def test_hint_protocol_run_writes_its_report_and_reuses_the_cache(tmp_path, monkeypatch):
    tint_model(tmp_path / "models", 30.0, 40.0)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(np.roll(_two_regions(), 7 * i, axis=1)).save(photos / f"{i}.png")
    cache, out = tmp_path / "levin", tmp_path / "docs"
    argv = ["--hints", "--images", str(photos), "--models", "tint", "--size", "32",
            "--folders", str(tmp_path / "models"), "--cache", str(cache), "--out", str(out)]
    assert evaluate.main(argv) == 0
    summary = json.loads((out / "hints_evaluation.json").read_text())
    rows = summary["models"]
    assert set(rows) == {"grey (ab = 0)", hint_eval.LEVIN, "tint"}
    assert summary["images"] == 2 and summary["counts"] == list(hint_eval.EVAL_COUNTS)
    # More hints bring the spread over the tint and Levin's result nearer the truth.
    for name in (hint_eval.LEVIN, "tint"):
        assert rows[name]["200"]["psnr"] > rows[name]["1"]["psnr"]
    report = (out / "HINTS.md").read_text()
    assert "| tint (spread) >= Levin at N = 50 |" in report
    assert (out / "images" / "hints_psnr.png").exists()
    assert (out / "images" / "hints_contact_sheet.jpg").exists()
    kept = sorted(p.name for p in cache.iterdir())
    assert len(kept) == 2 * len(hint_eval.EVAL_COUNTS) and not any(".part" in k for k in kept)

    def no_solving(*args):
        raise AssertionError("Levin's results should come from the cache")

    monkeypatch.setattr(hint_eval, "levin_colorize", no_solving)
    assert evaluate.main(argv) == 0
    again = json.loads((out / "hints_evaluation.json").read_text())
    assert again["models"][hint_eval.LEVIN] == rows[hint_eval.LEVIN]
