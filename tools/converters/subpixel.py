"""Nearest x2 upsampling followed by a 3x3 convolution, computed at the low resolution.

The decoders of the baseline and fusion families (and our own models) upsample by two with
nearest neighbours and then convolve with a 3x3 kernel. Each output pixel of that pair sees
only a 2x2 window of the small input: the output row 2y uses the small rows y-1, y (kernel
rows w0 and w1+w2), the row 2y+1 the rows y, y+1 (w0+w1 and w2), the same for columns. So the
pair is one 2x2 convolution with four times the output channels (one set per output phase),
run on the small input, and a DepthToSpace that interleaves the phases:

    Resize(x2, nearest) -> Conv(3x3, pad 1)   ==   Conv(2x2, pad 1, 4 x out) -> 4 Slices
                                                   -> Concat -> DepthToSpace(2)

4 multiplies per output and input channel instead of 9, no upsampled tensor in memory, and the
same result up to float rounding (the kernel taps are summed once, here). Unlike Resize,
every node keeps its int8 form under ONNX Runtime's QDQ quantization.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import get_metadata, put_metadata

METADATA_KEY = "subpixel"  # how many pairs the file computes at the low resolution
BIG = np.iinfo(np.int64).max
# Small-input taps (rows or columns) of each output phase: phase 0 reads y-1, y; phase 1 y, y+1.
TAPS = (np.array([[1, 0, 0], [0, 1, 1]], np.float64), np.array([[1, 1, 0], [0, 0, 1]], np.float64))
# (coordinate_transformation_mode, nearest_mode) pairs for which x2 nearest reads pixel y // 2.
EXACT_MODES = {("asymmetric", "floor"), ("half_pixel", "round_prefer_floor"),
               ("half_pixel", "round_prefer_ceil"), ("pytorch_half_pixel", "round_prefer_floor"),
               ("pytorch_half_pixel", "round_prefer_ceil")}


def phase_weights(weight: np.ndarray) -> np.ndarray:
    """[out, in, 3, 3] -> [out * 4, in, 2, 2]: each output channel's four phases (py, px)."""
    phases = np.stack([np.einsum("ka,oiab,lb->oikl", TAPS[py], weight.astype(np.float64),
                                 TAPS[px]) for py in (0, 1) for px in (0, 1)], axis=1)
    return phases.reshape(-1, *phases.shape[2:])


def interleave_weights(channels: int) -> np.ndarray:
    """One-hot [4 channels, 1, 2, 2] weights of the ConvTranspose that interleaves phases.

    Its input is the phase convolution's output, (h+1) x (w+1) with the channels ordered
    (out, py, px); output row 2y + py takes input row y + py, which a stride-2 transposed
    convolution with padding 1 reads through the kernel tap 1 - py (and no other).
    """
    w = np.zeros((channels, 2, 2, 1, 2, 2), np.float32)
    for py in (0, 1):
        for px in (0, 1):
            w[:, py, px, 0, 1 - py, 1 - px] = 1
    return w.reshape(4 * channels, 1, 2, 2)


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _scales(node: Any, consts: dict[str, np.ndarray]) -> np.ndarray | None:
    if len(node.input) < 3 or node.input[2] not in consts:
        return None
    if len(node.input) > 3 and node.input[3]:  # sizes instead of scales
        return None
    return consts[node.input[2]]


def _is_nearest_x2(node: Any, consts: dict[str, np.ndarray]) -> bool:
    if node.op_type != "Resize":
        return False
    a = _attrs(node)
    modes = (a.get("coordinate_transformation_mode", b"half_pixel").decode(),
             a.get("nearest_mode", b"round_prefer_floor").decode())
    scales = _scales(node, consts)
    return (a.get("mode", b"nearest") == b"nearest" and modes in EXACT_MODES
            and scales is not None and scales.tolist() == [1.0, 1.0, 2.0, 2.0])


def _is_same_3x3(node: Any, weights: dict[str, np.ndarray]) -> bool:
    if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in weights:
        return False
    a = _attrs(node)
    w = weights[node.input[1]]
    return (w.ndim == 4 and w.shape[2:] == (3, 3) and a.get("group", 1) == 1
            and a.get("auto_pad", b"NOTSET") in (b"NOTSET", b"")
            and list(a.get("strides", [1, 1])) == [1, 1]
            and list(a.get("dilations", [1, 1])) == [1, 1]
            and list(a.get("pads", [0, 0, 0, 0])) == [1, 1, 1, 1])


def rewrite(model: Any) -> int:
    """Rewrite every Resize(x2 nearest) -> Conv(3x3 'same') pair in place; the number done
    (also added to the model's metadata, key `subpixel`)."""
    from onnx import helper, numpy_helper

    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    pairs = {}
    for node in graph.node:
        users = consumers.get(node.output[0], []) if node.output else []
        if (_is_nearest_x2(node, consts) and node.output[0] not in outputs and len(users) == 1
                and _is_same_3x3(users[0], consts) and users[0].input[0] == node.output[0]):
            pairs[id(users[0])] = node
    if not pairs:
        return 0
    resizes = {id(r) for r in pairs.values()}
    # A ReLU after the convolution moves before the interleave (it commutes with it), so
    # that it fuses with the convolution, in float and in int8 alike.
    relus = {}
    for node in graph.node:
        users = consumers.get(node.output[0], []) if id(node) in pairs else []
        if len(users) == 1 and users[0].op_type == "Relu" and node.output[0] not in outputs:
            relus[id(node)] = users[0]
    skipped = resizes | {id(r) for r in relus.values()}
    new_nodes, new_inits, used = [], [], {}
    for node in graph.node:
        if id(node) in skipped:
            continue
        resize = pairs.get(id(node))
        if resize is None:
            new_nodes.append(node)
            continue
        p = f"{node.name or node.output[0]}.subpixel"
        weight = consts[node.input[1]]
        out_ch = weight.shape[0]
        inputs = [resize.input[0], f"{p}.weight"]
        new_inits.append(numpy_helper.from_array(phase_weights(weight).astype(np.float32),
                                                 inputs[1]))
        if len(node.input) > 2 and node.input[2]:
            inputs.append(f"{p}.bias")
            new_inits.append(numpy_helper.from_array(
                np.repeat(consts[node.input[2]], 4).astype(np.float32), inputs[2]))
        new_inits.append(numpy_helper.from_array(interleave_weights(out_ch), f"{p}.interleave"))
        phases, relu = f"{p}.phases", relus.get(id(node))
        new_nodes.append(helper.make_node("Conv", inputs, [phases], name=f"{p}.conv",
                                          kernel_shape=[2, 2], pads=[1, 1, 1, 1]))
        if relu is not None:
            new_nodes.append(helper.make_node("Relu", [phases], [f"{p}.relu"], name=f"{p}.relu"))
            phases = f"{p}.relu"
        new_nodes.append(helper.make_node(
            "ConvTranspose", [phases, f"{p}.interleave"],
            [node.output[0] if relu is None else relu.output[0]], name=f"{p}.interleave",
            group=out_ch, kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1]))
        for name in list(node.input[1:]) + list(resize.input[1:]):
            used[name] = used.get(name, 0) + 1
    # Drop the weights and scales only the rewritten pairs used.
    gone = {n for n, c in used.items() if n and len(consumers.get(n, [])) == c}
    new_nodes = [n for n in new_nodes if not (n.op_type == "Constant" and n.output[0] in gone)]
    kept = [t for t in graph.initializer if t.name not in gone] + new_inits
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(new_nodes)
    put_metadata(model, METADATA_KEY, get_metadata(model, METADATA_KEY, 0) + len(pairs))
    return len(pairs)


def _interleave_pattern(node: Any, producers: dict[str, Any], consumers: dict[str, list],
                        consts: dict[str, np.ndarray]) -> tuple[Any, Any | None] | None:
    """(phase Conv, its Relu or None) when `node` is the interleave that rewrite() wrote."""
    if node.op_type != "ConvTranspose" or len(node.input) != 2 or node.input[1] not in consts:
        return None
    weight = consts[node.input[1]]
    a = _attrs(node)
    if (weight.ndim != 4 or weight.shape[0] % 4 or a.get("group") != weight.shape[0] // 4
            or not np.array_equal(weight, interleave_weights(weight.shape[0] // 4))
            or list(a.get("strides", [])) != [2, 2] or list(a.get("pads", [])) != [1] * 4):
        return None
    relu = producers.get(node.input[0])
    conv = producers.get(relu.input[0]) if relu is not None and relu.op_type == "Relu" else relu
    relu = relu if conv is not relu else None
    if (conv is None or conv.op_type != "Conv" or conv.input[1] not in consts
            or consts[conv.input[1]].shape[2:] != (2, 2)
            or any(len(consumers.get(t.output[0], [])) != 1 for t in (conv, relu) if t)):
        return None
    return conv, relu


def int8_interleave(model: Any) -> int:
    """Rewrite, in place, rewrite()'s interleaves into a form ONNX Runtime keeps in uint8.

    ONNX Runtime has no integer ConvTranspose or DepthToSpace, so after quantization the
    one-hot ConvTranspose would run in float between layout transposes (40 % of the int8
    model's time). Here each output phase gets its own convolution (the same 2x2 kernels, with
    the padding that makes its crop), the phases are concatenated, and the interleave is a
    Reshape-Transpose-Reshape written in NHWC order between two explicit transposes: ONNX
    Runtime runs its int8 convolutions in NHWC, cancels those transposes against its own, and
    the interleave becomes a copy of whole pixels in uint8. In float32 the NCHWc convolutions
    make this form slower, so only quantize uses it. Returns the number rewritten.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found = {id(n): m for n in graph.node
             if (m := _interleave_pattern(n, producers, consumers, consts)) is not None}
    if not found:
        return 0
    absorbed = {id(t) for conv, relu in found.values() for t in (conv, relu) if t is not None}
    new_nodes, new_inits, gone = [], [], set()
    for node in graph.node:
        if id(node) in absorbed:
            continue
        if id(node) not in found:
            new_nodes.append(node)
            continue
        conv, relu = found[id(node)]
        p = f"{node.name or node.output[0]}.int8"
        weight = consts[conv.input[1]]
        out_ch = weight.shape[0] // 4
        bias = consts.get(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else None
        x = conv.input[0]

        def const(name: str, value: Any, dtype: Any = np.int64, p: str = p) -> str:
            new_inits.append(numpy_helper.from_array(np.asarray(value, dtype), f"{p}.{name}"))
            return f"{p}.{name}"

        phases = []
        for k, (py, px) in enumerate((py, px) for py in (0, 1) for px in (0, 1)):
            inputs = [x, const(f"w{k}", weight[k::4], np.float32)]
            if bias is not None:
                inputs.append(const(f"b{k}", bias[k::4], np.float32))
            phases.append(f"{p}.phase{k}")
            new_nodes.append(helper.make_node("Conv", inputs, [phases[-1]], name=phases[-1],
                                              kernel_shape=[2, 2],
                                              pads=[1 - py, 1 - px, py, px]))
            if relu is not None:
                new_nodes.append(helper.make_node("Relu", [phases[-1]], [f"{p}.relu{k}"],
                                                  name=f"{p}.relu{k}"))
                phases[-1] = f"{p}.relu{k}"
        nodes = [
            ("Concat", phases, "stacked", {"axis": 1}),  # channels (py, px, out)
            ("Transpose", [f"{p}.stacked"], "nhwc", {"perm": [0, 2, 3, 1]}),
            ("Reshape", [f"{p}.nhwc", const("split", [0, 0, 0, 2, 2, out_ch])], "split6", {}),
            ("Transpose", [f"{p}.split6"], "rows", {"perm": [0, 1, 3, 2, 4, 5]}),
            ("Shape", [x], "shape", {}),
            ("Slice", [f"{p}.shape", const("0", [0]), const("1", [1])], "n", {}),
            ("Slice", [f"{p}.shape", const("2", [2]), const("4", [4])], "hw", {}),
            ("Mul", [f"{p}.hw", const("two", [2, 2])], "hw2", {}),
            ("Concat", [f"{p}.n", f"{p}.hw2", const("ch", [out_ch])], "size", {"axis": 0}),
            ("Reshape", [f"{p}.rows", f"{p}.size"], "up", {}),
        ]
        for op, inputs, name, attrs in nodes:
            new_nodes.append(helper.make_node(op, inputs, [f"{p}.{name}"], name=f"{p}.{name}",
                                              **attrs))
        new_nodes.append(helper.make_node("Transpose", [f"{p}.up"], [node.output[0]],
                                          name=f"{p}.nchw", perm=[0, 3, 1, 2]))
        gone |= {conv.input[1], node.input[1]} | ({conv.input[2]} if bias is not None else set())
    used = {name for n in new_nodes for name in n.input}
    kept = [t for t in graph.initializer if t.name not in gone or t.name in used] + new_inits
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(new_nodes)
    return len(found)
