#!/usr/bin/env python3
"""Convert published colorization models to ONNX files the Colorize (AI) engine loads.

    python3 tools/convert_models.py zhang    --prototxt P --caffemodel C --hull H -o models/
    python3 tools/convert_models.py baseline MODEL.h5 -o models/
    python3 tools/convert_models.py fusion   FUSION.h5 --inception INCEPTION.h5 -o models/
    python3 tools/convert_models.py fetch    zhang

Each subcommand lives in its own module under tools/converters/.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from converters import SUBCOMMANDS  # noqa: E402
from converters.common import ConversionError  # noqa: E402

# The extra (pyproject.toml) that brings each package the converters import when they run.
EXTRAS = {"onnx": "convert", "h5py": "convert", "skimage": "convert", "onnxruntime": "cpu"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="convert_models.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    args = parser.parse_args(argv)
    # Before any converter imports onnxruntime, as the engine does (colorize_ai/session.py):
    # no telemetry device id under ~/.cache/Microsoft on the user's machine.
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    try:
        return args.run(args) or 0
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        extra = EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"error: `{args.command}` needs the Python package {exc.name}, which is not "
              f"installed; install the `{extra}` extra: pip install -e '.[{extra}]'",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
