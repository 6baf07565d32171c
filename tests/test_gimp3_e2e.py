"""End-to-end tests in a real GIMP 3, once per tested version (conftest's gimp_release: 3.0
in a Debian trixie root, 3.2 in a sid root, see tests/gimp/rootfs.py).

installer.py sets the plug-in up inside the root against a throwaway GIMP profile, then one
gimp-console-3.x start runs every case in tests/gimp/batch_cases.py; these tests check what
it recorded. Needs root (debootstrap, chroot); the first run builds each root (minutes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent / "gimp"))

import harness  # noqa: E402

from tiny_models import add_model, tiny_graph  # noqa: E402

pytestmark = [pytest.mark.gimp, pytest.mark.slow]

# Models the repository ships, which the installer installs next to the test's own.
REPO = Path(__file__).resolve().parents[1]
SHIPPED = [e for e in json.loads((REPO / "models" / "manifest.json").read_text())["models"]
           if e.get("sha256") and not e.get("variant_of")]


def shipped_layer_name(entry: dict) -> str:
    """What the default Precision (auto) runs for a shipped model on the CPU, as a layer name."""
    from colorize_ai.registry import Catalogue

    shipped = Catalogue.read([REPO / "models"])
    ran = shipped.choose(shipped.spec(entry["id"]), "auto", "cpu")
    return f"Colorized ({entry['name']}" + (f", {ran.precision})" if ran.variant_of else ")")
W, H = 97, 65  # odd sizes: not multiples of the models' input multiple
CANVAS, OFFSETS = (160, 120), (30, 40)
SELECTION = (20, 10, 40, 30)
RGB, GRAY, INDEXED = 0, 1, 2
U16_NON_LINEAR, FLOAT_LINEAR = 250, 600  # Gimp.Precision values


def grey_plane() -> np.ndarray:
    """A photo-like grey image: a ramp with rings, so colour varies across it."""
    y, x = np.mgrid[0:H, 0:W]
    ramp = 30 + 190 * x / (W - 1)
    rings = 25 * np.sin(np.hypot(x - 40, y - 30) / 4)
    return np.clip(ramp + rings, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def e2e(gimp_release):
    root, mount = harness.gimp_root(gimp_release)
    try:
        root.fresh_work()
        models = root.path(harness.MODELS)
        add_model(models, "tiny-a", default=True)
        add_model(models, "tiny-b", tiny_graph(stride=2))
        add_model(models, "tiny-c")
        gone = add_model(models, "tiny-gone")
        (models / gone["file"]).unlink()
        grey = grey_plane()
        work = root.path(harness.WORK)
        Image.fromarray(np.dstack([grey] * 3)).save(work / "photo.png")
        (work / "grey.raw").write_bytes(grey.tobytes())
        alpha = np.linspace(0, 255, W, dtype=np.float32)[None, :].repeat(H, 0).astype(np.uint8)
        (work / "alpha.raw").write_bytes(np.dstack([grey] * 3 + [alpha]).tobytes())
        deep = (grey.astype(np.uint32) * 257 + np.arange(W)[None, :] * 37 % 257)
        (work / "deep.raw").write_bytes(np.dstack([deep.astype("=u2")] * 3).tobytes())
        hints = np.zeros((H + 10, W + 20, 4), np.uint8)  # at offsets (-10, -5) over the photo
        hints[5 + 10:5 + 30, 10 + 5:10 + 35] = (255, 0, 0, 255)
        hints[5 + 35:5 + 55, 10 + 60:10 + 90] = (0, 0, 255, 255)
        (work / "hints.raw").write_bytes(hints.tobytes())
        settings = {
            "hints": harness.WORK + "/hints.raw", "hints_size": [W + 20, H + 10],
            "hints_offsets": [-10, -5],
            "out": harness.OUT, "photo": harness.WORK + "/photo.png",
            "gray": harness.WORK + "/grey.raw", "gray_size": [W, H],
            "alpha": harness.WORK + "/alpha.raw", "alpha_size": [W, H],
            "deep": harness.WORK + "/deep.raw", "deep_size": [W, H],
            "canvas": list(CANVAS), "offsets": list(OFFSETS), "selection": list(SELECTION),
            "model_a": "tiny-a", "model_missing": "tiny-gone", "model_corrupt": "tiny-c",
            "gui_photo": harness.WORK + "/photo.png",
            "plugin_config": harness.PROFILE + "/plug-ins/colorize_ai/config.json",
            "models": harness.MODELS,
            "corrupt_file": harness.MODELS + "/tiny-c.onnx"}
        (work / "settings.json").write_text(json.dumps(settings))

        first = root.install()
        second = root.install()
        cli = root.run([harness.HOME + "/.local/share/colorize-ai/venv/bin/colorize-ai",
                        harness.WORK + "/photo.png", "-m", "tiny-a", "-o", harness.WORK + "/cli"])
        batch = root.batch("batch_cases.py")
        results_file = root.path(harness.OUT) / "results.json"
        results = json.loads(results_file.read_text()) if results_file.exists() else {}
        yield {"root": root, "install": first, "reinstall": second, "cli": cli, "batch": batch,
               "results": results, "out": root.path(harness.OUT), "work": work, "grey": grey,
               "alpha": alpha, "deep": deep, "models": models, "release": gimp_release}
    finally:
        mount.__exit__(None, None, None)


@pytest.fixture(scope="module")
def gui(e2e) -> dict:
    """The GUI session (tests/gimp/gui_session.py): dialog, OK, Ctrl+Z in the image window."""
    run = e2e["root"].gui_batch("gui_session.py")
    report = e2e["out"] / "gui.json"
    assert report.exists(), run.stderr.decode()[-3000:]
    data = json.loads(report.read_text())
    assert "exception" not in data, data["exception"]
    return {step.pop("step"): step for step in data["steps"]}


def result(e2e, name: str) -> dict:
    assert e2e["install"].returncode == 0, e2e["install"].stderr.decode()[-2000:]
    results = e2e["results"]
    assert name in results, "GIMP did not run the cases:\n" + e2e["batch"].stderr.decode()[-3000:]
    assert "exception" not in results[name], results[name]["exception"]
    return results[name]


def raw(e2e, name: str, dtype, channels: int) -> np.ndarray:
    return np.fromfile(e2e["out"] / name, dtype=dtype).reshape(H, W, channels)


def colourful(rgb: np.ndarray) -> bool:
    rgb = rgb.astype(np.int32)
    return int(np.abs(rgb[..., 0] - rgb[..., 2]).max()) > 10


def test_installer_sets_up_the_plugin_and_is_idempotent(e2e):
    first = e2e["install"].stdout.decode()
    assert e2e["install"].returncode == 0, e2e["install"].stderr.decode()
    assert "GIMP 3.0 ($GIMP3_DIRECTORY): plug-in installed" in first
    second = e2e["reinstall"].stdout.decode()
    assert "Python environment: up to date" in second
    assert "plug-in up to date" in second
    check = e2e["root"].install("--check")
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    assert "CPUExecutionProvider" in check.stdout.decode()


def test_1_registered_with_menu_path_and_arguments(e2e):
    info = result(e2e, "registered")
    assert info["found"]
    assert info["gimp_version"].startswith(e2e["release"].gimp + ".")
    assert info["menu_paths"] == ["<Image>/Filters"]
    assert info["menu_label"] == "Colorize (AI)\u2026"
    assert info["image_types"] == "RGB*, GRAY*, INDEXED*"
    for name in ("model", "device", "variant", "strength", "render-size", "interpolation",
                 "selection-only"):
        assert name in info["arguments"]
    # The test's models first (COLORIZE_AI_MODELS), then those the installer shipped.
    installed = ["tiny-a", "tiny-b", "tiny-c"] + [e["id"] for e in SHIPPED]
    assert info["model_choices"][: len(installed) + 1] == installed + ["all-installed"]
    assert "tiny-gone" in info["model_choices"]
    gone = info["model_labels"][info["model_choices"].index("tiny-gone")]
    assert "not installed" in gone and "python3 installer.py" in gone
    assert info["model_default"] == "tiny-a"
    assert info["strength"] == [0.0, 2.0, 1.0]


def test_2_rgb_photo_gives_one_layer_equal_to_the_cli(e2e):
    case = result(e2e, "rgb_photo")
    assert case["run"]["status"] == "success", case["run"]
    layers = case["after"]["layers"]
    assert len(layers) == len(case["before"]["layers"]) + 1 == 2
    assert layers[0]["name"] == "Colorized (Tiny tiny-a)"
    assert (layers[0]["width"], layers[0]["height"], layers[0]["offsets"]) == (W, H, [0, 0])
    assert case["source_after"] == case["source_before"]
    gimp = raw(e2e, case["result"], np.uint8, 3)
    assert e2e["cli"].returncode == 0, e2e["cli"].stderr.decode()
    cli = np.asarray(Image.open(e2e["work"] / "cli" / "photo_tiny-a.png").convert("RGB"))
    assert colourful(gimp)
    assert int(np.abs(gimp.astype(int) - cli.astype(int)).max()) <= 1  # measured: 0


def test_3_all_installed_models_one_layer_each(e2e):
    case = result(e2e, "all_models")
    assert case["run"]["status"] == "success", case["run"]
    names = [layer["name"] for layer in case["after"]["layers"]]
    assert names[:-1] == ["Colorized (Tiny tiny-a)", "Colorized (Tiny tiny-b)",
                          "Colorized (Tiny tiny-c)"] + [shipped_layer_name(e) for e in SHIPPED]
    assert "Colorized (Baseline CNN (ours), int8)" in names  # its int8 copy is faithful


def test_4_grayscale_image_is_converted_to_rgb(e2e):
    case = result(e2e, "grayscale")
    assert case["run"]["status"] == "success", case["run"]
    assert case["before"]["base_type"] == GRAY and case["after"]["base_type"] == RGB
    assert [layer["name"] for layer in case["after"]["layers"]] == [
        "Colorized (Tiny tiny-a)", "grey"]
    source = raw(e2e, case["source"], np.uint8, 3)
    assert (source[..., 0] == e2e["grey"]).all()  # converting kept the grey values
    assert colourful(raw(e2e, case["result"], np.uint8, 3))


def test_4_one_undo_reverts_the_whole_run(gui):
    # A person's run: the dialog, OK, then Ctrl+Z once in the image window.
    assert gui["dialog"]["shot"]
    assert gui["opened"]["base_type"] == GRAY and len(gui["opened"]["layers"]) == 1
    assert gui["colorized"]["status"] == "success"
    assert gui["colorized"]["base_type"] == RGB and len(gui["colorized"]["layers"]) == 2
    assert gui["undo"]["window"], "the image window was not found"
    assert gui["undone"]["base_type"] == GRAY
    assert gui["undone"]["layers"] == gui["opened"]["layers"]


def test_4b_indexed_image_is_converted_to_rgb(e2e):
    case = result(e2e, "indexed")
    assert case["run"]["status"] == "success", case["run"]
    assert case["before"]["base_type"] == INDEXED and case["after"]["base_type"] == RGB
    assert len(case["after"]["layers"]) == 2


def test_5_selection_colour_only_inside(e2e):
    case = result(e2e, "selection")
    assert case["run"]["status"] == "success", case["run"]
    assert case["after"]["layers"][0]["mask"]
    x, y, w, h = SELECTION
    inside = np.zeros((H, W), bool)
    inside[y:y + h, x:x + w] = True
    mask = raw(e2e, case["mask"], np.uint8, 1)[..., 0]
    assert (mask[inside] == 255).all() and (mask[~inside] == 0).all()
    composite = raw(e2e, case["composite"], np.uint8, 3)
    source = raw(e2e, case["source"], np.uint8, 3)
    assert (composite[~inside] == source[~inside]).all()
    assert colourful(composite[inside][None])


def test_6_alpha_is_kept(e2e):
    case = result(e2e, "alpha")
    assert case["run"]["status"] == "success", case["run"]
    assert case["after"]["layers"][0]["alpha"]
    out = raw(e2e, case["result"], np.uint8, 4)
    # Where alpha is 0 GIMP stores no colour, so compare alpha only.
    assert (out[..., 3] == e2e["alpha"]).all()


def test_6b_layer_with_offsets_in_a_larger_canvas(e2e):
    case = result(e2e, "offsets")
    assert case["run"]["status"] == "success", case["run"]
    layers = case["after"]["layers"]
    assert [la["name"] for la in layers] == ["on top", "Colorized (Tiny tiny-a)", "placed",
                                             "background"]
    assert (layers[1]["width"], layers[1]["height"], layers[1]["offsets"]) == (W, H,
                                                                               list(OFFSETS))


def test_6c_layer_inside_a_group_gets_its_result_in_the_group(e2e):
    case = result(e2e, "inside_group")
    assert case["run"]["status"] == "success", case["run"]
    assert case["children"] == ["Colorized (Tiny tiny-a)", "child"]
    assert [la["name"] for la in case["after"]["layers"]] == ["group", "Background"]


def test_7_sixteen_bit_keeps_its_precision(e2e):
    case = result(e2e, "sixteen_bit")
    assert case["run"]["status"] == "success", case["run"]
    assert case["after"]["precision"] == U16_NON_LINEAR
    out16 = raw(e2e, case["result"], np.uint16, 3)
    assert colourful(out16 // 257)
    # An 8-bit round trip would leave only multiples of 257.
    assert np.mean(out16 % 257 != 0) > 0.5
    from colorize_ai.model import load_model
    from colorize_ai.pipeline import colorize

    source = raw(e2e, case["source"], np.float32, 3)
    expected = colorize(source, load_model("tiny-a", device="cpu", folders=[e2e["models"]]))
    gimp = raw(e2e, case["result_float"], np.float32, 3)
    # Far below one 8-bit step: GIMP and the engine differ only by 16-bit rounding.
    assert float(np.abs(gimp - expected).max()) < 1 / 4096


def test_7b_32_bit_linear_float_image(e2e):
    case = result(e2e, "float_linear")
    assert case["run"]["status"] == "success", case["run"]
    assert case["after"]["precision"] == FLOAT_LINEAR
    from colorize_ai.model import load_model
    from colorize_ai.pipeline import colorize

    source = raw(e2e, case["source"], np.float32, 3)
    expected = colorize(source, load_model("tiny-a", device="cpu", folders=[e2e["models"]]))
    gimp = raw(e2e, case["result"], np.float32, 3)
    assert colourful(np.clip(gimp * 255, 0, 255))
    # GIMP stores linear floats; its conversions to and from R'G'B' float are near exact.
    assert float(np.abs(gimp - expected).max()) < 1e-3


def test_8_missing_model_error_and_image_unchanged(e2e):
    case = result(e2e, "missing_model")
    assert case["run"]["status"] == "execution-error"
    message = case["run"]["message"]
    assert "Tiny tiny-gone is not installed" in message and "python3 installer.py" in message
    assert case["after"] == case["before"]


def test_8a_fast_variant_that_is_not_installed_is_named(e2e):
    case = result(e2e, "fast_variant_missing")
    assert case["run"]["status"] == "execution-error"
    message = case["run"]["message"]
    assert "no fast variant for the CPU installed" in message and "quantize int8" in message
    assert case["after"] == case["before"]


def test_8b_corrupt_model_error_from_the_worker(e2e):
    case = result(e2e, "corrupt_model")
    assert case["run"]["status"] == "execution-error"
    message = case["run"]["message"]
    assert "damaged" in message and "Traceback" not in message
    assert case["after"] == case["before"]


def test_8c_two_layers_selected_is_refused(e2e):
    case = result(e2e, "two_layers")
    assert case["run"]["status"] == "calling-error"
    assert "exactly one layer" in case["run"]["message"]
    assert case["after"] == case["before"]


def test_8d_layer_group_is_refused(e2e):
    case = result(e2e, "layer_group")
    assert case["run"]["status"] == "calling-error"
    assert "layer group" in case["run"]["message"]
    assert case["after"] == case["before"]


def test_8e_engine_that_cannot_start_gives_a_readable_error(e2e):
    case = result(e2e, "engine_missing")
    assert case["run"]["status"] == "execution-error"
    message = case["run"]["message"]
    assert "could not be started" in message and "python3 installer.py" in message
    assert case["after"] == case["before"]


def test_8f_damaged_model_list_is_named(e2e):
    case = result(e2e, "damaged_manifest")
    assert case["run"]["status"] == "execution-error"
    assert "manifest.json is damaged" in case["run"]["message"]
    assert case["after"] == case["before"]


def test_uninstall_in_the_root_removes_what_was_installed(e2e):
    # Last on purpose: the other tests need the installation.
    root = e2e["root"]
    data = root.path(harness.HOME + "/.local/share/colorize-ai")
    plugin = root.path(harness.PROFILE + "/plug-ins/colorize_ai")
    assert plugin.is_dir() and (data / "venv").is_dir()
    out = root.install("--uninstall")
    assert out.returncode == 0, out.stderr.decode()
    assert not plugin.exists() and not data.exists()
    assert (root.path(harness.PROFILE) / "pluginrc").is_file()  # GIMP's own files stay


def _lab_u8(e2e, name: str, channels: int = 3) -> np.ndarray:
    import cv2

    rgb = np.fromfile(e2e["out"] / name, np.uint8).reshape(H, W, channels)[..., :3]
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)


def test_9_hints_layer_red_and_blue_regions_follow_the_hints(e2e):
    r = result(e2e, "hints_red_blue")
    assert r["run"]["status"] == "success", r["run"]
    names = [layer["name"] for layer in r["after"]["layers"]]
    assert names == ["Colour hints", "Colorized (Tiny tiny-a, hints)",
                     r["before"]["layers"][-1]["name"]]
    # The hints layer is hidden so the result shows; its pixels are as they were.
    assert not r["hints_visible"]
    assert r["after"]["sources"][0] == r["before"]["sources"][0]
    assert r["after"]["sources"][-1] == r["before"]["sources"][-1]
    hinted, plain = _lab_u8(e2e, r["result"]), _lab_u8(e2e, "hints_none.raw")
    red, blue = (slice(12, 28), slice(8, 28)), (slice(32, 48), slice(62, 88))
    assert hinted[red][..., 1].mean() > plain[red][..., 1].mean() + 20  # a* up: red
    assert hinted[blue][..., 2].mean() < plain[blue][..., 2].mean() - 20  # b* down: blue


def test_9a_no_hints_layer_runs_as_before(e2e):
    r = result(e2e, "hints_none_is_the_plain_run")
    assert r["run"]["status"] == "success" and r["hints_visible"]
    rgb = result(e2e, "rgb_photo")
    plain = np.fromfile(e2e["out"] / rgb["result"], np.uint8)
    assert np.array_equal(np.fromfile(e2e["out"] / r["result"], np.uint8), plain)


@pytest.mark.parametrize("name, words", [("hints_group_refused", "layer group"),
                                         ("hints_text_refused", "text layer"),
                                         ("hints_without_alpha_refused", "no transparency")])
def test_9b_unusable_hints_layers_are_a_readable_error(e2e, name, words):
    r = result(e2e, name)
    assert r["run"]["status"] == "calling-error", r["run"]
    assert words in r["run"]["message"] and "Traceback" not in r["run"]["message"]
    assert r["after"] == r["before"]
