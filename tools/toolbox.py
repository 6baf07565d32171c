"""What the offline tools share: a file's sha256, Hasler and Suesstrunk's colourfulness, and
the one progress bar (downloads in fetch, long loops elsewhere)."""

from __future__ import annotations

import hashlib
import os
import time
from typing import TextIO

import numpy as np


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The file's sha256 (hex), read in blocks: model files are hundreds of MB."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness M of an 8-bit RGB image."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def size_text(n: int) -> str:
    """A byte count as people read it: 1.2 MB, 340.0 kB."""
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


class Progress:
    """A one-line progress bar on a terminal; a line per quarter otherwise; nothing without a
    stream. `in_bytes` shows amounts as sizes (downloads), else as counts."""

    def __init__(self, name: str, total: int, stream: TextIO | None,
                 in_bytes: bool = False) -> None:
        self.name, self.total, self.stream = name, total, stream
        self.in_bytes = in_bytes
        self.tty = bool(stream is not None and stream.isatty())
        self.done = 0
        self.last = 0.0
        self.quarter = -1

    def _amount(self, n: int) -> str:
        return size_text(n) if self.in_bytes else str(n)

    def update(self, done: int, final: bool = False) -> None:
        self.done = done
        if self.stream is None:
            return
        fraction = done / self.total if self.total else 1.0
        if self.tty:
            now = time.monotonic()
            if not final and now - self.last < 0.1:
                return
            self.last = now
            bar = "#" * int(30 * fraction)
            self.stream.write(
                f"\r{self.name}  {fraction:4.0%} |{bar:<30}| {self._amount(done)} of "
                f"{self._amount(self.total)}" + ("\n" if final else ""))
        elif int(fraction * 4) > self.quarter:
            self.quarter = int(fraction * 4)
            self.stream.write(f"{self.name}: {fraction:.0%} of {self._amount(self.total)}\n")
        self.stream.flush()

    def step(self) -> None:
        """One more item done (the last one ends the line)."""
        self.update(self.done + 1, final=self.done + 1 >= self.total)
