#!/usr/bin/env python3
"""Peak memory of colorize-ai on one photo: run it in this process, print what it took.

    python3 tools/memory_peak.py PHOTO [colorize-ai options...]

Prints one JSON line: the decoded size of the photo and of the result (MB), the process's
resident set before the run (imports done) and at its peak (MB, /proc's VmHWM: unlike
getrusage's ru_maxrss it does not inherit the peak of the process that started this one).
Linux only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin"))

from PIL import Image  # noqa: E402

from colorize_ai.cli import main  # noqa: E402
from colorize_ai.imagefile import _is_16bit  # noqa: E402

MB = 1e6


def resident_mb(field: str = "VmRSS") -> float:
    """The process's resident set now (VmRSS) or at its peak (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith(field + ":"))
    return int(line.split()[1]) * 1024 / MB


def main_peak(argv: list[str]) -> dict:
    photo = Path(argv[0])
    with Image.open(photo) as im:
        channels = len(im.getbands())
        depth = 2 if _is_16bit(im, photo) else 1
        pixels = im.size[0] * im.size[1]
    before = resident_mb()
    code = main(argv)
    peak = resident_mb("VmHWM")
    result_channels = 4 if channels in (2, 4) else 3
    return {"exit": code, "megapixels": round(pixels / 1e6, 1),
            "decoded_mb": round(pixels * channels * depth / MB),
            "result_mb": round(pixels * result_channels * depth / MB),
            "before_mb": round(before), "peak_mb": round(peak)}


if __name__ == "__main__":
    print(json.dumps(main_peak(sys.argv[1:])))
