"""Inception-ResNet-v2 as Keras applications builds it, for weights-only `.h5` files.

The published Keras weights (`inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5`)
hold no model_config, so the layer graph is written out here (Szegedy et al. 2016, in the
layer order of `keras.applications.InceptionResNetV2`). Layers that Keras names explicitly
are matched by name; the automatically named ones (conv2d_N, batch_normalization_N) by the
order in which Keras created them, which is the order of their numbers.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .common import ConversionError
from .keras_h5 import Call, KerasFile, KerasGraph, TensorRef

INPUT: TensorRef = ("input", 0, 0)
_AUTO = re.compile(r"^(conv2d|batch_normalization)(?:_(\d+))?$")


class _Builder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.auto: dict[str, int] = {"conv2d": 0, "batch_normalization": 0, "layer": 0}

    def add(self, kind: str, inputs: list[TensorRef], name: str | None = None,
            auto: str = "layer", **config: Any) -> TensorRef:
        if name is None:
            name = f"{auto}#{self.auto[auto]}"
            self.auto[auto] += 1
        self.calls.append(Call(name, kind, {"name": name, **config}, inputs, (name, 0, 0)))
        return (name, 0, 0)

    def conv_bn(self, x: TensorRef, filters: int, kernel: int | tuple[int, int], strides: int = 1,
                padding: str = "same", activation: str | None = "relu", use_bias: bool = False,
                name: str | None = None) -> TensorRef:
        size = [kernel, kernel] if isinstance(kernel, int) else list(kernel)
        x = self.add("Conv2D", [x], name, "conv2d", filters=filters, kernel_size=size,
                     strides=[strides, strides], padding=padding, use_bias=use_bias,
                     activation="linear")
        if not use_bias:
            x = self.add("BatchNormalization", [x], name and f"{name}_bn",
                         "batch_normalization", axis=3, epsilon=1e-3, scale=False, center=True)
        if activation is not None:
            x = self.add("Activation", [x], name and f"{name}_ac", activation=activation)
        return x

    def residual_block(self, x: TensorRef, channels: int, scale: float, block: str, index: int,
                       activation: str | None = "relu") -> TensorRef:
        if block == "block35":
            branches = [
                self.conv_bn(x, 32, 1),
                self.conv_bn(self.conv_bn(x, 32, 1), 32, 3),
                self.conv_bn(self.conv_bn(self.conv_bn(x, 32, 1), 48, 3), 64, 3),
            ]
        elif block == "block17":
            branches = [
                self.conv_bn(x, 192, 1),
                self.conv_bn(self.conv_bn(self.conv_bn(x, 128, 1), 160, (1, 7)), 192, (7, 1)),
            ]
        else:
            branches = [
                self.conv_bn(x, 192, 1),
                self.conv_bn(self.conv_bn(self.conv_bn(x, 192, 1), 224, (1, 3)), 256, (3, 1)),
            ]
        name = f"{block}_{index}"
        mixed = self.add("Concatenate", branches, f"{name}_mixed", axis=3)
        up = self.conv_bn(mixed, channels, 1, activation=None, use_bias=True, name=f"{name}_conv")
        x = self.add("CustomScaleLayer", [x, up], name, scale=scale)
        if activation is not None:
            x = self.add("Activation", [x], f"{name}_ac", activation=activation)
        return x


def build_graph(classes: int) -> KerasGraph:
    """The whole network, 299x299x3 in, `classes` softmax scores out."""
    b = _Builder()
    x = b.conv_bn(INPUT, 32, 3, strides=2, padding="valid")
    x = b.conv_bn(x, 32, 3, padding="valid")
    x = b.conv_bn(x, 64, 3)
    x = b.add("MaxPooling2D", [x], pool_size=[3, 3], strides=[2, 2], padding="valid")
    x = b.conv_bn(x, 80, 1, padding="valid")
    x = b.conv_bn(x, 192, 3, padding="valid")
    x = b.add("MaxPooling2D", [x], pool_size=[3, 3], strides=[2, 2], padding="valid")

    branch_0 = b.conv_bn(x, 96, 1)
    branch_1 = b.conv_bn(b.conv_bn(x, 48, 1), 64, 5)
    branch_2 = b.conv_bn(b.conv_bn(b.conv_bn(x, 64, 1), 96, 3), 96, 3)
    pool = b.add("AveragePooling2D", [x], pool_size=[3, 3], strides=[1, 1], padding="same")
    branch_pool = b.conv_bn(pool, 64, 1)
    x = b.add("Concatenate", [branch_0, branch_1, branch_2, branch_pool], "mixed_5b", axis=3)
    for i in range(1, 11):
        x = b.residual_block(x, 320, 0.17, "block35", i)

    branch_0 = b.conv_bn(x, 384, 3, strides=2, padding="valid")
    branch_1 = b.conv_bn(b.conv_bn(b.conv_bn(x, 256, 1), 256, 3), 384, 3, strides=2,
                         padding="valid")
    branch_pool = b.add("MaxPooling2D", [x], pool_size=[3, 3], strides=[2, 2], padding="valid")
    x = b.add("Concatenate", [branch_0, branch_1, branch_pool], "mixed_6a", axis=3)
    for i in range(1, 21):
        x = b.residual_block(x, 1088, 0.1, "block17", i)

    branch_0 = b.conv_bn(b.conv_bn(x, 256, 1), 384, 3, strides=2, padding="valid")
    branch_1 = b.conv_bn(b.conv_bn(x, 256, 1), 288, 3, strides=2, padding="valid")
    branch_2 = b.conv_bn(b.conv_bn(b.conv_bn(x, 256, 1), 288, 3), 320, 3, strides=2,
                         padding="valid")
    branch_pool = b.add("MaxPooling2D", [x], pool_size=[3, 3], strides=[2, 2], padding="valid")
    x = b.add("Concatenate", [branch_0, branch_1, branch_2, branch_pool], "mixed_7a", axis=3)
    for i in range(1, 10):
        x = b.residual_block(x, 2080, 0.2, "block8", i)
    x = b.residual_block(x, 2080, 1.0, "block8", 10, activation=None)

    x = b.conv_bn(x, 1536, 1, name="conv_7b")
    x = b.add("GlobalAveragePooling2D", [x], "avg_pool")
    x = b.add("Dense", [x], "predictions", units=classes, activation="softmax", use_bias=True)
    return KerasGraph(b.calls, [INPUT], [x], {INPUT: [None, 299, 299, 3]})


def weights_by_layer(kfile: KerasFile, graph: KerasGraph) -> dict[str, dict[str, np.ndarray]]:
    """Each layer's weights from a weights-only file, keyed by the names in `graph`."""
    in_file = [n for n in kfile.layer_names() if kfile.weights(n)]
    auto: dict[str, list[tuple[int, str]]] = {"conv2d": [], "batch_normalization": []}
    named = set()
    for name in in_file:
        match = _AUTO.match(name)
        if match:
            auto[match.group(1)].append((int(match.group(2) or 0), name))
        else:
            named.add(name)
    ordered = {kind: [name for _, name in sorted(found)] for kind, found in auto.items()}
    out: dict[str, dict[str, np.ndarray]] = {}
    for call in graph.calls:
        if call.kind not in ("Conv2D", "BatchNormalization", "Dense"):
            continue
        if "#" in call.name:
            kind, index = call.name.split("#")
            if int(index) >= len(ordered[kind]):
                raise ConversionError(f"{kfile.path} has fewer {kind} layers than "
                                      "Inception-ResNet-v2 (is it another network?).")
            out[call.name] = kfile.weights(ordered[kind][int(index)])
        elif call.name in named:
            out[call.name] = kfile.weights(call.name)
        else:
            raise ConversionError(f"{kfile.path} has no layer {call.name!r}; it is not Keras' "
                                  "Inception-ResNet-v2.")
    expected = sum(1 for c in graph.calls if c.kind in ("Conv2D", "BatchNormalization", "Dense"))
    if len(in_file) != expected:
        raise ConversionError(f"{kfile.path} has {len(in_file)} layers with weights; Keras' "
                              f"Inception-ResNet-v2 has {expected}.")
    return out


def classes_in(kfile: KerasFile) -> int:
    """Number of classes of the file's `predictions` layer."""
    kernel = kfile.weights("predictions").get("kernel")
    if kernel is None:
        raise ConversionError(f"{kfile.path} has no 'predictions' layer: it is not a full "
                              "Inception-ResNet-v2 (a 'notop' file has no classifier).")
    return int(kernel.shape[1])
