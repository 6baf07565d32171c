"""Model families by name; the manifest's `family` field picks one."""

from __future__ import annotations

from .base import Family, HintCells
from .baseline import Baseline
from .fusion import Fusion
from .siggraph17 import Siggraph17
from .zhang import Zhang

FAMILIES: dict[str, type[Family]] = {f.name: f for f in (Baseline, Fusion, Siggraph17, Zhang)}

__all__ = ["FAMILIES", "Family", "HintCells"]
