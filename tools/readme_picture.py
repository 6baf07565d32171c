#!/usr/bin/env python3
"""The README's before/after strip: each photo made grey, colorized by each model, and (for a
colour photo) its original colours, one row per photo, labelled.

    python3 tools/readme_picture.py --photos $WORK/cache/data-big/test/155e8b4088ac.jpg \
        docs/samples/cameraman.png --models unet-ours unet-classes-ours \
        -o docs/images/readme_before_after.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin"))

from colorize_ai.imagefile import read_photo  # noqa: E402
from colorize_ai.model import load_model  # noqa: E402
from colorize_ai.pipeline import colorize  # noqa: E402
from evaluate import grey_output  # noqa: E402


def labelled(rgb: np.ndarray, height: int, label: str) -> Image.Image:
    width = round(rgb.shape[1] * height / rgb.shape[0])
    tile = Image.fromarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
    draw = ImageDraw.Draw(tile)
    draw.rectangle((0, 0, 7 * len(label) + 8, 18), fill="black")
    draw.text((4, 3), label, fill="white")
    return tile


def row(path: Path, models: list, height: int) -> list[Image.Image]:
    pixels = read_photo(path).pixels
    if pixels.ndim == 2:
        pixels = np.dstack([pixels] * 3)
    rgb = pixels[..., :3]
    if rgb.dtype != np.uint8:
        rgb = (rgb.astype(np.float32) / np.iinfo(rgb.dtype).max * 255).round().astype(np.uint8)
    grey = grey_output(rgb)  # the photo's own L with a = b = 0
    tiles = [labelled(grey, height, "black and white")]
    tiles += [labelled(colorize(grey, m), height, m.spec.base_id) for m in models]
    if np.abs(rgb.astype(int) - grey).max() > 2:  # a colour original: show it last
        tiles.append(labelled(rgb, height, "original colour"))
    return tiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", nargs="+", type=Path, required=True)
    parser.add_argument("--models", nargs="+", required=True, help="model ids")
    parser.add_argument("--height", type=int, default=300, help="row height in pixels")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    models = [load_model(m, device="cpu", variant="exact") for m in args.models]
    rows = [row(p, models, args.height) for p in args.photos]
    width = max(sum(t.width for t in r) for r in rows)
    sheet = Image.new("RGB", (width, (args.height + 6) * len(rows) - 6), "white")
    for y, tiles in enumerate(rows):
        x = 0
        for tile in tiles:
            sheet.paste(tile, (x, y * (args.height + 6)))
            x += tile.width
    sheet.save(args.output, quality=88, optimize=True)
    print(f"wrote {args.output} ({sheet.width} x {sheet.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
