#!/usr/bin/env python3
"""Compare the two ways of feeding a non-square photo to a model, on whole photos.

    python3 tools/compare_fit.py --images $WORK/cache/data/test --models baseline-ours

"stretch" squashes the photo into the model's square; "keep-aspect" keeps its proportions
(the long side at the model's size). Each colour photo, made grey, is colorized both ways
at its full size; PSNR and colourfulness against the photo itself are averaged per model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from colorize_ai.model import load_model  # noqa: E402
from colorize_ai.pipeline import FITS, colorize  # noqa: E402
from evaluate import SUFFIXES, grey_output, psnr  # noqa: E402
from toolbox import colourfulness  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of colour photos")
    parser.add_argument("--models", nargs="+", required=True, help="model ids")
    parser.add_argument("--limit", type=int, default=0, help="first N non-square photos only")
    args = parser.parse_args(argv)

    photos = []
    for path in sorted(p for p in args.images.iterdir() if p.suffix.lower() in SUFFIXES):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        if abs(rgb.shape[0] - rgb.shape[1]) > 0.1 * max(rgb.shape[:2]):
            photos.append(rgb)
        if args.limit and len(photos) == args.limit:
            break
    if not photos:
        print(f"error: no non-square photos in {args.images}", file=sys.stderr)
        return 1
    aspects = [max(p.shape[:2]) / min(p.shape[:2]) for p in photos]
    print(f"{len(photos)} non-square photos, aspect ratio {min(aspects):.2f} to "
          f"{max(aspects):.2f} (median {np.median(aspects):.2f})\n")
    print("| model | fit | PSNR (dB) | colourfulness / truth |")
    print("|---|---|---|---|")
    for model_id in args.models:
        model = load_model(model_id, device="cpu", variant="exact")
        for fit in FITS:
            scores, colour = [], []
            for rgb in photos:
                out = colorize(grey_output(rgb), model, fit=fit)
                scores.append(psnr(rgb, out))
                colour.append(colourfulness(out) / max(colourfulness(rgb), 1e-6))
            print(f"| {model_id} | {fit} | {np.mean(scores):.2f} | {np.mean(colour):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
