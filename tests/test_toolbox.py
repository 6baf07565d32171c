"""tools/toolbox.py: what the offline tools share, each once."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import toolbox  # noqa: E402


def test_the_tools_share_one_of_each():
    import dataset
    import evaluate
    import github_photos
    from converters import common, fetch, quantize

    assert dataset.colourfulness is evaluate.colourfulness is toolbox.colourfulness
    assert (common.sha256_file is fetch.sha256_file is quantize.sha256_file
            is github_photos.sha256_file is toolbox.sha256_file)
    assert fetch.Progress is quantize.Progress is dataset.Progress is toolbox.Progress


def test_colourfulness_is_zero_for_grey_and_grows_with_colour():
    assert toolbox.colourfulness(np.full((32, 32, 3), 120, np.uint8)) == 0.0
    graphic = np.zeros((64, 64, 3), np.uint8)
    graphic[:, :32] = (200, 30, 40)
    graphic[32:, 32:] = (20, 90, 220)
    assert toolbox.colourfulness(graphic) > 50


def test_sha256_file_reads_in_blocks(tmp_path):
    data = bytes(range(256)) * 5000
    (tmp_path / "f").write_bytes(data)
    assert toolbox.sha256_file(tmp_path / "f", chunk=4096) == hashlib.sha256(data).hexdigest()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_counts_items_or_bytes():
    log = io.StringIO()
    bar = toolbox.Progress("photos", 8, log)
    for _ in range(8):
        bar.step()
    # one line as each quarter is reached (the first at the first item) off a terminal
    assert log.getvalue().splitlines() == [f"photos: {p}% of 8" for p in (12, 25, 50, 75, 100)]
    screen = Terminal()
    toolbox.Progress("model.onnx", 2_000_000, screen, in_bytes=True).update(2_000_000, final=True)
    assert screen.getvalue() == f"\rmodel.onnx  100% |{'#' * 30}| 2.0 MB of 2.0 MB\n"
    toolbox.Progress("quiet", 3, None).step()  # no stream: nothing, no error


def test_a_new_export_replaces_its_manifest_entry_where_it_stands(tmp_path):
    # The dialog lists models in the manifest's order: re-exporting one must not move it.
    from converters.common import update_manifest

    path = tmp_path / "manifest.json"
    for model_id in ("a", "b", "c"):
        update_manifest(path, {"id": model_id, "file": f"{model_id}.onnx"})
    update_manifest(path, {"id": "b", "file": "b2.onnx"})
    update_manifest(path, {"id": "d", "file": "d.onnx"})
    models = json.loads(path.read_text(encoding="utf-8"))["models"]
    assert [(m["id"], m["file"]) for m in models] == [
        ("a", "a.onnx"), ("b", "b2.onnx"), ("c", "c.onnx"), ("d", "d.onnx")]
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
