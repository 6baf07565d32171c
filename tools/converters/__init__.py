"""Converters from source frameworks to ONNX, one module per subcommand."""

from __future__ import annotations

import importlib
from types import ModuleType

# Each module defines add_parser(subparsers) and sets `run` on its parser's defaults.
_NAMES = ("zhang", "siggraph17", "keras_baseline", "keras_fusion", "fetch", "quantize")


def _load() -> list[ModuleType]:
    modules = []
    for name in _NAMES:
        try:
            modules.append(importlib.import_module(f"converters.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"converters.{name}":
                raise
    return modules


SUBCOMMANDS = _load()
