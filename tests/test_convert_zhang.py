"""`convert_models.py zhang`: our Caffe reader and converter against OpenCV's Caffe importer
(an independent implementation), on a synthetic caffemodel in the exact published architecture,
on small nets that exercise every layer option, and through the engine's whole pipeline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import caffe_synth
from caffe_synth import f_bytes, f_float, f_string, f_varint, layer, write_net

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from converters import caffe_proto, winograd, zhang  # noqa: E402
from converters.common import ConversionError  # noqa: E402
from toolbox import sha256_file  # noqa: E402

TOLERANCE_AB = 1e-3


@pytest.fixture(scope="session")
def zhang_files(tmp_path_factory):
    caffe_synth.require(caffe_synth.SHARED_ZHANG)
    return caffe_synth.synthetic_zhang(tmp_path_factory.getbasetemp() / "zhang-synthetic")


def _convert_cli(zhang_files, folder: Path, *options: str) -> onnx.ModelProto:
    prototxt, caffemodel, hull, _ = zhang_files
    sys.path.insert(0, str(ROOT / "tools"))
    from convert_models import main

    argv = ["zhang", "--prototxt", str(prototxt), "--caffemodel", str(caffemodel),
            "--hull", str(hull), "-o", str(folder), *options]
    assert main(argv) == 0
    return onnx.load(str(folder / "zhang-eccv16.onnx"))


@pytest.fixture(scope="session")
def converted(zhang_files, tmp_path_factory):
    """(models folder, model) after `convert_models.py zhang` on the synthetic files: the
    form users get, with the wide convolutions in Winograd form."""
    folder = tmp_path_factory.mktemp("models")
    return folder, _convert_cli(zhang_files, folder)


@pytest.fixture(scope="session")
def direct(zhang_files, tmp_path_factory):
    """(models folder, model) of `convert_models.py zhang --direct-convolutions`."""
    folder = tmp_path_factory.mktemp("models-direct")
    return folder, _convert_cli(zhang_files, folder, "--direct-convolutions")


@pytest.fixture(scope="session")
def sessions(direct, zhang_files):
    """(ONNX Runtime session of the direct form, OpenCV net) on the same weights: the direct
    form is the translation of Caffe's layers, compared with OpenCV to 1e-3."""
    folder, _ = direct
    session = ort.InferenceSession(
        str(folder / "zhang-eccv16.onnx"), providers=["CPUExecutionProvider"]
    )
    return session, caffe_synth.opencv_zhang(*zhang_files[:3])


def _opencv_forward(net, x: np.ndarray) -> np.ndarray:
    net.setInput(x)
    return net.forward("class8_ab")


# ---------------------------------------------------------------------------------------------
# Reader


def test_text_format_parser():
    text = """
    name: "t"  # a comment
    layer { name: 'a\\'b' type: "Convolution" top: "x"
      convolution_param { num_output: 3 kernel_size: 3 kernel_size: 1 bias_term: false }
      param { lr_mult: 0 } }
    layer < name: "s" scale_param: { filler { type: 'constant' value: -2.5e-1 } } >
    dims: [1, 2, 3]; phase: TEST
    """
    net = caffe_proto.parse_text(text)
    first, second = net.all("layer")
    assert first.get("name") == "a'b"
    conv = first.sub("convolution_param")
    assert conv.all("kernel_size") == [3, 1] and conv.get("bias_term") is False
    assert second.sub("scale_param").sub("filler").get("value") == -0.25
    assert net.all("dims") == [1, 2, 3] and net.get("phase") == "TEST"
    with pytest.raises(caffe_proto.CaffeFormatError, match="'}' is missing"):
        caffe_proto.parse_text("layer { name: 'x'")


def test_phase_rules_select_deploy_layers():
    net = caffe_proto.parse_text(
        'layer { name: "a" type: "Data" include { phase: TRAIN } }'
        'layer { name: "b" type: "ReLU" include { phase: TEST } }'
        'layer { name: "c" type: "ReLU" exclude { phase: TEST } }'
        'layers { name: "d" type: RELU }'
    )
    assert [(lay.name, lay.type) for lay in caffe_proto.net_layers(net)] == [
        ("b", "ReLU"),
        ("d", "ReLU"),
    ]
    assert len(caffe_proto.net_layers(net, test_only=False)) == 4


def test_published_prototxt_layers(zhang_files):
    layers = caffe_proto.net_layers(caffe_proto.read_prototxt(str(zhang_files[0])))
    kinds = [lay.type for lay in layers]
    assert len(layers) == 57
    assert kinds.count("Convolution") == 23 and kinds.count("Deconvolution") == 1
    assert kinds.count("BatchNorm") == 7 and kinds.count("ReLU") == 22
    conv5 = next(lay for lay in layers if lay.name == "conv5_1").params.sub("convolution_param")
    assert (conv5.get("dilation"), conv5.get("pad"), conv5.get("num_output")) == (2, 2, 512)


def test_caffemodel_reader_returns_the_written_blobs(zhang_files):
    _, caffemodel, _, weights = zhang_files
    layers = caffe_proto.net_layers(caffe_proto.read_caffemodel(str(caffemodel)))
    read = {lay.name: lay.blobs for lay in layers if lay.blobs}
    assert read.keys() == weights.keys()
    for name, blobs in weights.items():
        assert [b.shape for b in read[name]] == [b.shape for b in blobs], name
        assert all(np.array_equal(a, b) for a, b in zip(read[name], blobs)), name
    assert {lay.type for lay in layers} >= {"Deconvolution", "BatchNorm", "Scale", "ReLU"}


def test_truncated_caffemodel_is_a_clear_error(zhang_files, tmp_path):
    prototxt, caffemodel, hull, _ = zhang_files
    cut = tmp_path / "cut.caffemodel"
    with open(caffemodel, "rb") as f:
        cut.write_bytes(f.read(1_000_000))
    with pytest.raises(ConversionError, match="not a Caffe file: .*cut short"):
        zhang.convert(prototxt, cut, hull)


# ---------------------------------------------------------------------------------------------
# The published architecture, synthetic weights


def test_graph_contract(direct):
    folder, model = direct
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version >= 17
    (inp,) = model.graph.input
    (out,) = model.graph.output
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert inp.name == "L" and dims[:2] == [1, 1] and all(isinstance(d, str) for d in dims[2:])
    assert out.name == "ab"
    ops = [n.op_type for n in model.graph.node]
    # Each BatchNorm's scale went into the convolution before its ReLU; its shift stays an Add
    # because the next convolution pads with zeros. conv8_313_rh went into conv8_313.
    assert ops.count("Add") == 7 and "Mul" not in ops and "BatchNormalization" not in ops
    assert ops.count("Conv") == 23 and ops.count("ConvTranspose") == 1
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["family"] == "zhang"
    assert json.loads(meta["source_files"]) == [
        "colorization_deploy_v2.prototxt",
        "colorization_release_v2.caffemodel",
        "pts_in_hull.npy",
    ]
    assert json.loads(meta["source_sha256"])[0] == zhang.SOURCES[0].sha256
    assert float(meta["l_offset"]) == 50 and float(meta["l_divisor"]) == 1
    assert float(meta["ab_scale"]) == 1
    assert float(meta["temperature"]) == pytest.approx(1 / 2.606)
    assert meta["converter_version"]
    assert "winograd" not in meta


def test_winograd_form_matches_the_direct_one(converted, direct, zhang_files):
    """The default conversion computes the 15 wide 3x3 convolutions (256 and 512 channels) by
    Winograd's F(4x4, 3x3); it gives the direct form's ab to a hundredth of a unit, at the
    sizes the engine feeds (multiples of 8, whole tiles or not), and restores to it exactly."""
    _, fast = converted
    _, plain = direct
    onnx.checker.check_model(fast, full_check=True)
    records = json.loads({p.key: p.value for p in fast.metadata_props}["winograd"])
    assert len(records) == 15 and {r["dilation"] for r in records} == {1, 2}
    ops = [n.op_type for n in fast.graph.node]
    assert ops.count("Conv") == 23 - 15 and ops.count("ConvTranspose") == 1
    sessions = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
                for m in (fast, plain)]
    rng = np.random.default_rng(7)
    for height, width in [(224, 224), (232, 176), (64, 72)]:
        x = caffe_synth.smooth_l(rng, height, width)[None, None]
        ours, reference = (s.run(["ab"], {"L": x})[0] for s in sessions)
        assert ours.shape == reference.shape == (1, 2, height // 4, width // 4)
        assert np.abs(ours - reference).max() <= 0.02
    restored = onnx.ModelProto()
    restored.CopyFrom(fast)
    assert winograd.restore(restored) == 15
    assert [n.op_type for n in restored.graph.node] == [n.op_type for n in plain.graph.node]
    weights = {t.name: numpy_helper.to_array(t) for t in plain.graph.initializer}
    for t in restored.graph.initializer:
        w = numpy_helper.to_array(t)
        assert np.abs(w - weights[t.name]).max() <= 1e-5 * max(1.0, np.abs(w).max())


def test_manifest_entry_and_engine_loading(converted):
    folder, _ = converted
    (entry,) = json.loads((folder / "manifest.json").read_text())["models"]
    assert entry["id"] == "zhang-eccv16" and entry["family"] == "zhang"
    assert entry["sha256"] == sha256_file(folder / entry["file"])
    assert entry["size_bytes"] == (folder / entry["file"]).stat().st_size
    assert entry["input"] == {
        "name": "L",
        "layout": "NCHW",
        "size": 224,
        "multiple": 8,
        "fixed_size": False,
        "l_offset": 50.0,
        "l_divisor": 1.0,
    }
    assert entry["output"] == {
        "name": "ab",
        "layout": "NCHW",
        "ab_scale": 1.0,
        "decoding": "annealed-mean",
    }
    assert entry["license"] == "BSD-2-Clause"
    assert entry["install"] == "python3 installer.py --model zhang"
    assert [u.rsplit("/", 1)[1] for u in entry["source_urls"]] == [s.name for s in zhang.SOURCES]
    from colorize_ai.model import load_model

    model = load_model("zhang-eccv16", device="cpu", folders=[folder])
    assert model.spec.family == "zhang"


@pytest.mark.slow
@pytest.mark.parametrize("height,width", [(224, 224), (256, 320)])
def test_matches_opencv_caffe(sessions, height, width):
    session, net = sessions
    rng = np.random.default_rng(height * 1000 + width)
    worst = 0.0
    for _ in range(3):
        x = caffe_synth.smooth_l(rng, height, width)[None, None]
        (ours,) = session.run(["ab"], {"L": x})
        reference = _opencv_forward(net, x)
        assert ours.shape == reference.shape == (1, 2, height // 4, width // 4)
        assert np.all(np.isfinite(ours))
        # Not trivially constant: ab varies over tens of units across the picture.
        assert ours.std(axis=(2, 3)).min() > 1.0 and np.ptp(ours) > 20
        worst = max(worst, float(np.abs(ours - reference).max()))
    print(f"max |ab - OpenCV| at {height}x{width}: {worst:.2e}")
    assert worst <= TOLERANCE_AB


@pytest.mark.slow
def test_temperature_option(zhang_files, sessions):
    prototxt, caffemodel, hull, _ = zhang_files
    model = zhang.convert(prototxt, caffemodel, hull, temperature=0.5)
    meta = {p.key: p.value for p in model.metadata_props}
    assert float(meta["temperature"]) == 0.5
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    net = caffe_synth.opencv_zhang(prototxt, caffemodel, hull, scale=2.0)
    x = caffe_synth.smooth_l(np.random.default_rng(5), 224, 224)[None, None]
    (ours,) = session.run(["ab"], {"L": x})
    assert np.abs(ours - _opencv_forward(net, x)).max() <= TOLERANCE_AB
    (default,) = sessions[0].run(["ab"], {"L": x})
    assert np.abs(ours - default).max() > 0.1  # a different temperature changes the colours
    with pytest.raises(ConversionError, match="positive"):
        zhang.convert(prototxt, caffemodel, hull, temperature=0)


# ---------------------------------------------------------------------------------------------
# Small nets: every layer option, both file formats

SMALL_PROTOTXT = """
name: "small"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 1 dim: 16 dim: 24 } } }
layer { name: "c1" type: "Convolution" bottom: "data" top: "c1"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "bn1" type: "BatchNorm" bottom: "c1" top: "c1" batch_norm_param { eps: 0.05 } }
layer { name: "s1" type: "Scale" bottom: "c1" top: "c1" scale_param { bias_term: true } }
layer { name: "r1" type: "ReLU" bottom: "c1" top: "c1" relu_param { negative_slope: 0.1 } }
layer { name: "c2" type: "Convolution" bottom: "c1" top: "c2"
        convolution_param { num_output: 8 kernel_h: 3 kernel_w: 1 pad_h: 1 pad_w: 0
                            stride_h: 2 stride_w: 1 group: 2 bias_term: false } }
layer { name: "r2" type: "ReLU" bottom: "c2" top: "c2" }
layer { name: "bn2" type: "BatchNorm" bottom: "c2" top: "n2" }
layer { name: "c3" type: "Convolution" bottom: "n2" top: "c3"
        convolution_param { num_output: 6 kernel_size: 1 } }
layer { name: "r3" type: "ReLU" bottom: "c3" top: "c3" }
layer { name: "bn3" type: "BatchNorm" bottom: "c3" top: "n3" }
layer { name: "c4" type: "Convolution" bottom: "n3" top: "c4"
        convolution_param { num_output: 6 kernel_size: 3 pad: 2 dilation: 2 } }
layer { name: "d5" type: "Deconvolution" bottom: "c4" top: "d5"
        convolution_param { num_output: 4 kernel_size: 4 stride: 2 pad: 1 } }
layer { name: "c6" type: "Convolution" bottom: "d5" top: "c6"
        convolution_param { num_output: 5 kernel_size: 1 } }
layer { name: "conv8_313_rh" type: "Scale" bottom: "c6" top: "c6s"
        scale_param { bias_term: false filler { type: 'constant' value: 2.606 } } }
layer { name: "sm" type: "Softmax" bottom: "c6s" top: "p" }
layer { name: "class8_ab" type: "Convolution" bottom: "p" top: "class8_ab"
        convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "Silence" type: "Silence" bottom: "class8_ab" }
"""

SMALL_V1_PROTOTXT = """
name: "small_v1"
input: "data"
input_dim: 1 input_dim: 1 input_dim: 16 input_dim: 24
layers { name: "c1" type: CONVOLUTION bottom: "data" top: "c1"
         convolution_param { num_output: 6 kernel_size: 3 pad: 1 stride: 2 } }
layers { name: "r1" type: RELU bottom: "c1" top: "c1" }
layers { name: "d2" type: DECONVOLUTION bottom: "c1" top: "d2"
         convolution_param { num_output: 4 kernel_size: 4 stride: 2 pad: 1 } }
layers { name: "c3" type: CONVOLUTION bottom: "d2" top: "c3"
         convolution_param { num_output: 5 kernel_size: 1 } }
layers { name: "sm" type: SOFTMAX bottom: "c3" top: "p" }
layers { name: "class8_ab" type: CONVOLUTION bottom: "p" top: "class8_ab"
         convolution_param { num_output: 2 kernel_size: 1 } }
"""


def _bn(rng, channels: int) -> list[np.ndarray]:
    factor = 7.5
    mean = rng.normal(0.5, 0.3, channels)
    var = rng.uniform(0.2, 2.0, channels)
    return [mean * factor, var * factor, np.array([factor])]


def _small_weights(rng) -> dict[str, list[np.ndarray]]:
    def conv(out: int, fan_in: int, *kernel: int, gain: float = 1.0) -> np.ndarray:
        return rng.standard_normal((out, fan_in // kernel[0] // kernel[1], *kernel)) * (
            gain / np.sqrt(fan_in)
        )

    def n(size: int) -> np.ndarray:
        return rng.standard_normal(size) * 0.3

    # Input is L - 50, so c1 is scaled down to keep activations about 1.
    return {
        "c1": [conv(8, 9, 3, 3, gain=0.05), n(8)], "bn1": _bn(rng, 8),
        "s1": [n(8) + 1.5, n(8)], "c2": [conv(8, 12, 3, 1)], "bn2": _bn(rng, 8),
        "c3": [conv(6, 8, 1, 1), n(6)], "bn3": _bn(rng, 6), "c4": [conv(6, 54, 3, 3), n(6)],
        "d5": [rng.standard_normal((6, 4, 4, 4)) * 0.5, n(4)],
        "c6": [conv(5, 4, 1, 1, gain=0.5), n(5)],
    }  # fmt: skip


def _small_files(tmp_path: Path, prototxt: str, blobs: dict, v1: bool):
    types = {
        lay.name: lay.type
        for lay in caffe_proto.net_layers(caffe_proto.parse_text(prototxt), False)
    }
    (tmp_path / "net.prototxt").write_text(prototxt)
    bodies = [layer(name, types[name], [], [], list(b), v1=v1) for name, b in blobs.items()]
    write_net(tmp_path / "net.caffemodel", bodies, v1=v1)
    hull = np.random.default_rng(3).uniform(-100, 100, (5, 2)).round()
    np.save(tmp_path / "hull.npy", hull.astype(np.int64))
    return tmp_path / "net.prototxt", tmp_path / "net.caffemodel", tmp_path / "hull.npy"


def _compare_small(files, logits: tuple[str, str]) -> tuple[float, float, object]:
    """Worst |ab - OpenCV| and worst |logits - OpenCV| / max |logits| on three inputs, and the
    model. `logits`: the tensor before the softmax in our graph and in OpenCV's."""
    prototxt, caffemodel, hull_path = files
    model = zhang.convert(prototxt, caffemodel, hull_path)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(onnx.helper.make_tensor_value_info(logits[0], 1, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
    hull = np.load(hull_path)
    centres = hull.T.reshape(2, -1, 1, 1).astype(np.float32)
    net.getLayer(net.getLayerId("class8_ab")).blobs = [centres]
    if "conv8_313_rh" in net.getLayerNames():
        net.getLayer(net.getLayerId("conv8_313_rh")).blobs = [np.full([1, 5], 2.606, np.float32)]
    worst_ab = worst_logits = 0.0
    for seed in range(3):
        x = np.random.default_rng(seed).uniform(-50, 50, (1, 1, 16, 24)).astype(np.float32)
        ours, our_logits = session.run(["ab", logits[0]], {"L": x})
        net.setInput(x)
        reference, their_logits = net.forward(["class8_ab", logits[1]])
        assert ours.shape == reference.shape
        assert ours.std() > 1.0
        worst_ab = max(worst_ab, float(np.abs(ours - reference).max()))
        scale = np.abs(their_logits).max()
        worst_logits = max(worst_logits, float(np.abs(our_logits - their_logits).max() / scale))
    return worst_ab, worst_logits, model


def test_small_net_every_option_matches_opencv(tmp_path):
    files = _small_files(tmp_path, SMALL_PROTOTXT, _small_weights(np.random.default_rng(0)), False)
    worst_ab, worst_logits, model = _compare_small(files, ("c6", "conv8_313_rh"))
    print(f"small net: max |ab - OpenCV| {worst_ab:.1e}, logits {worst_logits:.1e} relative")
    assert worst_ab <= TOLERANCE_AB and worst_logits <= 1e-5
    ops = [n.op_type for n in model.graph.node]
    # bn1 and s1 fold into c1; bn2's scale into c2 and its shift into the unpadded 1x1 c3;
    # bn3's shift stays (c4 pads); conv8_313_rh folds into c6.
    assert ops == [
        "Conv",
        "LeakyRelu",
        "Conv",
        "Relu",
        "Conv",
        "Relu",
        "Add",
        "Conv",
        "ConvTranspose",
        "Conv",
        "Softmax",
        "Conv",
    ]


def test_legacy_v1_files_match_opencv(tmp_path):
    rng = np.random.default_rng(1)
    blobs = {
        "c1": [rng.standard_normal((6, 1, 3, 3)), rng.standard_normal(6)],
        "d2": [rng.standard_normal((6, 4, 4, 4)) * 0.5, rng.standard_normal(4)],
        "c3": [rng.standard_normal((5, 4, 1, 1)), rng.standard_normal(5)],
    }
    files = _small_files(tmp_path, SMALL_V1_PROTOTXT, blobs, True)
    worst_ab, worst_logits, _ = _compare_small(files, ("c3", "c3"))
    print(f"V1 net: max |ab - OpenCV| {worst_ab:.1e}, logits {worst_logits:.1e} relative")
    assert worst_ab <= TOLERANCE_AB and worst_logits <= 1e-5


def test_unknown_layer_type_names_layer_and_type(tmp_path):
    text = SMALL_PROTOTXT.replace(
        'layer { name: "c6"',
        'layer { name: "pool5" type: "Pooling" bottom: "d5" top: "d5" }\nlayer { name: "c6"',
    )
    files = _small_files(tmp_path, text, _small_weights(np.random.default_rng(0)), False)
    with pytest.raises(ConversionError, match="layer 'pool5' has type 'Pooling'"):
        zhang.convert(*files)


def test_missing_weights_and_bad_hull_are_clear_errors(tmp_path):
    weights = _small_weights(np.random.default_rng(0))
    del weights["c4"]
    files = _small_files(tmp_path, SMALL_PROTOTXT, weights, False)
    with pytest.raises(ConversionError, match="layer 'c4' .* no weights"):
        zhang.convert(*files)
    np.save(tmp_path / "bad.npy", np.zeros((5, 3)))
    with pytest.raises(ConversionError, match="N x 2"):
        zhang.convert(files[0], files[1], tmp_path / "bad.npy")


def test_cli_reports_errors_in_one_line(tmp_path, capsys):
    from convert_models import main

    (tmp_path / "bad.prototxt").write_text("layer { name: 'x' ")
    (tmp_path / "w.caffemodel").write_bytes(f_string(1, "n"))
    code = main(
        [
            "zhang",
            "--prototxt",
            str(tmp_path / "bad.prototxt"),
            "--caffemodel",
            str(tmp_path / "w.caffemodel"),
            "--hull",
            str(tmp_path / "h.npy"),
            "-o",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_binary_reader_fields_and_wire_types():
    message = f_string(1, "x") + f_varint(4, 300) + f_float(999, 1.5) + f_bytes(100, b"")
    net = caffe_proto.parse_binary(message)
    assert net.get("name") == "x" and net.all("input_dim") == [300]  # field 999: skipped
    assert len(net.all("layer")) == 1
    with pytest.raises(caffe_proto.CaffeFormatError, match="wrong wire type"):
        caffe_proto.parse_binary(f_float(2, 1.5))  # `layers` must be a message


# ---------------------------------------------------------------------------------------------
# Whole pipeline: the engine against OpenCV's sample pipeline on the same weights


def _opencv_sample_pipeline(net, rgb: np.ndarray) -> np.ndarray:
    """samples/dnn/colorization.py of OpenCV 4.x, for an RGB uint8 photo; RGB float in [0, 1]."""
    img_rgb = (rgb * 1.0 / 255).astype(np.float32)
    img_l = cv2.cvtColor(img_rgb, cv2.COLOR_RGB2Lab)[:, :, 0]
    height, width = img_rgb.shape[:2]
    img_rs = cv2.resize(img_rgb, (224, 224))
    img_l_rs = cv2.cvtColor(img_rs, cv2.COLOR_RGB2Lab)[:, :, 0] - 50
    net.setInput(cv2.dnn.blobFromImage(img_l_rs))
    ab_dec = net.forward()[0, :, :, :].transpose((1, 2, 0))
    ab_dec_us = cv2.resize(ab_dec, (width, height))
    img_lab_out = np.concatenate((img_l[:, :, np.newaxis], ab_dec_us), axis=2)
    return np.clip(cv2.cvtColor(img_lab_out, cv2.COLOR_Lab2RGB), 0, 1)


@pytest.mark.slow
@pytest.mark.parametrize(
    "side",
    [224, 512],
)
def test_engine_pipeline_matches_opencv_sample(converted, sessions, side):
    """At 224 px the photo is the model's input size, so both pipelines feed the network the
    same L and everything else is compared: Lab both ways, full-resolution L, the network,
    ab upsampling. At 512 px the two ways of shrinking the photo are compared as well."""
    from skimage import data

    from colorize_ai.model import load_model
    from colorize_ai.pipeline import colorize

    folder, _ = converted
    photo = data.astronaut()
    if side != photo.shape[0]:
        photo = cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA)
    model = load_model("zhang-eccv16", device="cpu", folders=[folder])
    ours = colorize(photo, model, render_size=224, fit="stretch", interpolation="bilinear")
    reference = _opencv_sample_pipeline(sessions[1], photo)
    diff = np.abs(ours.astype(np.float64) / 255 - reference).max(axis=2)
    within = float(np.mean(diff <= 1 / 255))
    grey = cv2.cvtColor(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    print(
        f"{side} px: pixels within 1/255 of OpenCV's sample {within:.4%}; "
        f"max {diff.max() * 255:.2f}/255"
    )
    assert np.abs(ours.astype(int) - grey).max() > 10  # the photo really got colours
    assert within >= 0.999
