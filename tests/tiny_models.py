"""Small ONNX graphs the tests build with onnx.helper, so no trained model is needed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tiny_graph(stride: int = 4, layout: str = "NCHW", decoding: str = "tanh",
               family: str = "baseline", embed: bool = False) -> onnx.ModelProto:
    """L [1,1,H,W] -> ab [1,2,H/stride,W/stride]: average-pool, then a 1x1 convolution whose
    weights make a and b depend on L (a rises with L, b falls), then tanh."""
    nodes, inits = [], []
    x = "L"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["L"], ["L_nchw"], perm=[0, 3, 1, 2]))
        x = "L_nchw"
    nodes.append(helper.make_node("AveragePool", [x], ["pooled"], kernel_shape=[stride] * 2,
                                  strides=[stride] * 2))
    inits.append(numpy_helper.from_array(np.array([0.02, -0.015], np.float32)
                                         .reshape(2, 1, 1, 1), "w"))
    inits.append(numpy_helper.from_array(np.array([-0.5, 0.6], np.float32), "b"))
    nodes.append(helper.make_node("Conv", ["pooled", "w", "b"], ["conv"]))
    inputs = [helper.make_tensor_value_info(
        "L", TensorProto.FLOAT, [1, 1, "H", "W"] if layout == "NCHW" else [1, "H", "W", 1])]
    last = "conv"
    if embed:
        # The embedding input shifts both channels by its mean (a stand-in for the fusion).
        inputs.append(helper.make_tensor_value_info("L_embed", TensorProto.FLOAT,
                                                    [1, 1, 299, 299]))
        nodes.append(helper.make_node("ReduceMean", ["L_embed"], ["emb"], keepdims=1))
        inits.append(numpy_helper.from_array(np.array(0.001, np.float32), "k"))
        nodes.append(helper.make_node("Mul", ["emb", "k"], ["emb_k"]))
        nodes.append(helper.make_node("Add", ["conv", "emb_k"], ["fused"]))
        last = "fused"
    out_name = "ab_nchw" if layout == "NHWC" else "ab"
    nodes.append(helper.make_node("Tanh", [last], [out_name]))
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["ab_nchw"], ["ab"], perm=[0, 2, 3, 1]))
    out_shape = [1, 2, "h", "w"] if layout == "NCHW" else [1, "h", "w", 2]
    graph = helper.make_graph(nodes, "tiny", inputs,
                              [helper.make_tensor_value_info("ab", TensorProto.FLOAT, out_shape)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = "family", family
    onnx.checker.check_model(model)
    return model


def add_model(folder: Path, model_id: str, model: onnx.ModelProto | bytes | None = None,
              family: str = "baseline", **fields) -> dict:
    """Write model (or raw bytes) to folder/<id>.onnx and its entry to folder/manifest.json."""
    folder.mkdir(parents=True, exist_ok=True)
    data = (model if isinstance(model, bytes)
            else (model or tiny_graph(family=family)).SerializeToString())
    (folder / f"{model_id}.onnx").write_bytes(data)
    entry = {
        "id": model_id, "name": f"Tiny {model_id}", "family": family,
        "file": f"{model_id}.onnx", "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "input": {"name": "L", "layout": "NCHW", "size": 64, "multiple": 4,
                  "l_offset": 50.0, "l_divisor": 50.0},
        "output": {"name": "ab", "ab_scale": 100.0, "decoding": "tanh"},
        "license": "MIT", "provenance": "built by the tests", "source_urls": [],
        "install": "python3 installer.py", "description": "a test model",
    }
    entry.update(fields)
    manifest = folder / "manifest.json"
    models = json.loads(manifest.read_text())["models"] if manifest.exists() else []
    models = [m for m in models if m["id"] != model_id] + [entry]
    manifest.write_text(json.dumps({"format": 1, "models": models}, indent=2))
    return entry


def tiny_hint_graph() -> onnx.ModelProto:
    """The siggraph17 family's inputs (L, ab_hint, mask) -> ab = the hints where the mask is
    set, else a little colour from L: what reaches the model is then visible in its output."""
    nodes = [
        helper.make_node("Mul", ["ab_hint", "mask"], ["hinted"]),
        helper.make_node("Mul", ["L", "k"], ["from_l"]),  # [1,1,H,W] broadcast to both channels
        helper.make_node("Sub", ["one", "mask"], ["unhinted"]),
        helper.make_node("Mul", ["from_l", "unhinted"], ["guess"]),
        helper.make_node("Add", ["hinted", "guess"], ["ab"]),
    ]
    inits = [numpy_helper.from_array(np.array([0.1], np.float32), "k"),
             numpy_helper.from_array(np.array([1.0], np.float32), "one")]
    inputs = [helper.make_tensor_value_info("L", TensorProto.FLOAT, [1, 1, "H", "W"]),
              helper.make_tensor_value_info("ab_hint", TensorProto.FLOAT, [1, 2, "H", "W"]),
              helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, "H", "W"])]
    graph = helper.make_graph(nodes, "tiny-hints", inputs, [helper.make_tensor_value_info(
        "ab", TensorProto.FLOAT, [1, 2, "H", "W"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = "family", "siggraph17"
    onnx.checker.check_model(model)
    return model


def tiny_spread_input_graph() -> onnx.ModelProto:
    """A siggraph17-family graph with a fourth input, the hints already spread over grey,
    which it returns as its ab: what the engine fed there is then its output."""
    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, "H", "W"])
              for name, channels in (("L", 1), ("ab_hint", 2), ("mask", 1), ("ab_spread", 2))]
    graph = helper.make_graph([helper.make_node("Identity", ["ab_spread"], ["ab"])],
                              "tiny-spread-input", inputs, [helper.make_tensor_value_info(
                                  "ab", TensorProto.FLOAT, [1, 2, "H", "W"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def add_hint_model(folder: Path, model_id: str = "tiny-hints", spread_input: bool = False,
                   spread_after: bool = False, **fields) -> dict:
    """A siggraph17-family test model that returns its hint input where the mask is set (or
    with spread_input, the spread hints it is given)."""
    inputs = {"name": "L", "size": 64, "multiple": 8, "l_offset": 50.0, "l_divisor": 1.0,
              "hint_divisor": 1.0, "mask_offset": 0.0}
    if spread_input:
        inputs["spread_name"] = "ab_spread"
    return add_model(folder, model_id, tiny_spread_input_graph() if spread_input
                     else tiny_hint_graph(), family="siggraph17", input=inputs,
                     output={"name": "ab", "ab_scale": 1.0, "spread_hints": spread_after},
                     **fields)
