"""tools/convert_models.py quantize: int8 and fp16 variants with their manifest entries and
measured fidelity, on a small random convolutional net and scikit-image's sample photos."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import convert_models  # noqa: E402
from converters.quantize import fidelity, model_feeds, read_photos  # noqa: E402

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime.quantization")
skimage_data = pytest.importorskip("skimage.data")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from tiny_models import add_model  # noqa: E402


def small_net(seed: int = 0, strides: tuple[int, int, int] = (1, 2, 1),
              upsample_before: int | None = None) -> onnx.ModelProto:
    """L [1,1,H,W] -> three 3x3 convolutions (one with stride 2) -> tanh ab [1,2,H/2,W/2];
    `upsample_before`: a x2 nearest Resize before that convolution."""
    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "L"
    if upsample_before is not None:
        inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"))
    for i, (cin, cout, stride) in enumerate(zip((1, 8, 8), (8, 8, 2), strides)):
        w = rng.normal(0, np.sqrt(2 / (cin * 9)), (cout, cin, 3, 3)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"),
                  numpy_helper.from_array(rng.normal(0, 0.1, cout).astype(np.float32), f"b{i}")]
        if i == upsample_before:
            nodes.append(helper.make_node("Resize", [x, "", "scales"], ["up"], mode="nearest",
                                          coordinate_transformation_mode="asymmetric",
                                          nearest_mode="floor"))
            x = "up"
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"],
                                      pads=[1, 1, 1, 1], strides=[stride, stride]))
        x = f"c{i}"
        if i < 2:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    nodes.append(helper.make_node("Tanh", [x], ["ab"]))
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("L", TensorProto.FLOAT, [1, 1, "H", "W"])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, [1, 2, "h", "w"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = model.metadata_props.add()
    meta.key, meta.value = "family", "baseline"
    return model


def photos(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for name in names:
        rgb = getattr(skimage_data, name)()
        small = cv2.resize(rgb, (160, 120), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    return folder


@pytest.fixture
def setup(tmp_path):
    models = tmp_path / "models"
    add_model(models, "small", small_net(), multiple=2, default=True,
              output={"name": "ab", "ab_scale": 60.0, "decoding": "tanh"})
    return {"models": models,
            "calibration": photos(tmp_path / "cal", ["astronaut", "coffee", "rocket"]),
            "test": photos(tmp_path / "test", ["chelsea", "immunohistochemistry"])}


def quantize(setup, precision: str, *extra: str) -> int:
    return convert_models.main(["quantize", precision, "--model", "small", "--models",
                                str(setup["models"]), "--test", str(setup["test"]), *extra])


def entry(models: Path, model_id: str) -> dict:
    data = json.loads((models / "manifest.json").read_text())
    return next(e for e in data["models"] if e["id"] == model_id)


def independent_de00(models: Path, a: str, b: str, folder: Path) -> np.ndarray:
    from skimage.color import deltaE_ciede2000, rgb2lab

    from colorize_ai.model import load_model
    from colorize_ai.pipeline import colorize

    ma, mb = (load_model(i, device="cpu", folders=[models], variant="exact") for i in (a, b))
    out = []
    for path in sorted(folder.iterdir()):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        out.append(deltaE_ciede2000(rgb2lab(colorize(rgb, ma)), rgb2lab(colorize(rgb, mb))).ravel())
    return np.concatenate(out)


def test_int8_variant_is_quantized_listed_and_measured(setup):
    assert quantize(setup, "int8", "--calibration", str(setup["calibration"])) == 0
    models = setup["models"]
    e = entry(models, "small-int8")
    assert (e["variant_of"], e["variant"], e["precision"], e["device"]) == (
        "small", "fast", "int8", "cpu")
    assert e["family"] == "baseline" and e["output"]["ab_scale"] == 60.0 and "default" not in e
    assert "3 photos of cal/" in e["provenance"]
    graph = onnx.load(str(models / e["file"])).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    assert any(t.data_type == TensorProto.INT8 for t in graph.initializer)  # int8 weights
    assert graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    # The recorded fidelity is what an independent measurement of the installed file finds.
    d = independent_de00(models, "small", "small-int8", setup["test"])
    f = e["fidelity"]
    assert f["photos"] == 2 and f["pixels"] == d.size
    assert f["mean_de00"] == pytest.approx(d.mean(), abs=1e-3)
    assert f["p99_de00"] == pytest.approx(np.percentile(d, 99), abs=1e-3)
    assert 0 < f["mean_de00"] < 2.0  # quantized (not identical), and close


def test_int8_calibrates_on_photos_of_different_shapes(setup, tmp_path):
    # ONNX Runtime's percentile calibrator stacks each tensor over the calibration inputs.
    folder = setup["calibration"]
    rgb = cv2.resize(skimage_data.astronaut(), (90, 200), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(folder / "tall.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert quantize(setup, "int8", "--calibration", str(folder)) == 0
    assert "4 photos of cal/" in entry(setup["models"], "small-int8")["provenance"]


def test_fp16_variant_keeps_float32_io(setup):
    assert quantize(setup, "fp16") == 0
    e = entry(setup["models"], "small-fp16")
    assert (e["variant"], e["precision"], e["device"]) == ("fast", "fp16", "cuda")
    model = onnx.load(str(setup["models"] / e["file"]))
    onnx.checker.check_model(model, full_check=True)  # nodes in topological order
    assert {t.data_type for t in model.graph.initializer} == {TensorProto.FLOAT16}
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    meta = {p.key: p.value for p in model.metadata_props}
    assert (meta["family"], meta["variant_of"], meta["precision"]) == ("baseline", "small", "fp16")
    assert 0 <= e["fidelity"]["mean_de00"] < 0.5


@pytest.mark.parametrize("precision", ["int8", "fp16"])
def test_variants_of_a_winograd_model_use_plain_convolutions(tmp_path, precision):
    """A model whose convolutions were written in Winograd form (Zhang's converter does that
    for the CPU) is quantized from its direct form: int8 keeps the narrow value ranges of a
    plain convolution, and CUDA has its own fast convolutions."""
    from converters import winograd

    model = small_net(strides=(1, 1, 2))
    assert winograd.rewrite(model, min_channels=8) == 1
    models = tmp_path / "models"
    add_model(models, "small", model, multiple=2, default=True,
              output={"name": "ab", "ab_scale": 60.0, "decoding": "tanh"})
    test = photos(tmp_path / "test", ["chelsea"])
    extra = ["--calibration", str(test)] if precision == "int8" else []
    assert convert_models.main(["quantize", precision, "--model", "small", "--models",
                                str(models), "--test", str(test), *extra]) == 0
    e = entry(models, f"small-{precision}")
    variant = onnx.load(str(models / e["file"]))
    ops = [n.op_type for n in variant.graph.node]
    assert ops.count("Conv") == 3 and "MatMul" not in ops and "DepthToSpace" not in ops
    assert "winograd" not in {p.key for p in variant.metadata_props}
    assert e["fidelity"]["mean_de00"] < (2.0 if precision == "int8" else 0.5)


def upsampling_net() -> onnx.ModelProto:
    """small_net with a x2 nearest upsampling before its second convolution (so ab is H x W),
    in the sub-pixel form the converters write."""
    from converters import subpixel

    model = small_net(1, strides=(2, 1, 1), upsample_before=1)
    assert subpixel.rewrite(model) == 1
    return model


def test_int8_of_a_subpixel_model_keeps_the_interleave_in_uint8(tmp_path):
    """The one-hot ConvTranspose has no integer kernel in ONNX Runtime; the int8 copy gets the
    interleave as Reshape/Transpose, which run on uint8."""
    models = tmp_path / "models"
    add_model(models, "small", upsampling_net(), multiple=2, default=True,
              output={"name": "ab", "ab_scale": 60.0, "decoding": "tanh"})
    test = photos(tmp_path / "test", ["chelsea", "coffee"])
    assert convert_models.main(["quantize", "int8", "--model", "small", "--models",
                                str(models), "--test", str(test), "--calibration",
                                str(test)]) == 0
    e = entry(models, "small-int8")
    graph = onnx.load(str(models / e["file"])).graph
    ops = [n.op_type for n in graph.node]
    assert "ConvTranspose" not in ops and "Resize" not in ops and "Reshape" in ops
    assert ops.count("Conv") == 1 + 4 + 1 and "QuantizeLinear" in ops
    assert 0 < e["fidelity"]["mean_de00"] < 2.0


def test_fidelity_tells_models_apart(setup, tmp_path):
    from colorize_ai.model import load_model

    add_model(setup["models"], "other", small_net(seed=1), multiple=2,
              output={"name": "ab", "ab_scale": 60.0, "decoding": "tanh"})
    a, b = (load_model(i, device="cpu", folders=[setup["models"]]) for i in ("small", "other"))
    test = read_photos(setup["test"])
    same, other = fidelity(a, a, test), fidelity(a, b, test)
    assert same["mean_de00"] == same["max_de00"] == 0
    assert other["mean_de00"] > 1 and other["p99_de00"] >= other["mean_de00"]


def test_errors_are_one_line(setup, tmp_path, capsys):
    assert quantize(setup, "int8") == 1
    assert "error: int8 needs --calibration" in capsys.readouterr().err
    assert quantize(setup, "int8", "--calibration", str(tmp_path / "none")) == 1
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert quantize(setup, "int8", "--calibration", str(empty)) == 1
    assert "no readable photos" in capsys.readouterr().err
    assert convert_models.main(["quantize", "fp16", "--model", "nope", "--models",
                                str(setup["models"]), "--test", str(setup["test"])]) == 1
    assert "Unknown model 'nope'" in capsys.readouterr().err
    assert not (setup["models"] / "small-int8.onnx").exists()


def test_int8_kernels_compute_what_the_quantized_graph_says(setup):
    """ONNX Runtime's uint8 x int8 kernels on x86 CPUs without VNNI add pairs of products in
    int16 (vpmaddubsw) and saturate unless the weights stay within [-64, 64]; then the fused
    int8 kernels (default session) and the QDQ graph taken literally (no optimisation: float
    arithmetic on the dequantized values) agree on every CPU."""
    import onnxruntime as ort

    from colorize_ai.model import load_model

    assert quantize(setup, "int8", "--calibration", str(setup["calibration"])) == 0
    path = setup["models"] / entry(setup["models"], "small-int8")["file"]
    graph = onnx.load(str(path)).graph
    weights = [numpy_helper.to_array(t).astype(int) for t in graph.initializer
               if t.data_type == TensorProto.INT8 and len(t.dims) == 4]
    assert len(weights) == 3 and max(int(np.abs(w).max()) for w in weights) <= 64
    literal = ort.SessionOptions()
    literal.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    fused, plain = (ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                    for options in (ort.SessionOptions(), literal))
    small = load_model("small", device="cpu", folders=[setup["models"]])
    for rgb in read_photos(setup["test"]):
        feeds = model_feeds(small, rgb)
        a, b = fused.run(None, feeds)[0], plain.run(None, feeds)[0]
        assert np.abs(a - b).max() * 60 < 1.0  # ab units (the model's tanh x 60)


@pytest.mark.parametrize("family", ["baseline", "zhang"])
def test_calibration_feeds_are_the_engines_model_input(tmp_path, family):
    """quantize calibrates on exactly what colorize() feeds the model: the photo's proportions
    kept and the family's own shrink (Zhang's bilinear one), not a square of its own."""
    from colorize_ai.model import load_model
    from colorize_ai.pipeline import model_input

    add_model(tmp_path, "m", family=family)
    model = load_model("m", device="cpu", folders=[tmp_path])
    rgb = skimage_data.chelsea()  # 451 x 300: not square
    feeds = model_feeds(model, rgb)
    expected = model_input(rgb, model)
    assert expected.shape[0] != expected.shape[1]
    assert set(feeds) == {"L"}
    np.testing.assert_array_equal(feeds["L"], model.family.feeds(expected)["L"])
