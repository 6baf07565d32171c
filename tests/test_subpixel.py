"""Upsampling + 3x3 convolution at the low resolution (tools/converters/subpixel.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from converters import subpixel  # noqa: E402


def _model(bias: bool = True, relu: bool = True, modes: tuple[str, str] = ("asymmetric", "floor"),
           scales: tuple[float, ...] = (1, 1, 2, 2), pads: int = 1, scales_node: bool = False,
           extra_user: bool = False) -> onnx.ModelProto:
    """x [1, 5, H, W] -> Resize -> Conv 3x3 (7 channels) [-> Relu] -> Conv 1x1 (2) -> y."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (7, 5, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(0, 1, (2, 7, 1, 1)).astype(np.float32), "w2")]
    nodes = []
    scales_array = np.array(scales, np.float32)
    if scales_node:  # as torch.onnx exports it
        nodes.append(helper.make_node("Constant", [], ["scales"],
                                      value=numpy_helper.from_array(scales_array)))
    else:
        inits.append(numpy_helper.from_array(scales_array, "scales"))
    nodes.append(helper.make_node("Resize", ["x", "", "scales"], ["up"], name="up",
                                  mode="nearest", coordinate_transformation_mode=modes[0],
                                  nearest_mode=modes[1]))
    inputs = ["up", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.normal(0, 0.5, 7).astype(np.float32), "b"))
        inputs.append("b")
    nodes.append(helper.make_node("Conv", inputs, ["c"], name="conv", kernel_shape=[3, 3],
                                  pads=[pads] * 4))
    last = "c"
    if relu:
        nodes.append(helper.make_node("Relu", ["c"], ["r"], name="relu"))
        last = "r"
    nodes.append(helper.make_node("Conv", [last, "w2"], ["y"], name="head"))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, "h", "w"])]
    if extra_user:  # the upsampled tensor is wanted elsewhere too
        outputs.append(helper.make_tensor_value_info("up", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, "H", "W"])],
        outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


def _rewritten(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out, subpixel.rewrite(out)


@pytest.mark.parametrize("bias,relu", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("modes", [("asymmetric", "floor"), ("half_pixel", "round_prefer_floor"),
                                   ("pytorch_half_pixel", "round_prefer_ceil")])
def test_same_output_as_upsampling_then_convolving(bias, relu, modes):
    model = _model(bias, relu, modes)
    fast, count = _rewritten(model)
    assert count == 1
    onnx.checker.check_model(fast, full_check=True)
    ops = [n.op_type for n in fast.graph.node]
    assert "Resize" not in ops and ops.count("ConvTranspose") == 1
    # The ReLU moved before the interleave, where it fuses with the convolution.
    first = ["Conv", "Relu", "ConvTranspose"] if relu else ["Conv", "ConvTranspose"]
    assert ops == first + ["Conv"]
    assert {t.name for t in fast.graph.initializer}.isdisjoint({"w", "b", "scales"})
    rng = np.random.default_rng(1)
    for height, width in [(8, 12), (5, 3), (1, 1), (17, 16)]:
        x = rng.normal(0, 1, (1, 5, height, width)).astype(np.float32)
        ref, got = _run(model, x), _run(fast, x)
        assert got.shape == ref.shape == (1, 2, 2 * height, 2 * width)
        assert np.abs(got - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())


def test_scales_from_a_constant_node_as_torch_exports_them():
    model = _model(scales_node=True)
    fast, count = _rewritten(model)
    assert count == 1
    assert [n.op_type for n in fast.graph.node].count("Constant") == 0  # the scales went too
    x = np.random.default_rng(2).normal(0, 1, (1, 5, 6, 10)).astype(np.float32)
    assert np.abs(_run(fast, x) - _run(model, x)).max() <= 1e-5 * np.abs(_run(model, x)).max()


@pytest.mark.parametrize("change", [
    {"scales": (1, 1, 3, 3)},  # not x2
    {"modes": ("align_corners", "floor")},  # pixel 2y+1 reads another small pixel
    {"pads": 0},  # not a 'same' convolution
    {"extra_user": True},  # the upsampled tensor is needed as it is
])
def test_other_pairs_are_left_alone(change):
    model = _model(**change)
    before = model.SerializeToString()
    assert subpixel.rewrite(model) == 0
    assert model.SerializeToString() == before


@pytest.mark.parametrize("bias,relu", [(True, True), (False, False)])
def test_int8_form_of_the_interleave_is_the_same_graph_function(bias, relu):
    """quantize's form: four phase convolutions and an NHWC-ordered Reshape/Transpose
    interleave instead of the one-hot ConvTranspose; the same numbers (nothing is summed
    differently), at any size."""
    model = _model(bias, relu)
    fast, _ = _rewritten(model)
    int8_form, count = _rewritten(fast)
    assert count == 0  # rewrite() finds nothing left to do
    assert subpixel.int8_interleave(int8_form) == 1
    onnx.checker.check_model(int8_form, full_check=True)
    ops = [n.op_type for n in int8_form.graph.node]
    assert "ConvTranspose" not in ops and ops.count("Conv") == 4 + 1
    assert ops.count("Relu") == (4 if relu else 0)
    assert not {"w", "b", "scales"} & {t.name for t in int8_form.graph.initializer}
    rng = np.random.default_rng(3)
    for height, width in [(8, 12), (5, 3), (1, 1)]:
        x = rng.normal(0, 1, (1, 5, height, width)).astype(np.float32)
        assert np.array_equal(_run(int8_form, x), _run(fast, x))
    assert subpixel.int8_interleave(int8_form) == 0


def test_int8_form_leaves_other_conv_transposes_alone():
    model = _model()
    fast, _ = _rewritten(model)
    for t in fast.graph.initializer:
        if t.name.endswith(".interleave"):  # no longer the one-hot interleave
            w = numpy_helper.to_array(t).copy()
            w[0, 0, 0, 0] = 0.5
            t.CopyFrom(numpy_helper.from_array(w, t.name))
    before = fast.SerializeToString()
    assert subpixel.int8_interleave(fast) == 0
    assert fast.SerializeToString() == before
