"""Winograd form of the wide 3x3 convolutions of an ONNX graph, for ONNX Runtime on the CPU.

ONNX Runtime's CPU convolutions compute every multiply of a 3x3 kernel; OpenCV's dnn uses
Winograd's minimal filtering for them, which is why it kept up with ONNX Runtime on Zhang's
network (docs/BENCHMARKS.md). F(m x m, 3x3) (Lavin and Gray, "Fast Algorithms for
Convolutional Neural Networks", 2016) computes each m x m output tile from an (m+2)^2 input
tile, so the heavy part becomes (m+2)^2 matrix products [out, in] x [in, tiles], which ONNX
Runtime's GEMM runs at nearly full speed:

    V = Bt d B (input tiles),  U = G g Gt (weights, once, here),  Y = At (sum over in of U.V) A

F(4x4, 3x3), the default, needs 2.25 multiplies per output and input channel instead of 9
(F(2x2, 3x3): 4). Everything is built from standard operators (Pad, SpaceToDepth, Slice,
MatMul, DepthToSpace) and works for any input height and width (the graph pads to whole tiles
and crops) at batch size 1, the engine's, so the model stays a plain ONNX file. A dilation
of 2 runs as the four interleaved sub-images, on which it is a plain 3x3 convolution. The
result matches the direct convolution to float32 rounding (relative 1e-6 for F(2x2), 1e-5 for
F(4x4)).

Only wide layers gain: on Zhang's network (2-core AVX-512 machine) the 512- and 256-channel
layers do, the 128-channel ones at 112x112 lose, hence `min_channels`. `restore` turns the
graph back into plain convolutions, for quantization and float16 (int8 wants the narrow
ranges of the direct form; CUDA has fast convolutions of its own).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import get_metadata, put_metadata

METADATA_KEY = "winograd"
MIN_CHANNELS = 256
BIG = np.iinfo(np.int64).max

# Lavin and Gray's matrices: F(2x2, 3x3) from the points 0, 1, -1; F(4x4, 3x3) from 0, +-1, +-2.
MATRICES = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]),
        np.array([[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]]),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]])),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]])),
}


def input_transform(m: int) -> np.ndarray:
    """kron(Bt, Bt) with its columns in the order the graph gathers a tile's values.

    A tile (m + 2 square) is gathered as (sr, sc, bh, bw): SpaceToDepth's 2x2 block (bh, bw)
    of the sr-th block row and sc-th block column of the tile; so tile row 2 sr + bh.
    """
    bt = MATRICES[m][0].astype(np.float64)
    a = m + 2
    kron = np.kron(bt, bt)
    order = [(2 * sr + bh) * a + 2 * sc + bw for sr in range(a // 2) for sc in range(a // 2)
             for bh in range(2) for bw in range(2)]
    return kron[:, order]


def output_transform(m: int) -> np.ndarray:
    at = MATRICES[m][2].astype(np.float64)
    return np.kron(at, at)


def weight_transform(weight: np.ndarray, m: int) -> np.ndarray:
    """[out, in, 3, 3] -> U [(m + 2)^2, out, in] (index k * (m + 2) + l of G g Gt)."""
    g = MATRICES[m][1]
    u = np.einsum("ka,oiab,lb->kloi", g, weight.astype(np.float64), g)
    return u.reshape(-1, *weight.shape[:2])


def weight_from_transform(u: np.ndarray, m: int) -> np.ndarray:
    """The inverse of weight_transform (G has full column rank)."""
    g_inv = np.linalg.pinv(MATRICES[m][1].astype(np.float64))
    u4 = u.astype(np.float64).reshape(m + 2, m + 2, *u.shape[-2:])
    return np.einsum("ak,kloi,bl->oiab", g_inv, u4, g_inv)


def _eligible(node: Any, weights: dict[str, np.ndarray], min_channels: int) -> int:
    """The dilation (1 or 2) when `node` is a convolution worth rewriting, else 0."""
    if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in weights:
        return 0
    w = weights[node.input[1]]
    if w.ndim != 4 or w.shape[2:] != (3, 3) or min(w.shape[:2]) < min_channels:
        return 0
    attrs = {a.name: a for a in node.attribute}
    if attrs.get("auto_pad") is not None and attrs["auto_pad"].s not in (b"", b"NOTSET"):
        return 0
    if attrs.get("group") is not None and attrs["group"].i != 1:
        return 0
    strides = list(attrs["strides"].ints) if "strides" in attrs else [1, 1]
    dilations = list(attrs["dilations"].ints) if "dilations" in attrs else [1, 1]
    pads = list(attrs["pads"].ints) if "pads" in attrs else [0, 0, 0, 0]
    d = dilations[0]
    if strides != [1, 1] or dilations != [d, d] or d not in (1, 2) or pads != [d] * 4:
        return 0
    return d


def _nodes_for(node: Any, p: str, d: int, m: int, weight: np.ndarray,
               bias: np.ndarray | None) -> tuple[list, list]:
    """Nodes and initializers (names start with `p`) computing `node` by F(m x m, 3x3)."""
    from onnx import helper, numpy_helper

    out_ch, in_ch = weight.shape[:2]
    a, phases = m + 2, d * d
    inits, nodes = [], []

    def const(name: str, value: Any, dtype: Any = np.int64) -> str:
        if all(t.name != f"{p}.{name}" for t in inits):
            inits.append(numpy_helper.from_array(np.asarray(value, dtype), f"{p}.{name}"))
        return f"{p}.{name}"

    def add(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [f"{p}.{name}"], name=f"{p}.{name}", **attrs))
        return f"{p}.{name}"

    def dims(x: str, name: str) -> str:  # [H, W] of x
        return add("Slice", [add("Shape", [x], f"{name}_shape"), const("2", [2]),
                             const("4", [4])], name)

    x, y = node.input[0], node.output[0]
    # Pad by d, and at the bottom/right up to a multiple of m d (whole tiles in every phase).
    hw = dims(x, "hw")
    extra = add("Mod", [add("Neg", [hw], "neg"), const("step", [m * d, m * d])], "extra")
    end_pads = add("Add", [extra, const("d", [d, d])], "end_pads")
    pads = add("Concat", [const("begin_pads", [0, 0, d, d, 0, 0]), end_pads], "pads", axis=0)
    t = add("Pad", [x, pads], "padded")
    if d == 2:
        # The four interleaved sub-images, as channels ordered (c, phase): a dilated 3x3
        # convolution is a plain one on each, and this order keeps a channel's phases
        # together, so the products below are one GEMM over all phases' tiles.
        t = add("SpaceToDepth", [t], "phases", blocksize=2)
        phase_hw = dims(t, "ph_hw")
        t = add("Reshape", [t, const("split_shape", [1, 4, in_ch, -1])], "split")
        t = add("Transpose", [t], "phase_last", perm=[0, 2, 1, 3])
        t = add("Reshape", [t, add("Concat", [const("merged", [1, 4 * in_ch]), phase_hw],
                                   "merged_shape", axis=0)], "by_channel")
    blocks = add("SpaceToDepth", [t], "blocks", blocksize=2)
    # Tile (i, j) spans block rows i m/2 .. i m/2 + a/2 - 1: a/2 strided views per axis,
    # stacked on the channels.
    axes, step = const("axes", [2, 3]), const("strides", [m // 2, m // 2])
    views = [add("Slice", [blocks, const(f"start{r}{c}", [r, c]),
                           const(f"end{r}{c}", [BIG if r else -1, BIG if c else -1]), axes, step],
                 f"view{r}{c}") for r in range(a // 2) for c in range(a // 2)]
    tiles = add("Concat", views, "tiles", axis=1)
    flat = const("flat", [a * a, -1])
    v = add("MatMul", [const("Bt", input_transform(m), np.float32),
                       add("Reshape", [tiles, flat], "tiles_flat")], "V")
    v = add("Reshape", [v, const("v_shape", [a * a, in_ch, -1])], "V3")
    u = const("U", weight_transform(weight, m), np.float32)
    prod = add("Reshape", [add("MatMul", [u, v], "M"), flat], "M_flat")
    out = add("MatMul", [const("At", output_transform(m), np.float32), prod], "out")
    out_shape = add("Concat", [const("out_ch", [1, m * m * out_ch * phases]),
                               dims(tiles, "tiles_hw")], "out_shape", axis=0)
    t = add("DepthToSpace", [add("Reshape", [out, out_shape], "out4")], "space", blocksize=m,
            mode="DCR")
    if d == 2:
        t = add("DepthToSpace", [t], "unphased", blocksize=2, mode="CRD")
    crop = [t, const("zeros", [0, 0]), hw, axes]
    if bias is not None:
        t = add("Slice", crop, "crop")
        b = const("bias", bias.reshape(1, -1, 1, 1), np.float32)
        nodes.append(helper.make_node("Add", [t, b], [y], name=f"{p}.add_bias"))
    else:
        nodes.append(helper.make_node("Slice", crop, [y], name=f"{p}.crop"))
    return nodes, inits


def rewrite(model: Any, min_channels: int = MIN_CHANNELS, tile: int = 4) -> int:
    """Rewrite the model's wide 3x3 stride-1 convolutions in place; the number rewritten."""
    from onnx import numpy_helper

    graph = model.graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    uses = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    done, new_nodes, dropped = [], [], set()
    for node in graph.node:
        d = _eligible(node, weights, min_channels)
        if not d:
            new_nodes.append(node)
            continue
        weight = weights[node.input[1]]
        bias = weights.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        p = f"{node.name or node.output[0]}.winograd"
        nodes, inits = _nodes_for(node, p, d, tile, weight, bias)
        new_nodes += nodes
        graph.initializer.extend(inits)
        for name in node.input[1:]:
            if name and uses[name] == 1:
                dropped.add(name)
        done.append({"name": p, "conv": node.name, "input": node.input[0],
                     "output": node.output[0], "dilation": d, "tile": tile, "weight": node.input[1],
                     "bias": node.input[2] if bias is not None else ""})
    if not done:
        return 0
    kept = [t for t in graph.initializer if t.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(new_nodes)
    put_metadata(model, METADATA_KEY, get_metadata(model, METADATA_KEY, []) + done)
    return len(done)


def restore(model: Any) -> int:
    """Turn rewritten convolutions back into plain Conv nodes in place; the number restored."""
    from onnx import helper, numpy_helper

    done = get_metadata(model, METADATA_KEY, [])
    if not done:
        return 0
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    new_nodes, first_of = [], {}
    prefixes = {r["name"] + ".": r for r in done}
    for node in graph.node:
        record = next((r for pre, r in prefixes.items() if node.name.startswith(pre)), None)
        if record is None:
            new_nodes.append(node)
        elif record["name"] not in first_of:
            first_of[record["name"]] = len(new_nodes)
            new_nodes.append(None)  # the Conv goes where the rewritten nodes began
    keep_inits = []
    for record in done:
        p, d = record["name"], record["dilation"]
        inputs = [record["input"], record["weight"]]
        if inputs[1] not in inits:  # else it is shared with a node that kept it
            u = numpy_helper.to_array(inits[f"{p}.U"])
            w = weight_from_transform(u, record["tile"])
            keep_inits.append(numpy_helper.from_array(w.astype(np.float32), inputs[1]))
        if record["bias"]:
            inputs.append(record["bias"])
            if inputs[2] not in inits:
                b = numpy_helper.to_array(inits[f"{p}.bias"]).reshape(-1)
                keep_inits.append(numpy_helper.from_array(b.astype(np.float32), inputs[2]))
        new_nodes[first_of[p]] = helper.make_node(
            "Conv", inputs, [record["output"]], name=record["conv"], kernel_shape=[3, 3],
            pads=[d] * 4, dilations=[d, d], strides=[1, 1])
    ours = tuple(prefixes)
    kept = [t for t in graph.initializer if not t.name.startswith(ours)] + keep_inits
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.node[:]
    graph.node.extend(new_nodes)
    put_metadata(model, METADATA_KEY, None)
    return len(done)
