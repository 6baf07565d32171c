"""The GIMP 2.10 front end, run by a real Python 2.7 against a stand-in gimpfu.

No GIMP 2.10 with Python-Fu can be installed here, so tests/gimp/gimp2_stub/gimpfu.py records
what the plug-in asks of GIMP. The plug-in is laid out as installer.py lays it out, and the
real worker (this environment's Python) colorizes; the pixels must equal the engine's.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
GIMP_TESTS = REPO / "tests" / "gimp"
sys.path.insert(0, str(REPO))

import installer  # noqa: E402

from tiny_models import add_model, tiny_graph  # noqa: E402

W, H = 21, 13
PY27 = {**os.environ, "PYENV_VERSION": "2.7.18"}
RGB_IMAGE, RGBA_IMAGE, GRAY_IMAGE, INDEXED_IMAGE = 0, 1, 2, 4
RGB, GRAY, INDEXED = 0, 1, 2
ADD_SELECTION_MASK = 4


def python27() -> list[str]:
    try:
        out = subprocess.run(["python", "-c", "import sys; print(sys.version_info[0])"],
                             env=PY27, capture_output=True, text=True, timeout=60)
    except OSError:
        out = None
    if out is None or out.stdout.strip() != "2":
        pytest.skip("Python 2.7 is not available (pyenv's 2.7.18 runs GIMP 2.10's gimpfu here)")
    return ["python"]


def grey() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return np.clip(20 + 10 * x + 3 * y, 0, 255).astype(np.uint8)


def b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()


def pixels(layer: dict, channels: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(layer["pixels"]), np.uint8).reshape(H, W, channels)


def engine(run: dict, source: np.ndarray) -> np.ndarray:
    """What the engine itself makes of these pixels with the model 'tiny'."""
    from colorize_ai.model import load_model
    from colorize_ai.pipeline import colorize

    model = load_model("tiny", device="cpu", folders=[run["models"]])
    return colorize(source, model, strength=1.0, render_size=0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Install the 2.10 front end as installer.py does and run every scenario under 2.7."""
    command = python27()
    tmp = tmp_path_factory.mktemp("gimp2")
    models = tmp / "models"
    add_model(models, "tiny", default=True)
    add_model(models, "tiny-b", tiny_graph(stride=2))
    add_model(models, "later", name="Later model", file=None, sha256=None,
              install="python3 installer.py --model later")
    (models / "later.onnx").unlink()
    gimp = installer.Gimp("2.10", str(tmp / "plug-ins"), "test")
    record = installer.Record(str(tmp / "record.json"))
    for src, dest, mode in installer.plugin_files(gimp):
        installer.put_file(src, dest, mode, False, record)
    installer.write_json(os.path.join(gimp.folder, installer.CONFIG), {"python": sys.executable})

    g = grey()
    palette = [0, 0, 0, 90, 90, 90, 180, 180, 180, 250, 250, 250]
    indices = (g // 64).astype(np.uint8)
    alpha = np.linspace(0, 255, W).astype(np.uint8)[None, :].repeat(H, 0)
    base = {"width": W, "height": H, "values": {"model": "tiny"}}
    red = np.zeros((H + 4, W, 4), np.uint8)
    red[6:12, 2:10] = (255, 0, 0, 255)  # over the source's rows 4-9 (the layer sits 2 higher)
    hints = {"name": "Colour hints", "width": W, "height": H + 4, "kind": RGBA_IMAGE,
             "offsets": [0, -2], "pixels": b64(red)}
    with_hints = dict(base, base_type=RGB, kind=RGB_IMAGE, hints=hints,
                      pixels=b64(np.dstack([g] * 3)))
    scenarios = [
        dict(base, name="rgb", base_type=RGB, kind=RGB_IMAGE, offsets=[5, 7],
             pixels=b64(np.dstack([g] * 3))),
        dict(base, name="gray", base_type=GRAY, kind=GRAY_IMAGE, pixels=b64(g)),
        dict(base, name="indexed", base_type=INDEXED, kind=INDEXED_IMAGE, colormap=palette,
             pixels=b64(indices)),
        dict(base, name="alpha", base_type=RGB, kind=RGBA_IMAGE,
             pixels=b64(np.dstack([g] * 3 + [alpha]))),
        dict(base, name="selection", base_type=RGB, kind=RGB_IMAGE, selection=[2, 2, 5, 5],
             pixels=b64(np.dstack([g] * 3))),
        dict(base, name="all", values={"model": "all-installed"}, base_type=RGB,
             kind=RGB_IMAGE, pixels=b64(np.dstack([g] * 3))),
        dict(base, name="missing", values={"model": "later"}, base_type=GRAY, kind=GRAY_IMAGE,
             pixels=b64(g)),
        # The menu GIMP registered named a model that has since gone from the manifests.
        dict(base, name="changed", values={"model": "tiny-gone"}, base_type=RGB,
             kind=RGB_IMAGE, pixels=b64(np.dstack([g] * 3))),
        dict(with_hints, name="hints", values={"model": "tiny", "use_hints": True,
                                               "hints": "layer"}),
        dict(with_hints, name="hints_by_name", values={"model": "tiny", "use_hints": True}),
        dict(with_hints, name="hints_unused", values={"model": "tiny"}),
        dict(with_hints, name="hints_text", hints=dict(hints, text=True),
             values={"model": "tiny", "use_hints": True, "hints": "layer"}),
        dict(base, name="deep", precision=250, base_type=RGB, kind=RGB_IMAGE,
             pixels=b64(np.dstack([g] * 3))),
    ]
    spec = tmp / "spec.json"
    spec.write_text(json.dumps({"stub": str(GIMP_TESTS / "gimp2_stub"),
                                "plugin": os.path.join(gimp.plug_ins, installer.PLUGIN2 + ".py"),
                                "scenarios": scenarios}))
    out = tmp / "result.json"
    env = {**PY27, "COLORIZE_AI_MODELS": str(models)}
    proc = subprocess.run(command + [str(GIMP_TESTS / "gimp2_driver.py"), str(spec), str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return {**json.loads(out.read_text()), "grey": g, "palette": palette, "indices": indices,
            "alpha": alpha, "models": str(models)}


def names(case: dict) -> list[str]:
    return [layer["name"] for layer in case["layers"]]


def test_registration_matches_the_gimp3_plugin(run):
    assert run["python"].startswith("2.7")
    reg = run["registered"]
    assert reg["name"] == "plug-in-colorize-ai"
    assert reg["label"] == "Colorize (AI)..." and reg["menu"] == "<Image>/Filters"
    assert reg["image_types"] == "RGB*, GRAY*, INDEXED*"
    params = {p[1]: p for p in reg["params"]}
    assert params["model"][3] == "tiny"  # chosen by id, the default model first
    assert params["model"][4] == [["Tiny tiny", "tiny"], ["Tiny tiny-b", "tiny-b"],
                                  ["All installed models (one layer each)", "all-installed"],
                                  ["Later model (not installed: python3 installer.py --model "
                                   "later)", "later"]]
    assert params["device"][4][0] == ["Automatic (CUDA when it works, else CPU)", "auto"]
    assert params["strength"][3] == 1.0 and params["strength"][4][:2] == [0.0, 2.0]
    assert set(params) >= {"render_size", "selection_only", "variant", "use_hints", "hints"}
    assert params["interpolation"][3] == "edge-aware"
    assert [value for _, value in params["interpolation"][4]] == ["edge-aware", "bilinear",
                                                                  "bicubic"]
    assert run["main_called"]


def test_rgb_layer_gets_one_new_layer_equal_to_the_engine(run):
    case = run["scenarios"]["rgb"]
    assert names(case) == ["Colorized (Tiny tiny)", "source"]
    new, source = case["layers"]
    assert (new["width"], new["height"], new["offsets"], new["kind"]) == (W, H, [5, 7],
                                                                           RGB_IMAGE)
    assert (pixels(source, 3)[..., 0] == run["grey"]).all()  # the source is not touched
    expected = engine(run, np.dstack([run["grey"]] * 3))
    assert int(np.abs(pixels(new, 3).astype(int) - expected).max()) <= 1
    calls = [c[0] for c in case["calls"]]
    start, end = calls.index("undo_group_start"), calls.index("undo_group_end")
    assert start < calls.index("gimp_image_insert_layer") < end
    assert calls.count("undo_group_start") == 1 and case["undo_depth"] == 0
    assert "gimp.progress_init" in calls and "gimp.message" not in calls


def test_gray_image_is_converted_inside_the_undo_group(run):
    case = run["scenarios"]["gray"]
    assert case["base_type"] == RGB
    convert = [c for c in case["calls"] if c[0] == "gimp_image_convert_rgb"]
    assert convert == [["gimp_image_convert_rgb", 1]]  # inside the group
    assert any(c[0] == "gimp.message" and "converted the image to RGB" in c[1]
               for c in case["calls"])
    expected = engine(run, run["grey"])
    assert int(np.abs(pixels(case["layers"][0], 3).astype(int) - expected).max()) <= 1


def test_indexed_colours_are_looked_up(run):
    case = run["scenarios"]["indexed"]
    palette = np.array(run["palette"], np.uint8).reshape(-1, 3)
    expected = engine(run, palette[run["indices"]])
    assert int(np.abs(pixels(case["layers"][0], 3).astype(int) - expected).max()) <= 1
    assert case["base_type"] == RGB


def test_alpha_is_kept(run):
    case = run["scenarios"]["alpha"]
    new = case["layers"][0]
    assert new["kind"] == RGBA_IMAGE
    assert (pixels(new, 4)[..., 3] == run["alpha"]).all()


def test_selection_becomes_a_layer_mask(run):
    case = run["scenarios"]["selection"]
    assert case["layers"][0]["mask"] == ADD_SELECTION_MASK
    assert case["layers"][1]["mask"] is None


def test_all_installed_models_one_layer_each(run):
    assert names(run["scenarios"]["all"]) == ["Colorized (Tiny tiny)", "Colorized (Tiny tiny-b)",
                                              "source"]


def test_missing_model_says_how_to_install_and_changes_nothing(run):
    case = run["scenarios"]["missing"]
    assert names(case) == ["source"] and case["base_type"] == GRAY
    messages = [c[1] for c in case["calls"] if c[0] == "gimp.message"]
    assert messages == ["The model Later model is not installed; install it with `python3 "
                        "installer.py --model later`, then restart GIMP."]
    assert "undo_group_start" not in [c[0] for c in case["calls"]]


def test_high_bit_depth_is_refused_with_a_message(run):
    case = run["scenarios"]["deep"]
    assert names(case) == ["source"]
    messages = [c[1] for c in case["calls"] if c[0] == "gimp.message"]
    assert len(messages) == 1 and "8-bit" in messages[0]


def test_a_model_gone_since_registration_is_named_not_swapped(run):
    case = run["scenarios"]["changed"]
    assert names(case) == ["source"]
    messages = [c[1] for c in case["calls"] if c[0] == "gimp.message"]
    assert len(messages) == 1 and "'tiny-gone' is no longer known" in messages[0]


def _lab(layer: dict) -> np.ndarray:
    import cv2

    return cv2.cvtColor(pixels(layer, 3).astype(np.float32) / 255, cv2.COLOR_RGB2Lab)


@pytest.mark.parametrize("name", ["hints", "hints_by_name"])
def test_hints_layer_colours_the_result_and_is_hidden_not_changed(run, name):
    case = run["scenarios"][name]
    assert names(case) == ["Colour hints", "Colorized (Tiny tiny, hints)", "source"]
    hints, new, _ = case["layers"]
    assert not hints["visible"]
    calls = [c[0] for c in case["calls"]]
    assert calls.index("undo_group_start") < calls.index("gimp_item_set_visible") < \
        calls.index("undo_group_end")
    painted = _lab(new)[4:10, 2:10]
    plain = _lab(run["scenarios"]["hints_unused"]["layers"][1])[4:10, 2:10]
    assert painted[..., 1].mean() > plain[..., 1].mean() + 20  # redder (a*) where painted
    red = np.frombuffer(base64.b64decode(hints["pixels"]), np.uint8).reshape(H + 4, W, 4)
    assert (red[6:12, 2:10] == (255, 0, 0, 255)).all() and red[..., 3].sum() == 48 * 255


def test_hints_off_leaves_the_hints_layer_alone(run):
    case = run["scenarios"]["hints_unused"]
    assert case["layers"][0]["visible"]
    assert "gimp_item_set_visible" not in [c[0] for c in case["calls"]]


def test_text_layer_as_hints_is_a_message(run):
    case = run["scenarios"]["hints_text"]
    assert names(case) == ["Colour hints", "source"]
    messages = [c[1] for c in case["calls"] if c[0] == "gimp.message"]
    assert len(messages) == 1 and "text layer" in messages[0]
