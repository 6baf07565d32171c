"""Zhang et al. ECCV 2016: L - 50 in, annealed-mean ab out at a quarter of the input size."""

from .base import Family


class Zhang(Family):
    name = "zhang"
    size = 224
    multiple = 8  # three stride-2 convolutions
    l_offset = 50.0
    l_divisor = 1.0
    ab_scale = 1.0  # class8_ab already yields ab units
    downscale = "linear"  # the official demo and OpenCV's sample resize bilinearly
