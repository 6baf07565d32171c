"""Build the training photographs from Debian packages and scikit-image's samples.

    python tools/dataset.py fetch --cache /work/cache/dataset     # apt-get download + dpkg-deb -x
    python tools/dataset.py build --cache /work/cache/dataset --out /work/cache/data

`build` keeps only photographs (see `photo_verdict`), collapses the resolutions of one picture into
one, splits train/val/test by a hash of the picture's id and writes each kept picture, its short
side brought down to 384 px, as JPEG q95 under out/<split>/, plus out/index.json with provenance.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

# Debian package -> folders (inside the package) that hold its pictures.
PACKAGES: dict[str, tuple[str, ...]] = {
    "gnome-backgrounds": ("usr/share/backgrounds",),
    "mate-backgrounds": ("usr/share/backgrounds",),
    "plasma-workspace-wallpapers": ("usr/share/wallpapers",),
    "lomiri-wallpapers": ("usr/share/backgrounds",),
    "lomiri-wallpapers-16.04": ("usr/share/backgrounds",),
    "lomiri-wallpapers-20.04": ("usr/share/backgrounds",),
    "ukui-wallpapers": ("usr/share/backgrounds",),
    "sway-backgrounds": ("usr/share/backgrounds",),
    "lxqt-themes": ("usr/share/lxqt/wallpapers",),
    "debian-edu-artwork": ("usr/share",),
    "debian-edu-artwork-emerald": ("usr/share",),
    "debian-edu-artwork-homeworld": ("usr/share",),
    "desktop-base": ("usr/share/desktop-base", "usr/share/plymouth"),
    "opencv-doc": ("usr/share/doc/opencv-doc/examples",),
}
# scikit-image's colour photographs (its data/README.txt gives each one's licence).
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")
# OpenCV's HTML documentation: mostly figures, so only these photographs (looked at by a person).
OPENCV_HTML = "usr/share/doc/opencv-doc/opencv4/html"
OPENCV_HTML_PHOTOS = ("227943776_1.jpg", "230501201_1.jpg", "4_barcodes.jpg",
                      "Background_Subtraction_Tutorial_frame.jpg", "astra_color.jpg",
                      "asymetricalPattern.jpg", "building.jpg", "chocclusion.jpg",
                      "pexels_double_decker_bus.jpg", "plant.jpg", "space_shuttle.jpg")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}

SHORT_SIDE = 384
MIN_SHORT_SIDE = 256
# A photograph: see docs/DATASET.md for why each threshold is where it is.
MIN_COLOURFULNESS = 12.0
MIN_UNIQUE_COLOURS = 6000
MIN_TEXTURE = 0.25
MAX_FLAT = 0.35
# Looked at by a person: rendered art, patterns, a painting, a map and crops of other pictures
# that pass the statistics (textured digital art looks like a photo to them).
NOT_PHOTOS = frozenset({
    "gnome-backgrounds:usr/share/backgrounds/gnome/grid-d.webp",
    "gnome-backgrounds:usr/share/backgrounds/gnome/grid-l.webp",
    "gnome-backgrounds:usr/share/backgrounds/gnome/licorice-d.webp",
    "gnome-backgrounds:usr/share/backgrounds/gnome/licorice-l.webp",
    "gnome-backgrounds:usr/share/backgrounds/gnome/truchet-d.webp",
    "gnome-backgrounds:usr/share/backgrounds/gnome/truchet-l.webp",
    "mate-backgrounds:usr/share/backgrounds/mate/abstract/Elephants.jpg",
    "mate-backgrounds:usr/share/backgrounds/mate/desktop/Float-into-MATE.png",
    "lomiri-wallpapers-16.04:usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg",
    "lomiri-wallpapers-16.04:usr/share/backgrounds/greentock_by_Peter_Nerlich.jpg",
    "lomiri-wallpapers-20.04:usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg",
    "ukui-wallpapers:usr/share/backgrounds/rhythm.jpg",
    "ukui-wallpapers:usr/share/backgrounds/string.jpg",
    "opencv-doc:usr/share/doc/opencv-doc/examples/data/pca_test1.jpg",
    "opencv-doc:usr/share/doc/opencv-doc/examples/data/pic2.png",
    "opencv-doc:usr/share/doc/opencv-doc/examples/data/starry_night.jpg",
    "opencv-doc:usr/share/doc/opencv-doc/examples/fuzzy/input.png",
    "opencv-doc:usr/share/doc/opencv-doc/examples/ximgproc/stanford.png",
}) | {
    f"plasma-workspace-wallpapers:{name}"
    for name in ("Canopee", "Cascade", "ColorfulCups", "Honeywave", "Kay", "Opal", "Patak",
                 "SafeLanding", "Shell")
}
# Looked at by a person: macro photographs whose smooth bokeh fails the texture statistic.
PHOTOS = frozenset({
    "mate-backgrounds:usr/share/backgrounds/mate/nature/Aqua.jpg",
    "mate-backgrounds:usr/share/backgrounds/mate/nature/TwoWings.jpg",
    "lxqt-themes:usr/share/lxqt/wallpapers/Butterfly-Kenneth-Wimer.jpg",
})
# OpenCV's samples: stereo pairs, sequences and edits of one scene are one picture.
OPENCV_SAME_PICTURE = {"aero3": "aero1", "aloeR": "aloeL", "ela_modified": "ela_original",
                       "graf3": "graf1", "leuvenB": "leuvenA", "right": "left"}
# Two files whose 64-bit difference hashes differ in at most this many bits are one picture.
MAX_HASH_DISTANCE = 6
SPLITS = (("train", 75), ("val", 10), ("test", 15))


@dataclass
class Candidate:
    source: str
    path: str
    width: int
    height: int
    stats: dict[str, float] = field(default_factory=dict)
    verdict: str = ""
    picture: str = ""
    dhash: int = 0


def fetch(cache: Path) -> None:
    """Download the packages (not installed) and unpack each into cache/extract/<package>."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True)
    for name in PACKAGES:
        deb = sorted(debs.glob(f"{name}_*.deb"))[-1]
        target = cache / "extract" / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness M of an 8-bit RGB image."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def image_stats(rgb: np.ndarray) -> dict[str, float]:
    """Statistics that tell photographs from graphics, on a copy with its long side at 256 px."""
    import cv2

    scale = 256 / max(rgb.shape[:2])
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    # Photographs have fine detail almost everywhere; rendered art has smooth fills and gradients.
    detail = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.0))
    gx = np.abs(np.diff(grey, axis=1))[:-1]
    gy = np.abs(np.diff(grey, axis=0))[:, :-1]
    packed = small.reshape(-1, 3).astype(np.int32)
    unique = np.unique(packed[:, 0] << 16 | packed[:, 1] << 8 | packed[:, 2]).size
    return {
        "colourfulness": round(colourfulness(small), 2),
        "unique_colours": int(unique),
        "texture": round(float((detail > 1.0).mean()), 3),
        "flat": round(float(((gx + gy) < 0.5).mean()), 3),
    }


def photo_verdict(stats: dict[str, float], key: str = "") -> str:
    """'photo', or the first rule that says it is not one; `key` is "source:path" or a
    Plasma "source:folder" for the person-reviewed lists."""
    if key in NOT_PHOTOS:
        return "dropped: not a photograph (reviewed)"
    if key in PHOTOS:
        return "photo"
    if stats["colourfulness"] < MIN_COLOURFULNESS:
        return f"dropped: nearly grey (colourfulness < {MIN_COLOURFULNESS:g})"
    if stats["unique_colours"] < MIN_UNIQUE_COLOURS:
        return f"dropped: few colours (< {MIN_UNIQUE_COLOURS} unique at 256 px)"
    if stats["flat"] > MAX_FLAT:
        return f"dropped: flat fills (> {100 * MAX_FLAT:.0f}% of pixels flat)"
    if stats["texture"] < MIN_TEXTURE:
        return f"dropped: smooth (< {100 * MIN_TEXTURE:.0f}% of pixels with fine detail)"
    return "photo"


def difference_hash(rgb: np.ndarray) -> int:
    """64-bit dHash of the centre square, so other aspect-ratio crops of a picture agree."""
    import cv2

    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    grey = cv2.cvtColor(rgb[top : top + side, left : left + side], cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def split_of(picture: str) -> str:
    """Deterministic split of a picture id: the same picture always lands in the same split."""
    bucket = int(hashlib.sha256(picture.encode()).hexdigest(), 16) % 100
    edge = 0
    for name, share in SPLITS:
        edge += share
        if bucket < edge:
            return name
    raise AssertionError("split shares must add up to 100")


def picture_id(source: str, rel: str) -> str:
    """The picture a file shows, from its path: Plasma ships one folder per picture."""
    parts = rel.split("/")
    if source == "plasma-workspace-wallpapers" and "contents" in parts:
        folder = parts[parts.index("contents") - 1]
        dark = "-dark" if "images_dark" in parts else ""
        return f"{source}/{folder}{dark}"
    if source == "opencv-doc":
        stem = Path(rel).stem
        return f"{source}/{OPENCV_SAME_PICTURE.get(stem, stem)}"
    return f"{source}/{Path(rel).with_suffix('').as_posix()}"


def _review_key(source: str, rel: str) -> str:
    """"source:path", with a size suffix (Elephants_3840x2160.jpg) taken off the name."""
    parts = rel.split("/")
    if source == "plasma-workspace-wallpapers" and "contents" in parts:
        return f"{source}:{parts[parts.index('contents') - 1]}"
    return f"{source}:{re.sub(r'_[0-9]+x[0-9]+(?=[.][^.]+$)', '', rel)}"


def find_candidates(cache: Path) -> list[tuple[str, Path, str]]:
    """(source, file, path relative to the source) for every picture file of every source."""
    found = []
    for name, folders in PACKAGES.items():
        root = cache / "extract" / name
        for folder in folders:
            for f in sorted((root / folder).rglob("*")):
                # Scene-text word crops are cut out of the scenetext photographs.
                crop = "segmented_word" in f.name or "scenetext_word" in f.name
                if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file() and not crop:
                    found.append((name, f, f.relative_to(root).as_posix()))
    html = cache / "extract" / "opencv-doc" / OPENCV_HTML
    for fname in OPENCV_HTML_PHOTOS:
        for f in sorted(html.rglob(fname))[:1]:
            rel = f.relative_to(cache / "extract" / "opencv-doc").as_posix()
            found.append(("opencv-doc", f, rel))
    import skimage.data

    skdir = Path(skimage.data.__file__).parent
    for fname in SKIMAGE_PHOTOS:
        if (skdir / fname).exists():
            found.append(("scikit-image", skdir / fname, f"skimage/data/{fname}"))
    return found


def load_rgb(path: Path) -> np.ndarray | None:
    """8-bit RGB pixels, or None for a file that is unreadable or has transparent parts."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                alpha = np.asarray(im.convert("RGBA"))[..., 3]
                if alpha.min() < 255:
                    return None
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError):
        return None


def build(cache: Path, out: Path) -> list[Candidate]:
    """Filter, deduplicate, split and write; returns every candidate with its verdict."""
    candidates: list[Candidate] = []
    pixels: dict[int, np.ndarray] = {}
    for source, path, rel in find_candidates(cache):
        rgb = load_rgb(path)
        if rgb is None:
            candidates.append(Candidate(source, rel, 0, 0, verdict="dropped: unreadable or alpha"))
            continue
        c = Candidate(source, rel, rgb.shape[1], rgb.shape[0], picture=picture_id(source, rel))
        if min(rgb.shape[:2]) < MIN_SHORT_SIDE:
            c.verdict = f"dropped: short side < {MIN_SHORT_SIDE} px"
        else:
            c.stats = image_stats(rgb)
            c.verdict = photo_verdict(c.stats, _review_key(source, rel))
            c.dhash = difference_hash(rgb)
        if c.verdict == "photo":
            pixels[len(candidates)] = rgb
        candidates.append(c)
    keep = _collapse_duplicates(candidates, pixels)
    if out.exists():
        shutil.rmtree(out)
    index = []
    for i in keep:
        c = candidates[i]
        split = split_of(c.picture)
        name = hashlib.sha256(c.picture.encode()).hexdigest()[:12] + ".jpg"
        target = out / split / name
        target.parent.mkdir(parents=True, exist_ok=True)
        _resized(pixels[i]).save(target, quality=95)
        index.append({"file": f"{split}/{name}", "split": split, **asdict(c)})
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    (out / "candidates.json").write_text(
        json.dumps([asdict(c) for c in candidates], indent=1) + "\n", encoding="utf-8"
    )
    return candidates


def _collapse_duplicates(candidates: list[Candidate], pixels: dict[int, np.ndarray]) -> list[int]:
    """Keep the largest file of each picture (same path-derived id or near-equal hash)."""
    order = sorted(pixels, key=lambda i: -candidates[i].width * candidates[i].height)
    kept: list[int] = []
    for i in order:
        c = candidates[i]
        for k in kept:
            other = candidates[k]
            near = bin(c.dhash ^ other.dhash).count("1") <= MAX_HASH_DISTANCE
            if c.picture == other.picture or near:
                c.verdict = f"dropped: same picture as {other.source}:{other.path}"
                break
        else:
            kept.append(i)
    return sorted(kept)


def _resized(rgb: np.ndarray) -> Image.Image:
    im = Image.fromarray(rgb)
    scale = SHORT_SIDE / min(im.size)
    if scale < 1:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    return im


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["fetch", "build", "all"])
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/dataset"))
    parser.add_argument("--out", type=Path, default=Path("/work/cache/data"))
    args = parser.parse_args(argv)
    if args.command in ("fetch", "all"):
        fetch(args.cache)
    if args.command in ("build", "all"):
        candidates = build(args.cache, args.out)
        counts: dict[str, int] = {}
        for entry in json.loads((args.out / "index.json").read_text(encoding="utf-8")):
            counts[entry["split"]] = counts.get(entry["split"], 0) + 1
        print(f"{len(candidates)} files, kept {sum(counts.values())} pictures: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
