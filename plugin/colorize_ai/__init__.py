"""Colorize (AI): colorize black-and-white photos with ONNX models (engine package)."""

__version__ = "0.1.0"

import logging

# A library logs; whoever runs it (CLI, worker) decides where the log goes.
logging.getLogger(__name__).addHandler(logging.NullHandler())
