"""Baseline CNN (Keras Sequential, 8 convolutions): L -> tanh ab / 128 at the input size."""

from .base import Family


class Baseline(Family):
    name = "baseline"
    size = 256
    multiple = 4  # two stride-2 convolutions, two x2 upsamplings
    l_offset = 0.0  # raw L, as the public Keras code of this family feeds it
    l_divisor = 1.0
    ab_scale = 128.0
