"""tools/bench.py: the --quick run end to end (tiny models; never asserts a time), and its
building blocks."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import bench  # noqa: E402

NUMBER = r"\d+\.\d+"


def test_interleaved_warms_up_then_alternates():
    calls = []
    medians = bench.interleaved({"a": lambda: calls.append("a"),
                                 "b": lambda: calls.append("b")}, 3, pause=0)
    assert calls == ["a", "b"] * 4  # one warm-up each, then three rounds in turn
    assert set(medians) == {"a", "b"} and all(v >= 0 for v in medians.values())


def test_machine_description_reads_the_cpu_model():
    info = bench.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), None)
        if model:
            assert info["cpu"] == model
    assert info["cores"].isdigit() and "onnxruntime" in info["libraries"]


def test_quick_run_writes_the_tables_and_keeps_hand_written_text(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("old table\n" + bench.GENERATED_END + "\n## Profile\n\nwritten by hand\n")
    run = subprocess.run(
        [sys.executable, str(REPO / "tools" / "bench.py"), "--quick", "--runs", "2",
         "--cache", str(tmp_path / "cache"), "--data", str(tmp_path / "no-data"),
         "--out", str(out), "--json", str(tmp_path / "raw.json")],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    generated, kept = text.split(bench.GENERATED_END)
    assert "old table" not in generated and kept == "\n## Profile\n\nwritten by hand\n"
    assert "python3 tools/bench.py --quick --runs 2" in generated
    assert f"{bench.CORES} cores" in generated and "Load (uptime" in generated
    raw = json.loads((tmp_path / "raw.json").read_text())["results"]

    if (bench.SHARED_ZHANG / "pts_in_hull.npy").exists():
        assert re.search(rf"\| ours as shipped \(Winograd\), OpenCV default \(Winograd on\) \| "
                         rf"{NUMBER} \| {NUMBER} \| {NUMBER}x \|", generated)
        assert re.search(rf"\| ours direct convolutions, OpenCV Winograd off \| {NUMBER} \| "
                         rf"{NUMBER} \| {NUMBER}x \|", generated)
        # same weights, same output
        assert raw["zhang"]["delta"] < 1e-2 and raw["zhang"]["delta_direct_exact"] < 1e-2
    else:
        assert "Not measured: FileNotFoundError" in generated

    if (bench.REPO.parent / "shared" / "fixtures" / "ideepcolor-siggraph17").exists():
        assert re.search(rf"\| ONNX Runtime, as installed \(Winograd\) \| {NUMBER} \| "
                         rf"{NUMBER}x \| \S+ \|", generated)
        assert raw["siggraph17"]["side"] == 64 and raw["siggraph17"]["delta"] < 1e-2
    else:
        assert "Not measured: FileNotFoundError" in generated

    keras = raw["keras"]
    if "error" in keras:
        assert "not importable" in keras["error"]
        engine_model = "zhang-eccv16"
    else:
        assert re.search(rf"\| baseline \(exact 231,682-parameter architecture\) \| 64x64 \| "
                         rf"{NUMBER} \| {NUMBER} \| {NUMBER}x \|", generated)
        assert keras["rows"][0]["delta"] < 1e-4
        engine_model = "baseline-bench"

    from colorize_ai.errors import ModelMissing
    from colorize_ai.registry import get_spec

    with contextlib.suppress(ModelMissing):  # the default installed model, if there is one
        engine_model = get_spec(None).id
    engine = raw["engine"]["results"][0]
    assert engine["model"] == engine_model and engine["peak_rss_mb"] > 0
    assert engine["total_s"] >= engine["model_s"] > 0
    assert re.search(rf"\| 0 MP \d+x\d+ RGBA u8 \| {NUMBER} \| {NUMBER} \| {NUMBER} \| \d+ % \|",
                     generated)
    assert "skipped in --quick" in generated  # the GIMP row

    variants = raw["variants"]["rows"][0]
    assert set(variants["times"]) == {"fp32", "int8", "fp16"}
    for precision in ("int8", "fp16"):
        f = variants["fidelity"][precision]
        assert 0 <= f["mean_de00"] <= f["max_de00"] and f["photos"] == 3
        assert re.search(rf"\| {engine_model} \| {precision} \| .* \| {NUMBER}x \| {NUMBER} \|",
                         generated)
    assert "## Targets" in generated and "| 12 MP" not in generated  # no 12 MP in --quick


def test_render_gives_each_section_or_why_it_is_missing():
    import argparse

    info = {"machine": dict.fromkeys(("cpu", "flags", "cores", "ram", "system", "python",
                                      "libraries"), "-"),
            "command": "python3 tools/bench.py", "date": "-", "load_start": "-",
            "load_end": "-", "cuda": "-"}
    gimp = {"width": 4, "height": 3, "megapixels": 12.0, "model": "m", "gimp_version": "3.0",
            "runs": 3, "gimp_s": 2.0, "cli_s": 1.0}
    text = bench.render(info, {"keras": {"error": "TensorFlow is not importable"},
                               "gimp": gimp}, argparse.Namespace(runs=3, quick=False), 60.0,
                        "\nkept\n")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [h.split(":")[0] for h in headings] == [
        "## Zhang et al. ECCV 2016", "## Zhang et al. SIGGRAPH 2017", "## Keras models",
        "## Pipeline (engine) on big photos", "## The GIMP path",
        "## Faster variants", "## Targets"]
    assert text.count("Not measured: not run (--only).") == 4
    assert "Not measured: TensorFlow is not importable." in text
    assert "| overhead of the GIMP path | +1.00 |" in text
    assert "| GIMP path overhead against the CLI (s) | ≤ 1.5 s | 1.00 | yes |" in text
    assert text.endswith(bench.GENERATED_END + "\nkept\n")
