"""Zhang et al. SIGGRAPH 2017 ("Real-Time User-Guided Image Colorization with Learned Deep
Priors"): L, the hints' ab and a hint mask in, ab out at the input size. Our own hint model
follows the same input design with its own normalisation (manifest values)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Family, HintCells


class Siggraph17(Family):
    name = "siggraph17"
    size = 256
    multiple = 8  # three stride-2 convolutions
    l_offset = 50.0  # the published Caffe network: L - 50, ab and mask as they are
    l_divisor = 1.0
    ab_scale = 1.0  # its final Scale layer already yields ab units
    takes_hints = True

    def __init__(self, input_spec: dict[str, Any], output_spec: dict[str, Any]) -> None:
        super().__init__(input_spec, output_spec)
        self.hint_name: str = input_spec.get("hint_name", "ab_hint")
        self.mask_name: str = input_spec.get("mask_name", "mask")
        self.hint_divisor = float(input_spec.get("hint_divisor", 1.0))
        self.mask_offset = float(input_spec.get("mask_offset", 0.0))
        self.spread_input = str(input_spec.get("spread_name", ""))
        # The published network is used as it is; a model of ours says so in its manifest.
        self.spread_after = bool(output_spec.get("spread_hints", False))

    @property
    def input_names(self) -> tuple[str, ...]:
        names = (self.input_name, self.hint_name, self.mask_name)
        return names + ((self.spread_input,) if self.spread_input else ())

    def feeds(self, lightness: np.ndarray, hints: HintCells | None = None) -> dict[str, np.ndarray]:
        feeds = super().feeds(lightness)
        rows, cols = lightness.shape
        if hints is None:
            ab = np.zeros((rows, cols, 2), np.float32)
            mask = np.zeros((rows, cols), np.float32)
        else:
            ab, mask = hints.ab, hints.mask
        feeds[self.hint_name] = self._ab_tensor(ab)
        if self.spread_input:
            spread = None if hints is None else hints.spread
            feeds[self.spread_input] = self._ab_tensor(
                np.zeros((rows, cols, 2), np.float32) if spread is None else spread)
        feeds[self.mask_name] = self.to_tensor(
            np.ascontiguousarray(mask - np.float32(self.mask_offset), dtype=np.float32))
        return feeds

    def _ab_tensor(self, ab: np.ndarray) -> np.ndarray:
        tensor = np.ascontiguousarray(ab.transpose(2, 0, 1)[None], dtype=np.float32)
        if self.hint_divisor != 1.0:  # not in place: it may be the caller's own array
            tensor = tensor / np.float32(self.hint_divisor)
        return tensor
