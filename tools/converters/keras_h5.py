"""Reading Keras `.h5` files with h5py alone: the model's layer graph and its weights.

Accepts what Keras writes with `model.save("x.h5")` (Keras 2.0 to 2.x, tf.keras, tf_keras and
Keras 3's legacy writer) and weights-only files from `model.save_weights("x.h5")`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .common import ConversionError

# A tensor is named by the layer that made it, which call of that layer, and which output.
TensorRef = tuple[str, int, int]


@dataclass
class Call:
    """One call of a layer in the model graph: its inputs and the one tensor it makes."""

    name: str
    kind: str
    config: dict[str, Any]
    inputs: list[TensorRef]
    output: TensorRef


@dataclass
class KerasGraph:
    """A model's calls in an order where every input is made before it is used."""

    calls: list[Call]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    input_shapes: dict[TensorRef, list[Any]] = field(default_factory=dict)


class KerasFile:
    """An open `.h5` file: the model graph (if stored) and the weights of each layer."""

    def __init__(self, path: str | os.PathLike, architecture: str | os.PathLike | None = None):
        """`architecture`: the model.to_json() file that goes with a weights-only .h5."""
        import h5py

        self.path = Path(path)
        self.architecture = Path(architecture) if architecture else None
        if self.architecture and not self.architecture.is_file():
            raise ConversionError(f"{self.architecture} does not exist.")
        if self.path.suffix == ".keras":
            raise ConversionError(f"{self.path} is a Keras 3 .keras archive; load it in Keras and "
                                  "save it as .h5 (model.save('model.h5')) to convert it.")
        if not self.path.is_file():
            raise ConversionError(f"{self.path} does not exist.")
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise ConversionError(f"{self.path} is not a readable .h5 file ({exc}).") from None
        self._weights_root = self._h5.get("model_weights", self._h5)
        if "layer_names" not in self._weights_root.attrs:
            self.close()
            raise ConversionError(f"{self.path} holds no Keras weights (no layer_names attribute).")

    def close(self) -> None:
        self._h5.close()

    def __enter__(self) -> KerasFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def has_model(self) -> bool:
        return self.architecture is not None or "model_config" in self._h5.attrs

    def model_config(self) -> dict[str, Any]:
        if self.architecture is not None:
            try:
                return json.loads(self.architecture.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ConversionError(f"{self.architecture} is not JSON ({exc}).") from None
        if not self.has_model:
            raise ConversionError(
                f"{self.path} holds weights only (saved with save_weights); give the model's "
                "architecture with --json (the file model.to_json() wrote)."
            )
        return json.loads(_text(self._h5.attrs["model_config"]))

    def graph(self) -> KerasGraph:
        return parse_model_config(self.model_config())

    def layer_names(self) -> list[str]:
        return [_text(n) for n in self._weights_root.attrs["layer_names"]]

    def weights(self, layer: str) -> dict[str, np.ndarray]:
        """The layer's weights keyed by short name (kernel, bias, gamma, moving_mean, ...)."""
        if layer not in self._weights_root:
            return {}
        group = self._weights_root[layer]
        out = {}
        for full in group.attrs.get("weight_names", []):
            full = _text(full)
            # Keras 2: "conv2d/kernel:0"; Keras 3: "sequential/conv2d/kernel".
            short = full.rsplit("/", 1)[-1].split(":", 1)[0]
            out[short] = np.asarray(group[full], dtype=np.float32)
        return out


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def parse_model_config(config: dict[str, Any]) -> KerasGraph:
    """Turn a Keras model_config (Sequential or functional, Keras 2 or 3) into a KerasGraph."""
    kind = config.get("class_name")
    body = config.get("config")
    if kind == "Sequential":
        return _parse_sequential(body)
    if kind in ("Model", "Functional"):
        return _parse_functional(body)
    raise ConversionError(f"Unsupported Keras model class {kind!r} (expected Sequential or Model).")


def _parse_sequential(body: Any) -> KerasGraph:
    # Keras 2.0/2.1 stored a bare list of layers; later versions {"name": ..., "layers": [...]}.
    layers = body if isinstance(body, list) else body["layers"]
    calls: list[Call] = []
    shapes: dict[TensorRef, list[Any]] = {}
    current: TensorRef | None = None
    for layer in layers:
        name, kind, cfg = layer["config"]["name"], _kind(layer), layer["config"]
        shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
        if kind == "InputLayer" or current is None:
            if shape is None:
                raise ConversionError(f"The first layer {name!r} does not give the input shape.")
            current = (name if kind == "InputLayer" else f"{name}_input", 0, 0)
            shapes[current] = list(shape)
            if kind == "InputLayer":
                continue
        _reject_nested(name, kind)
        call = Call(name, kind, cfg, [current], (name, 0, 0))
        calls.append(call)
        current = call.output
    if current is None:
        raise ConversionError("The Sequential model has no layers.")
    first = next(iter(shapes))
    return KerasGraph(calls, [first], [current], shapes)


def _parse_functional(body: dict[str, Any]) -> KerasGraph:
    calls: list[Call] = []
    shapes: dict[TensorRef, list[Any]] = {}
    for layer in body["layers"]:
        kind, cfg = _kind(layer), layer["config"]
        name = layer.get("name") or cfg["name"]
        if kind == "InputLayer":
            shape = cfg.get("batch_input_shape") or cfg.get("batch_shape") or []
            shapes[(name, 0, 0)] = list(shape)
            continue
        _reject_nested(name, kind)
        for index, node in enumerate(layer["inbound_nodes"]):
            calls.append(Call(name, kind, cfg, _node_inputs(node), (name, index, 0)))
    return KerasGraph(
        _ordered(calls, set(shapes)),
        [_ref(r) for r in _as_list(body["input_layers"])],
        [_ref(r) for r in _as_list(body["output_layers"])],
        shapes,
    )


def _kind(layer: dict[str, Any]) -> str:
    # Registered custom layers are stored as "Package>Name" (TF-Keras' CustomScaleLayer).
    return str(layer["class_name"]).rsplit(">", 1)[-1]


def _reject_nested(name: str, kind: str) -> None:
    if kind in ("Sequential", "Model", "Functional"):
        raise ConversionError(f"Layer {name!r} is a nested model ({kind}); flatten it first.")


def _as_list(refs: Any) -> list[Any]:
    # A single-input model may store ["name", 0, 0] instead of [["name", 0, 0]].
    return [refs] if refs and isinstance(refs[0], str) else list(refs)


def _ref(r: list[Any]) -> TensorRef:
    return (r[0], int(r[1]), int(r[2]))


def _node_inputs(node: Any) -> list[TensorRef]:
    """Input tensors of one inbound node, Keras 2 ([[name, node, index, kwargs], ...]) or 3."""
    if isinstance(node, dict):
        found: list[TensorRef] = []
        _collect_keras3(node.get("args", []), found)
        return found
    return [_ref(entry) for entry in node]


def _collect_keras3(value: Any, found: list[TensorRef]) -> None:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            found.append(_ref(value["config"]["keras_history"]))
        return
    if isinstance(value, list):
        for item in value:
            _collect_keras3(item, found)


def _ordered(calls: list[Call], available: set[TensorRef]) -> list[Call]:
    """Calls sorted so that every input exists before use (configs list layers, not calls)."""
    ordered: list[Call] = []
    pending = list(calls)
    while pending:
        waiting = []
        for call in pending:
            if all(r in available for r in call.inputs):
                ordered.append(call)
                available.add(call.output)
            else:
                waiting.append(call)
        if len(waiting) == len(pending):
            missing = sorted({r[0] for c in waiting for r in c.inputs if r not in available})
            raise ConversionError(f"The model graph refers to unknown layers: {missing}.")
        pending = waiting
    return ordered
