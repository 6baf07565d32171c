"""What every model family shares: how L becomes the model's input, and its output ab."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


@dataclass
class HintCells:
    """Colour hints at a model's resolution: each cell's alpha-weighted mean ab of the hint
    pixels in it (0 where there are none) and a mask (1 where a hint is, else 0)."""

    ab: np.ndarray  # rows x cols x 2 float32, ab units
    mask: np.ndarray  # rows x cols float32
    # The hints already spread over grey along the photo's edges (rows x cols x 2), for a
    # model that takes that as an input too (Family.spread_input).
    spread: np.ndarray | None = None


class Family:
    """One model family. Defaults come from the published models (docs/MODELS.md); a
    manifest entry's `input` / `output` values override them per model."""

    name: ClassVar[str]
    size: ClassVar[int]  # side the family was trained at
    multiple: ClassVar[int]  # input sides must be multiples of this
    l_offset: ClassVar[float]
    l_divisor: ClassVar[float]
    ab_scale: ClassVar[float]
    # Families trained to take colour hints get them as inputs; for the others the pipeline
    # spreads the hints over the prediction afterwards (hints.py).
    takes_hints: ClassVar[bool] = False
    # A hint model may also take the hints spread over grey (an input it need not learn to
    # compute), and may have the pipeline spread the hints over its output, like the others,
    # so that hint colours are kept exactly where they were painted (manifest values).
    spread_input: str = ""
    spread_after: bool = True
    # How the photo is shrunk to the model's input: "area" averages (no aliasing); a family
    # whose reference inference code does something else says so, to reproduce its results.
    downscale: ClassVar[str] = "area"

    def __init__(self, input_spec: dict[str, Any], output_spec: dict[str, Any]) -> None:
        self.input_name: str = input_spec.get("name", "L")
        self.layout: str = input_spec.get("layout", "NCHW")
        self.size = int(input_spec.get("size", self.size))
        self.multiple = int(input_spec.get("multiple", self.multiple))
        self.fixed_size = bool(input_spec.get("fixed_size", False))
        self.l_offset = float(input_spec.get("l_offset", self.l_offset))
        self.l_divisor = float(input_spec.get("l_divisor", self.l_divisor))
        self.output_name: str = output_spec.get("name", "ab")
        self.output_layout: str = output_spec.get("layout", self.layout)
        self.ab_scale = float(output_spec.get("ab_scale", self.ab_scale))

    def to_tensor(self, plane: np.ndarray) -> np.ndarray:
        """H x W float32 -> [1, 1, H, W] or [1, H, W, 1]."""
        if self.layout == "NHWC":
            return plane[None, :, :, None]
        return plane[None, None, :, :]

    @property
    def input_names(self) -> tuple[str, ...]:
        """Every input the model's graph must have (all 4-D)."""
        return (self.input_name,)

    def feeds(self, lightness: np.ndarray, hints: HintCells | None = None
              ) -> dict[str, np.ndarray]:
        """The model's inputs for an L plane (H x W float32, L in [0, 100]) and, for a family
        that takes them, hints at the same size."""
        x = (lightness.astype(np.float32) - np.float32(self.l_offset)) / np.float32(self.l_divisor)
        return {self.input_name: self.to_tensor(np.ascontiguousarray(x, dtype=np.float32))}

    def decode(self, output: np.ndarray) -> np.ndarray:
        """The model's output tensor -> h x w x 2 ab, float32."""
        ab = output[0] if self.output_layout == "NHWC" else output[0].transpose(1, 2, 0)
        return np.ascontiguousarray(ab, dtype=np.float32) * np.float32(self.ab_scale)
