"""Translating a Keras layer graph (channels-last) into ONNX nodes (NCHW), layer by layer.

The layer set is the one the baseline, fusion and Inception-ResNet-v2 models use; anything
else is an error that names the layer and its type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from .common import ConversionError
from .keras_h5 import Call, KerasGraph, TensorRef

OPSET = 17


@dataclass(frozen=True)
class Tensor:
    """An ONNX value and what the translation knows about it.

    kind: "image" (N, C, H, W), "vector" (N, C), "repeated" (a RepeatVector's output, kept as
    the vector), or "broadcast" (N, C, 1, 1) waiting to be expanded to its partner's H x W.
    size: static (H, W) when known; otherwise `factor` is how much smaller than the graph
    input it is (H_input / H).
    """

    name: str
    kind: str
    channels: int
    size: tuple[int, int] | None = None
    factor: Fraction = Fraction(1)
    repeat: int = 0


class OnnxGraph:
    """ONNX nodes and initializers under construction, with unique value names."""

    def __init__(self) -> None:
        import onnx

        self.onnx = onnx
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        # Graph input and output names, so that no Keras layer name can take them.
        self._used: set[str] = {"L", "L_embed", "ab"}

    def unique(self, hint: str) -> str:
        name, n = hint, 1
        while name in self._used:
            n += 1
            name = f"{hint}_{n}"
        self._used.add(name)
        return name

    def const(self, hint: str, array: np.ndarray) -> str:
        name = self.unique(hint)
        array = np.ascontiguousarray(array)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = self.unique(hint)
        self.nodes.append(
            self.onnx.helper.make_node(op_type, inputs, [out], name=out, **attrs)
        )
        return out

    def output(self, name: str, value: str) -> None:
        """Make `value` the graph output `name` (one of the reserved names)."""
        self.nodes.append(self.onnx.helper.make_node("Identity", [value], [name], name=name))

    def model(self, inputs: list[Any], outputs: list[Any], name: str) -> Any:
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="colorize-ai convert_models.py",
        )
        model.ir_version = 8  # what ONNX Runtime releases since 1.14 read, with opset 17
        return model


def value_info(name: str, shape: list[Any]) -> Any:
    """A float32 graph input or output; strings in `shape` are dynamic dimensions."""
    import onnx

    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


WeightsFn = Callable[[str], "dict[str, np.ndarray]"]


class Translator:
    """Adds the ONNX nodes for a KerasGraph's calls to an OnnxGraph."""

    def __init__(self, graph: OnnxGraph, weights: WeightsFn):
        self.g = graph
        self.weights = weights
        self.multiple = 1  # what H and W of the graph input must be divisible by

    def run(
        self,
        kgraph: KerasGraph,
        feeds: dict[TensorRef, Tensor],
        logits_of: str | None = None,
    ) -> dict[TensorRef, Tensor]:
        """Translate all calls; `logits_of` names a Dense layer whose activation is left out."""
        values = dict(feeds)
        for call in kgraph.calls:
            # Layer handlers are named _<Keras class>; the lower-case ones are helpers.
            handler = getattr(self, "_" + call.kind, None) if call.kind[:1].isupper() else None
            if handler is None:
                raise ConversionError(
                    f"Layer {call.name!r} has type {call.kind}, which the converter does not "
                    "support."
                )
            inputs = [values[r] for r in call.inputs]
            try:
                out = handler(call, *inputs)
            except (KeyError, TypeError, ValueError) as exc:
                raise ConversionError(f"Layer {call.name!r} ({call.kind}): {exc}.") from None
            if call.name == logits_of:
                out = out[0]
            elif isinstance(out, tuple):
                out = self._activation(call, out[0], call.config.get("activation", "linear"))
            values[call.output] = out
        return values

    # Layers. Handlers that end in an activation return (pre-activation tensor,) so that
    # `run` can apply it or, for an embedding's logits, leave it out.

    def _Conv2D(self, call: Call, x: Tensor) -> tuple[Tensor]:
        cfg = call.config
        _channels_last(call)
        self._need(call, x, "image")
        w = self._weights(call, "kernel", "bias" if cfg.get("use_bias", True) else "kernel")
        kernel = w["kernel"]  # (kh, kw, in / groups, out)
        kh, kw, in_ch, out_ch = kernel.shape
        groups = int(cfg.get("groups", 1))
        if [kh, kw] != list(_pair(cfg["kernel_size"])) or out_ch != cfg["filters"] or (
            in_ch * groups != x.channels
        ):
            raise ConversionError(f"Conv2D {call.name!r}: kernel {kernel.shape} does not fit "
                                  f"{x.channels} input channels and the layer's config.")
        strides = _pair(cfg.get("strides", 1))
        dilations = _pair(cfg.get("dilation_rate", 1))
        pads, size, factor = self._spatial(call, x, (kh, kw), strides, dilations, cfg["padding"])
        inputs = [x.name, self.g.const(f"{call.name}_kernel", kernel.transpose(3, 2, 0, 1))]
        if cfg.get("use_bias", True):
            inputs.append(self.g.const(f"{call.name}_bias", w["bias"]))
        name = self.g.op(
            "Conv", inputs, call.name, kernel_shape=[kh, kw], strides=list(strides),
            dilations=list(dilations), pads=pads, group=groups,
        )
        return (Tensor(name, "image", out_ch, size, factor),)

    def _Dense(self, call: Call, x: Tensor) -> tuple[Tensor]:
        self._need(call, x, "vector")
        w = self._weights(call, "kernel", "bias" if call.config.get("use_bias", True) else "kernel")
        if w["kernel"].shape[0] != x.channels:
            raise ConversionError(f"Dense {call.name!r}: kernel {w['kernel'].shape} does not fit "
                                  f"{x.channels} inputs.")
        y = self.g.op("MatMul", [x.name, self.g.const(f"{call.name}_kernel", w["kernel"])],
                      f"{call.name}_matmul")
        if call.config.get("use_bias", True):
            y = self.g.op("Add", [y, self.g.const(f"{call.name}_bias", w["bias"])], call.name)
        return (Tensor(y, "vector", w["kernel"].shape[1]),)

    def _BatchNormalization(self, call: Call, x: Tensor) -> Tensor:
        cfg = call.config
        axis = cfg.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        if axis not in (-1, 3 if x.kind == "image" else 1):
            raise ConversionError(f"BatchNormalization {call.name!r} is not over channels.")
        w = self._weights(call, "moving_mean", "moving_variance")
        n = x.channels
        gamma = w["gamma"] if cfg.get("scale", True) else np.ones(n, np.float32)
        beta = w["beta"] if cfg.get("center", True) else np.zeros(n, np.float32)
        inputs = [x.name] + [
            self.g.const(f"{call.name}_{k}", v)
            for k, v in (("gamma", gamma), ("beta", beta), ("mean", w["moving_mean"]),
                         ("var", w["moving_variance"]))
        ]
        name = self.g.op("BatchNormalization", inputs, call.name, epsilon=float(cfg["epsilon"]))
        return replace(x, name=name)

    def _Activation(self, call: Call, x: Tensor) -> tuple[Tensor]:
        return (x,)

    def _Dropout(self, call: Call, x: Tensor) -> Tensor:
        return x  # a no-op at inference

    def _UpSampling2D(self, call: Call, x: Tensor) -> Tensor:
        _channels_last(call)
        self._need(call, x, "image")
        if call.config.get("interpolation", "nearest") != "nearest":
            raise ConversionError(
                f"UpSampling2D {call.name!r} uses {call.config['interpolation']!r} "
                "interpolation; only 'nearest' is supported."
            )
        sh, sw = _pair(call.config.get("size", 2))
        if sh != sw and x.size is None:
            raise ConversionError(f"UpSampling2D {call.name!r} scales height and width "
                                  "differently; unsupported in a dynamic-size model.")
        scales = self.g.const(f"{call.name}_scales", np.array([1, 1, sh, sw], np.float32))
        name = self.g.op(
            "Resize", [x.name, "", scales], call.name, mode="nearest",
            coordinate_transformation_mode="asymmetric", nearest_mode="floor",
        )
        size = None if x.size is None else (x.size[0] * sh, x.size[1] * sw)
        return Tensor(name, "image", x.channels, size, x.factor / sh)

    def _MaxPooling2D(self, call: Call, x: Tensor) -> Tensor:
        return self._pool(call, x, "MaxPool")

    def _AveragePooling2D(self, call: Call, x: Tensor) -> Tensor:
        return self._pool(call, x, "AveragePool")

    def _pool(self, call: Call, x: Tensor, op: str) -> Tensor:
        _channels_last(call)
        self._need(call, x, "image")
        kernel = _pair(call.config["pool_size"])
        strides = _pair(call.config.get("strides") or kernel)
        pads, size, factor = self._spatial(
            call, x, kernel, strides, (1, 1), call.config.get("padding", "valid")
        )
        # Keras averages over the real pixels only at the borders (count_include_pad=0).
        name = self.g.op(op, [x.name], call.name, kernel_shape=list(kernel),
                         strides=list(strides), pads=pads)
        return Tensor(name, "image", x.channels, size, factor)

    def _GlobalAveragePooling2D(self, call: Call, x: Tensor) -> Tensor:
        _channels_last(call)
        self._need(call, x, "image")
        if call.config.get("keepdims", False):
            raise ConversionError(f"GlobalAveragePooling2D {call.name!r} keeps dims; unsupported.")
        pooled = self.g.op("GlobalAveragePool", [x.name], f"{call.name}_pool")
        return Tensor(self.g.op("Flatten", [pooled], call.name), "vector", x.channels)

    def _Concatenate(self, call: Call, *xs: Tensor) -> Tensor:
        images = [x for x in xs if x.kind == "image"]
        axis = call.config.get("axis", -1)
        if images:
            if axis not in (-1, 3):
                raise ConversionError(f"Concatenate {call.name!r} is not over channels.")
            names = [self._expanded(call, x, images[0]) for x in xs]
            first = images[0]
            return replace(first, name=self.g.op("Concat", names, call.name, axis=1),
                           channels=sum(x.channels for x in xs))
        if any(x.kind != "vector" for x in xs) or axis not in (-1, 1):
            raise ConversionError(f"Concatenate {call.name!r} mixes tensors it cannot join.")
        name = self.g.op("Concat", [x.name for x in xs], call.name, axis=1)
        return Tensor(name, "vector", sum(x.channels for x in xs))

    def _expanded(self, call: Call, x: Tensor, like: Tensor) -> str:
        """A broadcast embedding expanded to the H x W of the image it is joined with."""
        if x.kind == "image":
            return x.name
        if x.kind != "broadcast":
            raise ConversionError(f"Concatenate {call.name!r} joins an image with a {x.kind}.")
        shape = self.g.op("Shape", [like.name], f"{call.name}_shape")
        spatial = self.g.op("Slice", [shape, self._ints("start2", [2]), self._ints("end4", [4])],
                            f"{call.name}_hw")
        target = self.g.op("Concat", [self._ints("n1", [1]), self._ints(f"c{x.channels}",
                                                                        [x.channels]), spatial],
                           f"{call.name}_target", axis=0)
        return self.g.op("Expand", [x.name, target], f"{call.name}_expand")

    def _RepeatVector(self, call: Call, x: Tensor) -> Tensor:
        self._need(call, x, "vector")
        return replace(x, kind="repeated", repeat=int(call.config["n"]))

    def _Reshape(self, call: Call, x: Tensor) -> Tensor:
        target = list(call.config["target_shape"])
        if x.kind != "repeated" or len(target) != 3 or target[2] != x.channels or (
            target[0] * target[1] != x.repeat
        ):
            raise ConversionError(
                f"Reshape {call.name!r}: only RepeatVector(h*w) followed by Reshape((h, w, E)), "
                "the fusion layer, is supported."
            )
        # Every position holds the same vector, so any h x W works: expand at the Concatenate.
        name = self.g.op("Unsqueeze", [x.name, self._ints("axes23", [2, 3])], call.name)
        return Tensor(name, "broadcast", x.channels)

    def _Lambda(self, call: Call, x: Tensor, up: Tensor) -> Tensor:
        # Keras 2's Inception-ResNet-v2 residual: Lambda(lambda i, scale: i[0] + i[1] * scale).
        # The function itself is marshalled bytecode; its `scale` argument is what we read.
        args = call.config.get("arguments") or {}
        if set(args) != {"scale"}:
            raise ConversionError(
                f"Lambda {call.name!r} is not the Inception-ResNet residual scaling "
                "(arguments other than 'scale'); arbitrary Lambda code cannot be converted."
            )
        return self._scaled_sum(call, x, up, float(args["scale"]))

    def _CustomScaleLayer(self, call: Call, x: Tensor, up: Tensor) -> Tensor:
        return self._scaled_sum(call, x, up, float(call.config["scale"]))

    def _scaled_sum(self, call: Call, x: Tensor, up: Tensor, scale: float) -> Tensor:
        scaled = self.g.op("Mul", [up.name, self.g.const(f"{call.name}_scale",
                                                         np.array(scale, np.float32))],
                           f"{call.name}_mul")
        return replace(x, name=self.g.op("Add", [x.name, scaled], call.name))

    # Helpers.

    def _activation(self, call: Call, x: Tensor, activation: Any) -> Tensor:
        if isinstance(activation, dict):  # Keras 3 may store {"class_name": ..., "config": ...}
            activation = activation.get("config", {}).get("name", activation.get("class_name"))
        ops = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "softmax": "Softmax"}
        if activation in (None, "linear"):
            return x
        if activation not in ops:
            raise ConversionError(
                f"Layer {call.name!r} uses activation {activation!r}; supported: linear, "
                + ", ".join(ops) + "."
            )
        attrs = {"axis": 1} if activation == "softmax" else {}
        return replace(x, name=self.g.op(ops[activation], [x.name], f"{call.name}_{activation}",
                                         **attrs))

    def _spatial(
        self,
        call: Call,
        x: Tensor,
        kernel: tuple[int, int],
        strides: tuple[int, int],
        dilations: tuple[int, int],
        padding: str,
    ) -> tuple[list[int], tuple[int, int] | None, Fraction]:
        """ONNX pads, output size and size factor of a Keras conv or pool."""
        eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
        if padding not in ("same", "valid"):
            raise ConversionError(f"Layer {call.name!r} uses padding {padding!r}.")
        if x.size is None:
            if padding == "valid" and (max(eff) > 1 or max(strides) > 1):
                raise ConversionError(
                    f"Layer {call.name!r} uses 'valid' padding, which makes the output size "
                    "depend on the input size; only 'same' is supported here."
                )
            if strides[0] != strides[1]:
                raise ConversionError(f"Layer {call.name!r} has unequal strides {strides}.")
            step = x.factor * strides[0]
            self.multiple = math.lcm(self.multiple, step.numerator)
            # H is a multiple of the stride here, so TensorFlow pads max(k - s, 0) in total.
            totals = [max(e - s, 0) for e, s in zip(eff, strides)]
            size, factor = None, step
        else:
            if padding == "valid":
                out = [(n - e) // s + 1 for n, e, s in zip(x.size, eff, strides)]
                totals = [0, 0]
            else:
                out = [-(-n // s) for n, s in zip(x.size, strides)]
                totals = [max((o - 1) * s + e - n, 0) for o, s, e, n in zip(out, strides, eff,
                                                                           x.size)]
            size, factor = (out[0], out[1]), x.factor
        # TensorFlow puts the odd pixel of "same" padding at the end (bottom/right).
        begins = [t // 2 for t in totals]
        return begins + [t - b for t, b in zip(totals, begins)], size, factor

    def _weights(self, call: Call, *needed: str) -> dict[str, np.ndarray]:
        w = self.weights(call.name)
        missing = [k for k in needed if k not in w]
        if missing:
            raise ConversionError(f"Layer {call.name!r} ({call.kind}) has no stored weights "
                                  f"{missing} in the file.")
        return w

    def _ints(self, hint: str, values: list[int]) -> str:
        return self.g.const(hint, np.array(values, np.int64))

    @staticmethod
    def _need(call: Call, x: Tensor, kind: str) -> None:
        if x.kind != kind:
            raise ConversionError(f"Layer {call.name!r} ({call.kind}) expects a {kind}, got a "
                                  f"{x.kind}.")


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def _channels_last(call: Call) -> None:
    if call.config.get("data_format", "channels_last") != "channels_last":
        raise ConversionError(f"Layer {call.name!r} is channels_first; only channels_last "
                              "(TensorFlow's default) is supported.")
