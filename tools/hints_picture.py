"""The README's colour-hint picture: the sample photo, the hints drawn over it, and the
default model without and with the hints.

    python3 tools/hints_picture.py [--models models] [--model ID ...]

Paints docs/samples/cameraman_hints.png (a few soft strokes, as an editor would: sky, grass,
skin, coat) unless it exists, then writes docs/images/readme_hints.jpg.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugin"))

PHOTO = REPO / "docs" / "samples" / "cameraman.png"
HINTS = REPO / "docs" / "samples" / "cameraman_hints.png"
OUT = REPO / "docs" / "images" / "readme_hints.jpg"
# (colour, stroke points, width) in the 512 x 512 sample's pixels.
STROKES = [
    ((110, 160, 230), [(330, 40), (470, 60)], 14),  # sky
    ((110, 160, 230), [(40, 50), (120, 90)], 14),
    ((90, 150, 60), [(380, 330), (480, 420)], 16),  # grass
    ((90, 150, 60), [(170, 470), (220, 430)], 14),
    ((210, 150, 120), [(215, 150), (235, 175)], 6),  # skin
    ((40, 50, 90), [(60, 330), (110, 420)], 12),  # a navy coat
]


def paint_hints(size: tuple[int, int]) -> np.ndarray:
    hints = np.zeros((size[1], size[0], 4), np.uint8)
    for colour, points, width in STROKES:
        cv2.line(hints, points[0], points[1], (*colour, 255), width, lineType=cv2.LINE_AA)
    return hints


def main(argv: list[str] | None = None) -> int:
    from colorize_ai.model import load_model
    from colorize_ai.pipeline import colorize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=str(REPO / "models"))
    parser.add_argument("--model", nargs="+", help="model ids (default: the default model)")
    args = parser.parse_args(argv)
    if not args.model:
        from colorize_ai.registry import get_spec

        args.model = [get_spec(None, [args.models]).id]
    grey = np.asarray(Image.open(PHOTO).convert("RGB"))
    if not HINTS.exists():
        Image.fromarray(paint_hints((grey.shape[1], grey.shape[0])), "RGBA").save(HINTS)
    hints = np.asarray(Image.open(HINTS).convert("RGBA"))
    over = grey.copy()
    alpha = hints[..., 3:].astype(np.float32) / 255
    over[:] = np.rint(hints[..., :3] * alpha + grey * (1 - alpha)).astype(np.uint8)
    cells = [("grey photo", grey), ("hints layer", over)]
    for model_id in args.model:
        model = load_model(model_id, device="cpu", folders=[args.models], variant="exact")
        cells.append((f"{model_id}, no hints", colorize(grey, model)))
        cells.append((f"{model_id}, with the hints", colorize(grey, model, hints=hints)))
    side = 256
    sheet = Image.new("RGB", (side * len(cells), side + 18), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (label, cell) in enumerate(cells):
        sheet.paste(Image.fromarray(cv2.resize(cell, (side, side), interpolation=cv2.INTER_AREA)),
                    (i * side, 18))
        draw.text((i * side + 4, 3), label, fill="black")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(OUT, quality=90)
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
