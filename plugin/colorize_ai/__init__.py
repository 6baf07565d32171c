"""Colorize (AI): colorize black-and-white photos with ONNX models (engine package)."""

__version__ = "0.1.0"
