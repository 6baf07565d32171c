"""`convert_models.py siggraph17`: the interactive model of Zhang et al. (SIGGRAPH 2017) against
OpenCV's Caffe importer (an independent implementation) on a synthetic caffemodel in the exact
published architecture, with colour hints, and through the engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

import caffe_synth
from sg17_torch import torch_reference

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from converters import caffe_proto, siggraph17  # noqa: E402
from converters.common import ConversionError  # noqa: E402
from toolbox import sha256_file  # noqa: E402

PROTOTXT_SHA256 = "7d8828a29ec3b711db33e37fa1f46ce5dd5ac3c13a71961b6b61a5443e4cc75e"


@pytest.fixture(scope="session")
def files(tmp_path_factory):
    caffe_synth.require(caffe_synth.SHARED_SIGGRAPH17)
    return caffe_synth.synthetic_siggraph17(tmp_path_factory.getbasetemp() / "sg17-synthetic")


def _convert_cli(files, folder: Path, *options: str) -> onnx.ModelProto:
    from convert_models import main

    prototxt, caffemodel, _ = files
    argv = ["siggraph17", "--prototxt", str(prototxt), "--caffemodel", str(caffemodel),
            "-o", str(folder), *options]
    assert main(argv) == 0
    return onnx.load(str(folder / "siggraph17.onnx"))


@pytest.fixture(scope="session")
def forms(files, tmp_path_factory):
    """(models folder, model) of `convert_models.py siggraph17` by form: "winograd" as users
    get it, "direct" with --direct-convolutions."""
    options = {"winograd": (), "direct": ("--direct-convolutions",)}
    return {name: (folder, _convert_cli(files, folder, *extra))
            for name, extra in options.items()
            for folder in [tmp_path_factory.mktemp(f"models-{name}")]}


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _inputs(seed: int, height: int, width: int, hints: int = 12):
    """(ONNX feeds, OpenCV's data_l_ab_mask) for a photo-like L and random hint squares."""
    rng = np.random.default_rng(seed)
    plane = caffe_synth.smooth_l(rng, height, width)
    ab, mask = caffe_synth.random_hints(rng, height, width, hints)
    feeds = {"L": plane[None, None], "ab_hint": ab[None], "mask": mask[None]}
    return feeds, caffe_synth.siggraph17_input(plane, ab, mask)


def test_published_prototxt_layers(files):
    prototxt, _, _ = files
    assert sha256_file(prototxt) == PROTOTXT_SHA256
    layers = caffe_proto.net_layers(caffe_proto.read_prototxt(str(prototxt)))
    kinds = [lay.type for lay in layers]
    assert len(layers) == 77
    assert kinds.count("Convolution") == 31 and kinds.count("Deconvolution") == 3
    assert kinds.count("Eltwise") == 4 and kinds.count("BatchNorm") == 9
    assert kinds.count("Slice") == kinds.count("TanH") == kinds.count("Scale") == 1
    slice_layer = next(lay for lay in layers if lay.type == "Slice")
    assert slice_layer.top == ["data_l", "data_ab_mask"]


def test_graph_contract(forms):
    _, model = forms["direct"]
    onnx.checker.check_model(model, full_check=True)
    dims = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim]
            for i in model.graph.input}
    assert dims == {"L": [1, 1, "H", "W"], "ab_hint": [1, 2, "H", "W"], "mask": [1, 1, "H", "W"]}
    (out,) = model.graph.output
    assert out.name == "ab"
    assert [d.dim_value or d.dim_param for d in out.type.tensor_type.shape.dim] == [1, 2, "H", "W"]
    ops = [n.op_type for n in model.graph.node]
    # The mask's x110 and pred_ab's Scale stay Muls; the Scale follows the TanH.
    assert ops[:2] == ["Mul", "Concat"] and ops[-2:] == ["Tanh", "Mul"]
    assert ops.count("Conv") == 31 and ops.count("ConvTranspose") == 3
    assert ops.count("Slice") == 2 and "BatchNormalization" not in ops
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["family"] == "siggraph17"
    assert json.loads(meta["source_files"]) == ["deploy_nodist.prototxt", "model.caffemodel"]
    assert json.loads(meta["source_sha256"])[0] == PROTOTXT_SHA256
    assert float(meta["l_offset"]) == 50 and float(meta["l_divisor"]) == 1
    assert float(meta["mask_mult"]) == 110 and float(meta["pred_ab_scale"]) == 100
    assert float(meta["ab_scale"]) == 1 and "winograd" not in meta


def test_winograd_form(forms):
    _, fast = forms["winograd"]
    records = json.loads({p.key: p.value for p in fast.metadata_props}["winograd"])
    # conv3_2, conv3_3, conv3_3_short, conv4_* to conv7_*, conv8_2, conv8_3.
    assert len(records) == 17
    ops = [n.op_type for n in fast.graph.node]
    assert ops.count("Conv") == 31 - 17


@pytest.mark.slow
@pytest.mark.parametrize("height,width", [(256, 256), (192, 320)])
def test_matches_opencv_caffe(files, forms, height, width):
    """Both forms against OpenCV with Winograd off, within max(1e-3, 1.5 x OpenCV's own
    Winograd-on vs -off spread), with hints present; the final TanH is not saturated."""
    prototxt, caffemodel, weights = files
    exact = caffe_synth.opencv_siggraph17(prototxt, caffemodel, winograd=False)
    fast = caffe_synth.opencv_siggraph17(prototxt, caffemodel, winograd=True)
    feeds, blob = _inputs(height + width, height, width)
    references = []
    for net in (exact, fast):
        net.setInput(blob)
        references.append(net.forward("pred_ab"))
    reference, opencv_winograd = references
    spread = float(np.abs(opencv_winograd - reference).max())
    tolerance = max(1e-3, 1.5 * spread)
    scale = float(weights["pred_ab"][0][0])
    assert reference.shape == (1, 2, height, width)
    # TanH far from saturation: ab varies over tens of units, nowhere near +-scale.
    assert np.abs(reference).max() < 0.8 * scale
    assert reference.std(axis=(2, 3)).min() > 1.0 and np.ptp(reference) > 20
    for name, (_, model) in forms.items():
        (ours,) = _session(model).run(["ab"], feeds)
        worst = float(np.abs(ours - reference).max())
        print(f"{height}x{width} {name}: max |ab - OpenCV| {worst:.2e}, OpenCV's Winograd "
              f"spread {spread:.2e}, tolerance {tolerance:.2e}")
        assert worst <= tolerance


@pytest.mark.slow
def test_hints_and_scale_reach_the_output(files, forms, tmp_path):
    """The hint inputs change the colours; the Scale value is the caffemodel's."""
    prototxt, _, weights = files
    session = _session(forms["direct"][1])
    feeds, _ = _inputs(3, 64, 96, hints=30)
    (with_hints,) = session.run(["ab"], feeds)
    plain = {**feeds, "ab_hint": np.zeros_like(feeds["ab_hint"]),
             "mask": np.zeros_like(feeds["mask"])}
    (without,) = session.run(["ab"], plain)
    assert np.abs(with_hints - without).max() > 1.0
    caffemodel = tmp_path / "model.caffemodel"
    caffe_synth.write_siggraph17_caffemodel(
        caffemodel, weights={**weights, "pred_ab": [np.array([90.0], np.float32)]})
    model = siggraph17.convert(prototxt, caffemodel, winograd=False)
    assert {p.key: p.value for p in model.metadata_props}["pred_ab_scale"] == "90.0"
    (scaled,) = _session(model).run(["ab"], feeds)
    np.testing.assert_allclose(scaled, with_hints * 0.9, atol=1e-3)


def test_manifest_entry_and_engine(forms):
    """load_model, predict_ab with and without hints (the family's feeds give the graph's
    inputs) and the whole pipeline without hints."""
    from colorize_ai.families import HintCells
    from colorize_ai.model import load_model
    from colorize_ai.pipeline import colorize

    folder, _ = forms["winograd"]
    (entry,) = json.loads((folder / "manifest.json").read_text())["models"]
    assert entry["id"] == "siggraph17" and entry["family"] == "siggraph17"
    assert entry["sha256"] == sha256_file(folder / entry["file"])
    assert entry["install"] == "python3 installer.py --model siggraph17"
    assert entry["input"]["l_offset"] == 50 and entry["input"]["mask_offset"] == 0
    assert entry["output"]["ab_scale"] == 1
    model = load_model("siggraph17", device="cpu", folders=[folder])
    assert model.takes_hints
    feeds, _ = _inputs(4, 64, 64)
    lightness = feeds["L"][0, 0] + 50
    hints = HintCells(feeds["ab_hint"][0].transpose(1, 2, 0), feeds["mask"][0, 0])
    ab = model.predict_ab(lightness, hints)
    (reference,) = _session(forms["direct"][1]).run(["ab"], feeds)
    assert ab.shape == (64, 64, 2)
    np.testing.assert_allclose(ab, reference[0].transpose(1, 2, 0), atol=1e-2)
    assert np.abs(model.predict_ab(lightness) - ab).max() > 1.0
    photo = np.dstack([np.linspace(0, 255, 80 * 72).reshape(72, 80).astype(np.uint8)] * 3)
    rgb = colorize(photo, model, render_size=64)
    assert rgb.shape == photo.shape and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - photo).max() > 3  # it got colours


def test_wrong_input_and_missing_weights_are_clear_errors(files, tmp_path):
    prototxt, caffemodel, _ = files
    text = prototxt.read_text()
    three = tmp_path / "three.prototxt"
    three.write_text(text.replace("dim: 1 dim: 4 dim: 256", "dim: 1 dim: 3 dim: 256"))
    with pytest.raises(ConversionError, match="3 channels; this network takes 4"):
        siggraph17.convert(three, caffemodel)
    other = tmp_path / "other.caffemodel"
    caffe_synth.write_net(other, [caffe_synth.layer("x", "ReLU", [], [])])
    with pytest.raises(ConversionError, match="layer 'ab_conv1_1' .* no weights"):
        siggraph17.convert(prototxt, other)


# ---------------------------------------------------------------------------------------------
# The layer types the Caffe graph code gained for this network, on a small net

SMALL = """
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 4 dim: 16 dim: 24 } } }
layer { name: "split" type: "Slice" bottom: "data" top: "a" top: "b" top: "c"
        slice_param { axis: 1 slice_point: 1 slice_point: 3 } }
layer { name: "ca" type: "Convolution" bottom: "a" top: "ca"
        convolution_param { num_output: 6 kernel_size: 3 pad: 1 } }
layer { name: "cb" type: "Convolution" bottom: "b" top: "cb"
        convolution_param { num_output: 6 kernel_size: 3 pad: 1 } }
layer { name: "cc" type: "Convolution" bottom: "c" top: "cc"
        convolution_param { num_output: 6 kernel_size: 1 } }
layer { name: "sum" type: "Eltwise" bottom: "ca" bottom: "cb" bottom: "cc" top: "sum" }
layer { name: "sum" type: "ReLU" bottom: "sum" top: "sum" }
layer { name: "cat" type: "Concat" bottom: "sum" bottom: "ca" top: "cat" }
layer { name: "up" type: "Deconvolution" bottom: "cat" top: "up"
        convolution_param { num_output: 2 kernel_size: 4 stride: 2 pad: 1 } }
layer { name: "t" type: "TanH" bottom: "up" top: "t" }
layer { name: "s" type: "Scale" bottom: "t" top: "s" scale_param { bias_term: false } }
"""


def _small_net(tmp_path: Path, text: str):
    from converters import caffe_graph

    rng = np.random.default_rng(0)
    blobs = {"ca": [rng.normal(0, 0.3, (6, 1, 3, 3)), rng.normal(0, 0.1, 6)],
             "cb": [rng.normal(0, 0.3, (6, 2, 3, 3)), rng.normal(0, 0.1, 6)],
             "cc": [rng.normal(0, 0.3, (6, 1, 1, 1)), rng.normal(0, 0.1, 6)],
             "up": [rng.normal(0, 0.2, (12, 2, 4, 4)), rng.normal(0, 0.1, 2)],
             "s": [np.array([7.5])]}
    types = {"ca": "Convolution", "cb": "Convolution", "cc": "Convolution",
             "up": "Deconvolution", "s": "Scale"}
    (tmp_path / "net.prototxt").write_text(text)
    caffe_synth.write_net(tmp_path / "net.caffemodel",
                          [caffe_synth.layer(n, types[n], [], [], b) for n, b in blobs.items()])
    deploy, weights = caffe_graph.read_caffe(tmp_path / "net.prototxt",
                                             tmp_path / "net.caffemodel")
    ops, graph_input, graph_output = caffe_graph.build_ops(deploy, weights)
    caffe_graph.fold(ops, graph_output)
    return caffe_graph.to_onnx(ops, [(graph_input, 4)], ("out", [1, 2, "H", "W"]),
                               {graph_output: "out"}, "small", {})


def test_slice_eltwise_concat_tanh_match_opencv(tmp_path):
    model = _small_net(tmp_path, SMALL)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Slice") == 3 and "Sum" in ops and "Concat" in ops and "Tanh" in ops
    net = cv2.dnn.readNetFromCaffe(str(tmp_path / "net.prototxt"), str(tmp_path / "net.caffemodel"))
    x = np.random.default_rng(1).normal(0, 1, (1, 4, 16, 24)).astype(np.float32)
    net.setInput(x)
    reference = net.forward("s")
    (ours,) = _session(model).run(["out"], {"data": x})
    assert ours.shape == reference.shape == (1, 2, 32, 48) and ours.std() > 0.5
    assert np.abs(ours - reference).max() <= 1e-4 * 7.5  # float32 rounding of both


@pytest.mark.parametrize("old,new,message", [
    ('top: "sum" }', 'top: "sum" eltwise_param { operation: PROD } }', "only plain sums"),
    ("slice_point: 1 slice_point: 3", "slice_point: 1", "one slice_point fewer"),
    ("slice_param { axis: 1", "slice_param { axis: 2", "'split' \\(Slice\\) on an axis other"),
])
def test_unsupported_options_are_clear_errors(tmp_path, old, new, message):
    assert old in SMALL
    with pytest.raises(ConversionError, match=message):
        _small_net(tmp_path, SMALL.replace(old, new, 1))


# ---------------------------------------------------------------------------------------------
# The authors' PyTorch port (--pth), read without torch; torch itself is the reference here


@pytest.fixture(scope="module")
def pth_files(tmp_path_factory):
    torch, model = torch_reference()
    folder = tmp_path_factory.mktemp("pth")
    torch.save(model.state_dict(), folder / "siggraph17-df00044c.pth")
    torch.save(model.state_dict(), folder / "legacy.pth", _use_new_zipfile_serialization=False)
    return torch, model, folder


def test_pth_matches_torch_through_the_engine(pth_files):
    from colorize_ai.families import HintCells
    from colorize_ai.model import load_model
    from convert_models import main
    from converters import torch_pth

    torch, reference, folder = pth_files
    pth = folder / "siggraph17-df00044c.pth"
    assert main(["siggraph17", "--pth", str(pth), "-o", str(folder / "models")]) == 0
    (entry,) = json.loads((folder / "models" / "manifest.json").read_text())["models"]
    assert entry["id"] == "siggraph17-pytorch" and entry["output"]["ab_scale"] == 110
    assert (entry["input"]["l_divisor"], entry["input"]["hint_divisor"]) == (100, 110)
    model = onnx.load(str(folder / "models" / "siggraph17-pytorch.onnx"))
    assert len(json.loads({p.key: p.value for p in model.metadata_props}["winograd"])) == 17
    engine = load_model("siggraph17-pytorch", device="cpu", folders=[folder / "models"])
    feeds, _ = _inputs(5, 64, 96, hints=20)
    lightness = feeds["L"][0, 0] + 50
    hints = HintCells(feeds["ab_hint"][0].transpose(1, 2, 0), feeds["mask"][0, 0])
    given = hints.ab.copy()
    ours = engine.predict_ab(lightness, hints)
    assert np.array_equal(hints.ab, given)  # the caller's hints are left as they were
    with torch.no_grad():
        expected = reference(torch.from_numpy(lightness[None, None]),
                             torch.from_numpy(feeds["ab_hint"]),
                             torch.from_numpy(feeds["mask"])).numpy()[0].transpose(1, 2, 0)
    assert expected.std() > 0.5
    assert np.abs(ours - expected).max() <= 1e-3
    legacy = torch_pth.read_state_dict(folder / "legacy.pth")
    current = torch_pth.read_state_dict(pth)
    assert legacy.keys() == current.keys() == reference.state_dict().keys()
    assert all(np.array_equal(legacy[k], current[k]) for k in current)


def test_pth_errors_are_one_sentence(pth_files, tmp_path):
    import pickle

    from converters import siggraph17_torch

    torch, reference, _ = pth_files
    state = reference.state_dict()
    del state["model_out.0.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(ConversionError, match="no 'model_out.0.weight'"):
        siggraph17_torch.convert(tmp_path / "partial.pth")
    # A pickle naming any other class is refused before anything runs.
    (tmp_path / "evil.pth").write_bytes(pickle.dumps(Path("x"), protocol=2))
    with pytest.raises(ConversionError, match="holds a pathlib.*which a state dict does not"):
        siggraph17_torch.convert(tmp_path / "evil.pth")
    (tmp_path / "cut.pth").write_bytes((tmp_path / "partial.pth").read_bytes()[:5000])
    with pytest.raises(ConversionError):
        siggraph17_torch.convert(tmp_path / "cut.pth")
