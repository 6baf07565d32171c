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

    @property
    def input_names(self) -> tuple[str, ...]:
        return (self.input_name, self.hint_name, self.mask_name)

    def feeds(self, lightness: np.ndarray, hints: HintCells | None = None) -> dict[str, np.ndarray]:
        feeds = super().feeds(lightness)
        rows, cols = lightness.shape
        if hints is None:
            ab = np.zeros((rows, cols, 2), np.float32)
            mask = np.zeros((rows, cols), np.float32)
        else:
            ab, mask = hints.ab, hints.mask
        hint_ab = np.ascontiguousarray(ab.transpose(2, 0, 1)[None], dtype=np.float32)
        if self.hint_divisor != 1.0:  # not in place: hint_ab may be the caller's own array
            hint_ab = hint_ab / np.float32(self.hint_divisor)
        feeds[self.hint_name] = hint_ab
        feeds[self.mask_name] = self.to_tensor(
            np.ascontiguousarray(mask - np.float32(self.mask_offset), dtype=np.float32))
        return feeds
