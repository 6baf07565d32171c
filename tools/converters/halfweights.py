"""Float16 storage for a model's weights, float32 arithmetic: half the file, no fp16 kernels.

Each large float32 initializer is stored as float16 and turned back into float32 by a Cast
node in front of the graph; ONNX Runtime folds those casts once when it loads the model, so
the model computes as before, on weights rounded to float16 (11 significant bits). Unlike a
float16 model (`quantize fp16`), this needs no float16 kernels, which ONNX Runtime's CPU build
mostly lacks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .common import put_metadata

MIN_ELEMENTS = 256  # smaller tensors (biases, norms) stay float32: they save nothing


def half_weights(model: Any, min_elements: int = MIN_ELEMENTS) -> int:
    """Store the float32 initializers of `model` with at least `min_elements` values as
    float16 behind a Cast to float32; the number of tensors converted."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    casts = []
    for tensor in list(graph.initializer):
        if tensor.data_type != TensorProto.FLOAT or np.prod(tensor.dims) < min_elements:
            continue
        values = numpy_helper.to_array(tensor)
        if np.abs(values).max(initial=0.0) > np.finfo(np.float16).max:
            continue  # would overflow: keep it exact
        stored = f"{tensor.name}__float16"
        graph.initializer.remove(tensor)
        graph.initializer.append(numpy_helper.from_array(values.astype(np.float16), stored))
        casts.append(helper.make_node("Cast", [stored], [tensor.name], to=TensorProto.FLOAT,
                                      name=f"{tensor.name}__to_float32"))
    for node in reversed(casts):
        graph.node.insert(0, node)
    if casts:
        put_metadata(model, "weights_float16", str(len(casts)))
    return len(casts)
