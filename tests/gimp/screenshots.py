"""Take the README's pictures from a real GIMP 3 run under Xvfb (needs root, like the tests).

    python3 tests/gimp/screenshots.py [--gimp 3.0|3.2] [--models DIR] [--photo FILE] [-o DIR]

Installs the plug-in into a throwaway profile in that GIMP's Debian root (rootfs.py), opens
the photo (made grey), runs the filter from its dialog as a person would, and saves dialog.png
(the dialog), window.png (GIMP with the new layer) and before_after.png (the grey layer and the
new one).
Without --models it uses a tiny untrained test model, whose colours mean nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness  # noqa: E402
import rootfs  # noqa: E402

from tiny_models import add_model  # noqa: E402


def sample_photo() -> Image.Image:
    """NASA's public-domain astronaut portrait, shipped with scikit-image."""
    from skimage import data

    return Image.fromarray(data.astronaut())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gimp", choices=sorted(rootfs.RELEASES), default=rootfs.TRIXIE.gimp,
                        help="the GIMP version to photograph (default: %(default)s)")
    parser.add_argument("--models", type=Path, help="a models folder (manifest.json + files)")
    parser.add_argument("--photo", type=Path, help="the photo (default: scikit-image's astronaut)")
    parser.add_argument("--hints", type=Path,
                        help="an RGBA picture of the photo's size: painted as a 'Colour hints' "
                             "layer, which the dialog then picks")
    parser.add_argument("-o", "--output", type=Path, default=harness.REPO / "docs" / "images")
    args = parser.parse_args()

    root, mount = harness.gimp_root(rootfs.RELEASES[args.gimp])
    try:
        root.fresh_work()
        models = root.path(harness.MODELS)
        if args.models:
            shutil.rmtree(models)
            shutil.copytree(args.models, models)
        else:
            add_model(models, "tiny-a", default=True)
        photo = Image.open(args.photo) if args.photo else sample_photo()
        grey = photo.convert("L")
        grey.convert("RGB").save(root.path(harness.WORK) / "gui_photo.png")
        settings = {"out": harness.OUT, "gui_photo": harness.WORK + "/gui_photo.png"}
        if args.hints:
            rgba = np.asarray(Image.open(args.hints).convert("RGBA").resize(grey.size))
            (root.path(harness.WORK) / "gui_hints.raw").write_bytes(rgba.tobytes())
            settings["gui_hints"] = harness.WORK + "/gui_hints.raw"
        (root.path(harness.WORK) / "settings.json").write_text(json.dumps(settings))
        installed = root.install()
        if installed.returncode:
            sys.stderr.write(installed.stderr.decode())
            return 1
        run = root.gui_batch("gui_session.py")
        out = root.path(harness.OUT)
        report = json.loads((out / "gui.json").read_text()) if (out / "gui.json").exists() else {}
        if "exception" in report or not (out / "window.png").exists():
            sys.stderr.write(report.get("exception") or run.stderr.decode()[-3000:])
            return 1
        args.output.mkdir(parents=True, exist_ok=True)
        for name in ("dialog.png", "window.png"):
            shutil.copyfile(out / name, args.output / name)
        w, h = grey.size
        before = np.fromfile(out / "gui_before.raw", np.uint8).reshape(h, w, 3)
        after = np.fromfile(out / "gui_after.raw", np.uint8).reshape(h, w, 3)
        gap = np.full((h, 8, 3), 255, np.uint8)
        Image.fromarray(np.hstack([before, gap, after])).save(args.output / "before_after.png")
        print("wrote dialog.png, window.png and before_after.png to", args.output)
        return 0
    finally:
        mount.__exit__(None, None, None)


if __name__ == "__main__":
    sys.exit(main())
