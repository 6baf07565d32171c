"""Inception-ResNet-v2 fusion (Deep Koalarization): an encoder on L plus an embedding of the
photo that the graph computes itself from a 299 x 299 L input."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .base import Family, HintCells

EMBED_SIDE = 299  # Inception-ResNet-v2's input size


class Fusion(Family):
    name = "fusion"
    size = 224
    multiple = 8  # three stride-2 convolutions in the encoder
    l_offset = 50.0  # reference code: 2 L / 100 - 1
    l_divisor = 50.0
    ab_scale = 127.0

    def __init__(self, input_spec: dict[str, Any], output_spec: dict[str, Any]) -> None:
        super().__init__(input_spec, output_spec)
        self.embed_name: str = input_spec.get("embed_name", "L_embed")

    @property
    def input_names(self) -> tuple[str, ...]:
        return (self.input_name, self.embed_name)

    def feeds(self, lightness: np.ndarray, hints: HintCells | None = None
              ) -> dict[str, np.ndarray]:
        feeds = super().feeds(lightness)
        embed = cv2.resize(lightness.astype(np.float32), (EMBED_SIDE, EMBED_SIDE),
                           interpolation=cv2.INTER_AREA)
        feeds[self.embed_name] = self.to_tensor(embed)
        return feeds
