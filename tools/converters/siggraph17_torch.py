"""The authors' PyTorch port of the SIGGRAPH 2017 model (richzhang/colorization,
colorizers/siggraph17.py, SIGGRAPHGenerator; siggraph17-df00044c.pth) -> ONNX, without torch.

The architecture is the Caffe one with one 4-channel first convolution instead of the two input
branches, BatchNorm with an affine part, and subsampling by taking every second pixel. Its
normalisation differs: L - 50 divided by 100, ab divided by 110, the mask 0/1 as it is, and the
TanH output times 110. The graph takes the engine's "L", "ab_hint" and "mask" normalised so (the
manifest says l_divisor 100, hint_divisor 110, ab_scale 110) and outputs the TanH.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .caffe_graph import Op, fold, to_onnx
from .common import ConversionError, source_metadata
from .torch_pth import read_state_dict

EPS = 1e-5  # nn.BatchNorm2d's default
# Encoder blocks: (module, convolutions, dilation); each is conv + ReLU repeated, then BatchNorm.
ENCODER = (("model1", 2, 1), ("model2", 2, 1), ("model3", 3, 1), ("model4", 3, 1),
           ("model5", 3, 2), ("model6", 3, 2), ("model7", 3, 1))
# Decoder stages: (upsampling, shortcut, its source block, module, convolutions).
DECODER = (("model8up", "model3short8", "model3", "model8", 2),
           ("model9up", "model2short9", "model2", "model9", 1),
           ("model10up", "model1short10", "model1", "model10", 1))


class _Builder:
    def __init__(self, state: dict[str, np.ndarray]) -> None:
        self.state = {k.removeprefix("module."): v for k, v in state.items()}
        self.ops: list[Op] = []

    def tensor(self, key: str, ndim: int) -> np.ndarray:
        value = self.state.get(key)
        if value is None:
            raise ConversionError(f"the state dict has no '{key}': not SIGGRAPHGenerator weights")
        if value.ndim != ndim:
            raise ConversionError(f"'{key}' has shape {value.shape}, not {ndim}-D")
        return value.astype(np.float32)

    def add(self, op: Op) -> str:
        self.ops.append(op)
        return op.output

    def conv(self, name: str, src: str, dilation: int = 1, deconv: bool = False) -> str:
        weight, bias = self.tensor(f"{name}.weight", 4), self.tensor(f"{name}.bias", 1)
        k = weight.shape[2]
        attrs = {"strides": [2, 2] if deconv else [1, 1], "dilations": [dilation] * 2,
                 "group": 1, "kernel_shape": [k, k],
                 "pads": [1] * 4 if deconv else [dilation * (k // 2)] * 4}
        return self.add(Op("deconv" if deconv else "conv", name, [src], name, attrs,
                           weight=weight, bias=bias))

    def relu(self, src: str, alpha: float = 0.0) -> str:
        return self.add(Op("relu", f"{src}.relu", [src], f"{src}.relu", {"alpha": alpha}))

    def norm(self, name: str, src: str) -> str:
        gamma, beta = self.tensor(f"{name}.weight", 1), self.tensor(f"{name}.bias", 1)
        mean, var = self.tensor(f"{name}.running_mean", 1), self.tensor(f"{name}.running_var", 1)
        if np.any(var < 0):
            raise ConversionError(f"'{name}' has a negative running variance")
        scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + EPS)
        return self.add(Op("affine", name, [src], name, scale=scale,
                           shift=beta.astype(np.float64) - mean * scale))

    def subsample(self, src: str, channels: int) -> str:
        """x[:, :, ::2, ::2] as a 1x1 stride-2 grouped convolution with weights 1."""
        attrs = {"strides": [2, 2], "dilations": [1, 1], "group": channels,
                 "kernel_shape": [1, 1], "pads": [0] * 4}
        return self.add(Op("conv", f"{src}.sub", [src], f"{src}.sub", attrs,
                           weight=np.ones((channels, 1, 1, 1), np.float32)))

    def build(self) -> str:
        x = self.add(Op("concat", "data", ["L", "ab_hint", "mask"], "data", {"axis": 1}))
        outputs: dict[str, str] = {}
        for i, (module, count, dilation) in enumerate(ENCODER):
            if 1 <= i <= 3:
                x = self.subsample(x, self.tensor(f"{ENCODER[i - 1][0]}.0.weight", 4).shape[0])
            for j in range(count):
                x = self.relu(self.conv(f"{module}.{2 * j}", x, dilation))
            x = outputs[module] = self.norm(f"{module}.{2 * count}", x)
        for up, short, source, module, count in DECODER:
            upsampled = self.conv(f"{up}.0", x, deconv=True)
            shortcut = self.conv(f"{short}.0", outputs[source])
            x = self.relu(self.add(Op("add", f"{module}.sum", [upsampled, shortcut],
                                      f"{module}.sum")))
            for j in range(count):
                x = self.conv(f"{module}.{2 * j + 1}", x)
                x = self.relu(x, 0.2 if module == "model10" else 0.0)
            if module != "model10":
                x = self.norm(f"{module}.{2 * count + 1}", x)
        x = self.conv("model_out.0", x)
        return self.add(Op("tanh", "model_out.1", [x], "model_out.1"))


def convert(pth: str | os.PathLike, winograd: bool = True) -> Any:
    """The ONNX model (with metadata) of a SIGGRAPHGenerator state dict file."""
    from .siggraph17 import WINOGRAD_MIN_CHANNELS
    from .winograd import rewrite as winograd_rewrite

    builder = _Builder(read_state_dict(pth))
    output = builder.build()
    fold(builder.ops, output)
    metadata = {
        **source_metadata("siggraph17", [Path(pth)]),
        "l_offset": 50.0,
        "l_divisor": 100.0,
        "hint_divisor": 110.0,
        "mask_offset": 0.0,
        "mask_mult": 1.0,
        "ab_scale": 110.0,
    }
    model = to_onnx(builder.ops, [("L", 1), ("ab_hint", 2), ("mask", 1)],
                    ("ab", [1, 2, "H", "W"]), {output: "ab"}, "siggraph17_pytorch", metadata)
    if winograd:
        winograd_rewrite(model, min_channels=WINOGRAD_MIN_CHANNELS)
    return model
