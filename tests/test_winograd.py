"""The Winograd rewrite of 3x3 convolutions (tools/converters/winograd.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from converters import winograd  # noqa: E402


def _conv_model(in_ch: int, out_ch: int, dilation: int = 1, bias: bool = True, stride: int = 1,
                pads: int | None = None, seed: int = 0) -> onnx.ModelProto:
    """x -> Conv -> Relu -> Conv(1x1), with dynamic H and W."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(
        rng.normal(0, (2 / (9 * in_ch)) ** 0.5, (out_ch, in_ch, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(0, 1, (2, out_ch, 1, 1)).astype(np.float32), "w2")]
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.normal(0, 0.1, out_ch).astype(np.float32), "b"))
        inputs.append("b")
    pad = dilation if pads is None else pads
    nodes = [helper.make_node("Conv", inputs, ["c"], name="conv", kernel_shape=[3, 3],
                              pads=[pad] * 4, dilations=[dilation] * 2, strides=[stride] * 2),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w2"], ["y"], name="head")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, in_ch, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, "h", "w"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_same_output_as_the_direct_convolution_at_any_size(tile, dilation, bias):
    model = _conv_model(8, 12, dilation, bias)
    fast = _copy(model)
    assert winograd.rewrite(fast, min_channels=8, tile=tile) == 1
    onnx.checker.check_model(fast, full_check=True)
    ops = [n.op_type for n in fast.graph.node]
    assert ops.count("Conv") == 1 and "MatMul" in ops  # only the 1x1 head stays a Conv
    rng = np.random.default_rng(1)
    # Sizes that are and are not whole tiles (the graph pads and crops), down to one pixel.
    for height, width in [(24, 32), (13, 7), (1, 1), (6, 18), (29, 30)]:
        x = rng.normal(0, 1, (1, 8, height, width)).astype(np.float32)
        ref, got = _run(model, x), _run(fast, x)
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= 2e-5 * max(1.0, np.abs(ref).max())


def test_matrices_compute_a_correlation():
    """Each F(m, 3) tile equals the 1-D correlation it stands for, up to float64 rounding."""
    rng = np.random.default_rng(2)
    for m in (2, 4):
        bt, g, at = (np.asarray(a, np.float64) for a in winograd.MATRICES[m])
        d, w = rng.normal(size=m + 2), rng.normal(size=3)
        direct = np.array([d[i:i + 3] @ w for i in range(m)])
        assert np.allclose(at @ ((g @ w) * (bt @ d)), direct, atol=1e-12)


def test_restore_gives_back_plain_convolutions():
    model = _conv_model(8, 12, 2)
    fast = _copy(model)
    winograd.rewrite(fast, min_channels=8)
    keys = [p.key for p in fast.metadata_props]
    assert keys == [winograd.METADATA_KEY]
    assert winograd.restore(fast) == 1
    onnx.checker.check_model(fast, full_check=True)
    assert [n.op_type for n in fast.graph.node] == ["Conv", "Relu", "Conv"]
    assert not fast.metadata_props
    assert sorted(t.name for t in fast.graph.initializer) == ["b", "w", "w2"]
    before = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    after = {t.name: numpy_helper.to_array(t) for t in fast.graph.initializer}
    assert np.abs(after["w"] - before["w"]).max() <= 1e-6
    (conv,) = [n for n in fast.graph.node if n.name == "conv"]
    attrs = {a.name: list(a.ints) for a in conv.attribute}
    assert attrs["dilations"] == [2, 2] and attrs["pads"] == [2] * 4
    assert winograd.restore(fast) == 0  # nothing left to restore


@pytest.mark.parametrize("change", ["narrow", "stride", "valid"])
def test_other_convolutions_are_left_alone(change):
    if change == "narrow":
        model, min_channels = _conv_model(8, 12), 16
    elif change == "stride":
        model, min_channels = _conv_model(8, 12, stride=2), 8
    else:  # no padding: not the 'same' convolution the rewrite computes
        model, min_channels = _conv_model(8, 12, pads=0), 8
    before = model.SerializeToString()
    assert winograd.rewrite(model, min_channels=min_channels) == 0
    assert model.SerializeToString() == before
