"""Build the training photographs from Debian packages, scikit-image's samples and five public
GitHub repositories (see github_photos.py).

    python3 tools/dataset.py fetch --cache $WORK/cache/dataset     # apt-get download + dpkg-deb -x
    python3 tools/dataset.py fetch-github --github-mirror DIR --cache $WORK/cache/dataset
    python3 tools/dataset.py build --cache $WORK/cache/dataset --out $WORK/cache/data
    python3 tools/dataset.py report --cache $WORK/cache/dataset --out $WORK/cache/data \
        --doc docs/DATASET.md    # regenerates the tables below the marker line of the doc
    python3 tools/dataset.py pack --out $WORK/cache/data --pack gpu --side 192 --part-mib 6
        # train + val shrunk, in parts a GPU machine's call can carry (tools/checkpoints/README.md)

`build` keeps only photographs (see `photo_verdict`), collapses the resolutions of one picture into
one, splits train/val/test by a hash of the picture's id and writes each kept picture, its short
side brought down to 384 px, as JPEG q95 under out/<split>/, plus out/index.json with provenance.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

import github_photos
from apt_sources import debian_mirror
from toolbox import Progress, colourfulness

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
    "palapeli-data": ("usr/share/palapeli/collection",),
    # GCompris keeps its pictures inside Qt resource files: `fetch` unpacks them (see RCC_DIR).
    "gcompris-qt-data": ("usr/share/gcompris-qt/rcc",),
}
# Packages from another Debian suite, fetched through a private apt configuration (the system's
# sources stay bookworm): source name -> (package, suite, folders). The "@suite" sources that a
# bookworm package also has share its picture ids, so a picture in both keeps its split.
SUITE_PACKAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "plasma-workspace-wallpapers@trixie": ("plasma-workspace-wallpapers", "trixie",
                                           ("usr/share/wallpapers",)),
    "gnome-backgrounds@trixie": ("gnome-backgrounds", "trixie", ("usr/share/backgrounds",)),
    "budgie-backgrounds": ("budgie-backgrounds", "trixie", ("usr/share/backgrounds",)),
    # Debian 11's GNOME 3.38 still had photographs, and its GCompris 1.0 has more and larger
    # pictures than bookworm's 3.1 (which shrank and dropped many).
    "gnome-backgrounds@bullseye": ("gnome-backgrounds", "bullseye", ("usr/share/backgrounds",)),
    "gcompris-qt-data@bullseye": ("gcompris-qt-data", "bullseye", ("usr/share/gcompris-qt/rcc",)),
}
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# GCompris's Qt resource files are unpacked next to themselves, into <name>.rcc-files/.
RCC_DIR = "usr/share/gcompris-qt/rcc"
# Sources added after the first build: a picture they share with an earlier source stays that
# source's picture (same id, same split), even where their file is larger.
ADDED_LATER = frozenset({"palapeli-data", "gcompris-qt-data", *SUITE_PACKAGES})
# The GitHub sources came last of all: they never take a Debian or scikit-image picture.
ADDED_LAST = frozenset(github_photos.SOURCES)
# scikit-image's colour photographs (its data/README.txt gives each one's licence).
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")
# OpenCV's HTML documentation: mostly figures, so only these photographs (looked at by a person).
OPENCV_HTML = "usr/share/doc/opencv-doc/opencv4/html"
OPENCV_HTML_PHOTOS = ("227943776_1.jpg", "230501201_1.jpg", "4_barcodes.jpg",
                      "Background_Subtraction_Tutorial_frame.jpg", "astra_color.jpg",
                      "asymetricalPattern.jpg", "building.jpg", "chocclusion.jpg",
                      "pexels_double_decker_bus.jpg", "plant.jpg", "space_shuttle.jpg")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}

# Licence of what a source ships where its Debian copyright file names none per file.
SOURCE_LICENCES = {
    "plasma-workspace-wallpapers": "see metadata.json (package: GPL-2+)",
    "opencv-doc": "BSD-3-Clause / Apache-2.0 (OpenCV; sample images' own sources unstated)",
    # Debian 11's file is not machine-readable: pictures it does not name fall under its GPL-2+.
    "gnome-backgrounds@bullseye": "GPL-2+ (package)",
    "scikit-image": "BSD-3-Clause package",
}
SKIMAGE_LICENCES = {
    "astronaut.png": "public domain (NASA)",
    "chelsea.png": "CC0-1.0 (Stefan van der Walt)",
    "coffee.png": "CC0-1.0 (Rachel Michetti)",
    "rocket.jpg": "public domain (SpaceX)",
    "motorcycle_left.png": "Middlebury 2014 stereo data set; no licence stated",
}
MARKER = "<!-- generated by tools/dataset.py report: do not edit below -->"

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
    "gnome-backgrounds:usr/share/backgrounds/gnome/adwaita-d.jpg",
    "gnome-backgrounds:usr/share/backgrounds/gnome/adwaita-l.jpg",
    "budgie-backgrounds:usr/share/backgrounds/budgie/ocean-waves.jpg",  # a woodblock print
    "gnome-backgrounds:usr/share/backgrounds/gnome/Acrylic.jpg",  # a painting
}) | {
    f"plasma-workspace-wallpapers:{name}"
    for name in ("Canopee", "Cascade", "ColorfulCups", "Honeywave", "Kay", "Opal", "Patak",
                 "SafeLanding", "Shell", "ScarletTree")
} | {  # GCompris: paintings (some with cut-out holes), a fish drawing, a coloured postcard
    f"gcompris-qt-data:{name}"  # and a banknote beside its photographs
    for name in (
        "categorization/resource/images/fishes/fish16",
        "explore_monuments/resource/usa/castleClinton",
        "money/resource/n500e",
        "babyshapes/resource/image/Bosschaert_04_background",
        "babyshapes/resource/image/Paul_Gauguin_006_background",
        "babyshapes/resource/image/Pieter_Bruegel_background",
        "babyshapes/resource/image/Van_Gogh_0011_background",
        "babyshapes/resource/image/lady_unicorn_background",
        "details/resource/image/Eglise_dAuvers-sur-Oise_background",
        "details/resource/image/Gogh4_background",
        "details/resource/image/PortraitOfPereTanguy_background",
        "details/resource/image/Van_Gogh_The_Night_Cafe_background",
        "details/resource/image/VincentVanGogh0012_background",
        "details/resource/image/VincentVanGogh0013_background",
        "details/resource/image/VincentVanGogh0019_background",
        "details/resource/image/VincentVanGoghBridge_background",
    )
} | github_photos.NOT_PHOTOS
# Looked at by a person: photographs whose smooth bokeh, sky or white ground fails a statistic.
PHOTOS = frozenset({
    "mate-backgrounds:usr/share/backgrounds/mate/nature/Aqua.jpg",
    "mate-backgrounds:usr/share/backgrounds/mate/nature/TwoWings.jpg",
    "lxqt-themes:usr/share/lxqt/wallpapers/Butterfly-Kenneth-Wimer.jpg",
    "budgie-backgrounds:usr/share/backgrounds/budgie/extreme-desert-hike.jpg",
    "budgie-backgrounds:usr/share/backgrounds/budgie/high-trestle-trail.jpg",
}) | {  # GCompris: birds and insects on bokeh, objects on white, monuments against the sky
    f"gcompris-qt-data:{name}"
    for name in (
        "categorization/resource/images/fishes/fish4",
        "categorization/resource/images/fishes/fish7",
        "categorization/resource/images/fishes/fish19",
        "categorization/resource/images/monuments/christTheRedeemer",
        "categorization/resource/images/monuments/victoriaMemorial",
        "categorization/resource/images/others/erasers",
        "categorization/resource/images/others/weighingMachine",
        "categorization/resource/images/renewable/windmill6",
        "categorization/resource/images/renewable/windmill11",
        "categorization/resource/images/tools/cutingTool",
        "categorization/resource/images/tools/plier1",
        "categorization/resource/images/tools/spray",
        "clickgame/resource/sea5",
        "erase/resource/bee",
        "erase/resource/caterpillar",
        "erase/resource/dolphin",
        "erase/resource/heron",
        "erase/resource/kingfisher",
        "erase/resource/northern_harrier",
        "explore_farm_animals/resource/animals/duck",
        "explore_monuments/resource/egypt/redPyramid",
        "explore_monuments/resource/france/eiffelTower",
        "explore_monuments/resource/usa/statueofLiberty",
    )
} | github_photos.PHOTOS
# Pictures shipped twice under other names, in crops the difference hash misses (found by eye
# on a list of look-alike pairs): picture id -> the id of the same picture.
SAME_PICTURE = {
    "gcompris-qt-data/details/resource/image/Neuschwanstein_background":
        "gcompris-qt-data/explore_monuments/resource/germany/neuschwansteinCastle",
    "gcompris-qt-data/categorization/resource/images/fishes/fish21":
        "gcompris-qt-data/erase/resource/White_shark",
    "gcompris-qt-data/erase/resource/honey_bee":
        "palapeli-data/usr/share/palapeli/collection/european-honey-bee",
}
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


def suite_apt_options(state: Path) -> list[str]:
    """apt options that read only `state`/sources.list and keep lists and caches under `state`,
    so another suite's packages can be downloaded without touching the system's apt setup."""
    return ["-o", f"Dir::Etc::SourceList={state / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={state / 'lists'}",
            "-o", f"Dir::Cache={state / 'cache'}"]


def suite_sources_line(suite: str) -> str:
    """The one-line apt source of a Debian suite on the mirror bookworm uses."""
    return f"deb [signed-by={KEYRING}] {debian_mirror()} {suite} main\n"


def fetch(cache: Path) -> None:
    """Download the packages (not installed) and unpack each into cache/extract/<source>."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True)
    wanted = {name: (name, debs) for name in PACKAGES}
    for suite in sorted({s for _, s, _ in SUITE_PACKAGES.values()}):
        state = cache / "apt" / suite
        for folder in ("lists/partial", "cache/archives/partial"):
            (state / folder).mkdir(parents=True, exist_ok=True)
        (state / "sources.list").write_text(suite_sources_line(suite), encoding="utf-8")
        options = suite_apt_options(state)
        subprocess.run(["apt-get", *options, "update"], check=True)
        packages = [p for p, s, _ in SUITE_PACKAGES.values() if s == suite]
        (debs / suite).mkdir(exist_ok=True)
        subprocess.run(["apt-get", *options, "download", *packages], cwd=debs / suite, check=True)
        for source, (package, s, _) in SUITE_PACKAGES.items():
            if s == suite:
                wanted[source] = (package, debs / suite)
    for source, (package, folder) in wanted.items():
        deb = sorted(folder.glob(f"{package}_*.deb"))[-1]
        target = cache / "extract" / source
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    for source in wanted:
        if package_of(source) == "gcompris-qt-data":
            for rcc in sorted((cache / "extract" / source / RCC_DIR).glob("*.rcc")):
                unpack_rcc(rcc, rcc.with_name(rcc.name + "-files"))


def rcc_entries(blob: bytes) -> dict[str, bytes]:
    """Files in a Qt binary resource (.rcc): path -> bytes; zstd-compressed ones are skipped."""
    import struct
    import zlib

    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource file")
    version, tree, data, names = struct.unpack(">4I", blob[4:20])
    node_size = 14 if version < 2 else 22  # version 2 added a modification time per node

    def name_at(node: int) -> str:
        offset = names + struct.unpack(">I", blob[tree + node * node_size:][:4])[0]
        length = struct.unpack(">H", blob[offset : offset + 2])[0]
        return blob[offset + 6 : offset + 6 + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}
    pending = [(0, "")]
    while pending:
        node, path = pending.pop()
        base = tree + node * node_size
        flags = struct.unpack(">H", blob[base + 4 : base + 6])[0]
        if flags & 2:  # a folder: its children are consecutive nodes
            count, first = struct.unpack(">II", blob[base + 6 : base + 14])
            pending += [(c, f"{path}{name_at(c)}/") for c in range(first, first + count)]
            continue
        if flags & 4:  # zstd: Debian's GCompris resource files use zlib or nothing
            continue
        offset = data + struct.unpack(">I", blob[base + 10 : base + 14])[0]
        size = struct.unpack(">I", blob[offset : offset + 4])[0]
        raw = blob[offset + 4 : offset + 4 + size]
        files[path.rstrip("/")] = zlib.decompress(raw[4:]) if flags & 1 else raw
    return files


def unpack_rcc(rcc: Path, target: Path) -> None:
    """Write the pictures of a Qt resource file under `target`, keeping their paths."""
    shutil.rmtree(target, ignore_errors=True)
    for inner, raw in rcc_entries(rcc.read_bytes()).items():
        if Path(inner).suffix.lower() in IMAGE_SUFFIXES:
            (target / inner).parent.mkdir(parents=True, exist_ok=True)
            (target / inner).write_bytes(raw)


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


def package_of(source: str) -> str:
    """The Debian package a source comes from ("gnome-backgrounds@trixie" -> gnome-backgrounds)."""
    return SUITE_PACKAGES[source][0] if source in SUITE_PACKAGES else source


def picture_id(source: str, rel: str) -> str:
    """The picture a file shows, from its path: Plasma ships one folder per picture."""
    picture = _path_picture_id(package_of(source), rel)
    return SAME_PICTURE.get(picture, picture)


def _path_picture_id(source: str, rel: str) -> str:
    parts = rel.split("/")
    if source == "plasma-workspace-wallpapers" and "contents" in parts:
        folder = parts[parts.index("contents") - 1]
        dark = "-dark" if "images_dark" in parts else ""
        return f"{source}/{folder}{dark}"
    if source == "opencv-doc":
        stem = Path(rel).stem
        return f"{source}/{OPENCV_SAME_PICTURE.get(stem, stem)}"
    if source == "gcompris-qt-data" and "/src/activities/" in rel:
        return f"{source}/{_gcompris_name(rel)}"
    return f"{source}/{Path(rel).with_suffix('').as_posix()}"


def _review_key(source: str, rel: str) -> str:
    """"package:path", with a size suffix (Elephants_3840x2160.jpg) taken off the name."""
    source = package_of(source)
    parts = rel.split("/")
    if source == "plasma-workspace-wallpapers" and "contents" in parts:
        return f"{source}:{parts[parts.index('contents') - 1]}"
    if source == "gcompris-qt-data" and "/src/activities/" in rel:
        return f"{source}:{_gcompris_name(rel)}"
    return f"{source}:{re.sub(r'_[0-9]+x[0-9]+(?=[.][^.]+$)', '', rel)}"


def _gcompris_name(rel: str) -> str:
    """A GCompris picture's path under src/activities/ without its suffix: GCompris 1.0 ships
    it as .jpg or .png, 3.1 as .webp."""
    return Path(rel.split("/src/activities/", 1)[1]).with_suffix("").as_posix()


def find_candidates(cache: Path) -> list[tuple[str, Path, str]]:
    """(source, file, path relative to the source) for every picture file of every source."""
    found = []
    sources = {**PACKAGES, **{s: folders for s, (_, _, folders) in SUITE_PACKAGES.items()}}
    for name, folders in sources.items():
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
    found += github_photos.verified_files(cache)
    import skimage.data

    skdir = Path(skimage.data.__file__).parent
    for fname in SKIMAGE_PHOTOS:
        if (skdir / fname).exists():
            found.append(("scikit-image", skdir / fname, f"skimage/data/{fname}"))
    return found


def load_rgb(path: Path) -> np.ndarray | None:
    """8-bit RGB pixels, or None for a file that is unreadable or has transparent parts."""
    try:
        with Image.open(path) as opened:
            opened.load()
            im = _upright(opened)
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                alpha = np.asarray(im.convert("RGBA"))[..., 3]
                if alpha.min() < 255:
                    return None
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError):
        return None


def _upright(im: Image.Image) -> Image.Image:
    """The picture as the camera meant it: phones store many pictures sideways, with a tag."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # a broken tag: Pillow raises many kinds; the pixels are still good
        return im


def build(cache: Path, out: Path) -> list[Candidate]:
    """Filter, deduplicate, split and write; returns every candidate with its verdict."""
    candidates: list[Candidate] = []
    pixels: dict[int, np.ndarray] = {}
    found = find_candidates(cache)
    bar = Progress("reading pictures", len(found), sys.stderr)
    for source, path, rel in found:
        bar.step()
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
    by_photographer = github_photos.split_keys()
    for i in keep:
        c = candidates[i]
        split = split_of(by_photographer.get((c.source, c.path), c.picture))
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
    """Keep the largest file of each picture (same path-derived id or near-equal hash), files
    of earlier sources before those of ADDED_LATER ones."""
    order = sorted(pixels, key=lambda i: (_added_rank(candidates[i].source),
                                          -candidates[i].width * candidates[i].height))
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


def _added_rank(source: str) -> int:
    """0 for the first build's sources, 1 for those added after it, then 2 and up for the GitHub
    sources, in the order they were added."""
    if source in ADDED_LAST:
        return 2 + github_photos.SOURCES[source].added
    return 1 if source in ADDED_LATER else 0


def _resized(rgb: np.ndarray, side: int = SHORT_SIDE) -> Image.Image:
    im = Image.fromarray(rgb)
    scale = side / min(im.size)
    if scale < 1:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    return im


def debian_licences(copyright_file: Path) -> list[tuple[list[str], str, str]]:
    """(file patterns, copyright, licence) stanzas of a machine-readable Debian copyright file."""
    stanzas = []
    for block in copyright_file.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        fields: dict[str, list[str]] = {}
        key = ""
        for line in block.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = [value.strip()]
            elif key:
                fields[key].append(line.strip())
        if "Files" in fields and "License" in fields:
            patterns = " ".join(fields["Files"]).split()
            holder = " ".join(fields.get("Copyright", [""])).strip()
            stanzas.append((patterns, holder, fields["License"][0]))
    return stanzas


def licence_of(cache: Path, entry: dict) -> tuple[str, str]:
    """(licence, author) of a kept picture, from its package's own records."""
    source, rel = entry["source"], entry["path"]
    if source in github_photos.SOURCES:
        spec = github_photos.SOURCES[source]
        return spec.terms + (" (research only)" if spec.research_only else ""), spec.author
    if source == "scikit-image":
        return SKIMAGE_LICENCES.get(Path(rel).name, "see scikit-image data/README"), ""
    root, package = cache / "extract" / source, package_of(source)
    if package == "plasma-workspace-wallpapers":
        meta = root / "/".join(rel.split("/")[:4]) / "metadata.json"
        if meta.exists():
            plugin = json.loads(meta.read_text(encoding="utf-8"))["KPlugin"]
            authors = ", ".join(a.get("Name", "") for a in plugin.get("Authors", []))
            return plugin.get("License", SOURCE_LICENCES[package]), authors
    found = sorted(root.glob(f"usr/share/doc/{package}/copyright"))
    licence = SOURCE_LICENCES.get(source, SOURCE_LICENCES.get(package, "see the copyright file"))
    holder = ""
    if found:
        for patterns, who, lic in debian_licences(found[0]):
            if any(copyright_pattern_matches(p, rel) for p in patterns):
                licence, holder = lic, who  # the last matching stanza wins (DEP-5)
        licence, holder = image_authors(found[0]).get(Path(rel).name, (licence, holder))
    return licence, holder


def image_authors(copyright_file: Path) -> dict[str, tuple[str, str]]:
    """file name -> (licence, holder) from an older GNOME copyright file's "Image Authors" list
    (" - Road.jpg:" lines, then "Copyright ..." and "Licensed under ... License.")."""
    found: dict[str, tuple[str, str]] = {}
    names: list[str] = []
    holders: list[str] = []
    for line in copyright_file.read_text(encoding="utf-8", errors="replace").splitlines():
        text = line.strip()
        if text.startswith("- ") and names and holders:
            names, holders = [], []
        if text.startswith("- "):
            names.append(text[2:].rstrip(":").strip())
        elif text.startswith("Copyright") and names:
            holders.append(text.removeprefix("Copyright").strip(" ©"))
        elif text.startswith("Licensed under") and names:
            licence = text.removeprefix("Licensed under").strip(" .")
            found.update({name: (licence, "; ".join(holders)) for name in names})
            names, holders = [], []
    return found


def copyright_pattern_matches(pattern: str, rel: str) -> bool:
    """Whether a DEP-5 `Files:` pattern (upstream paths) covers an installed file."""
    from fnmatch import fnmatch

    if pattern == "*":
        return True
    name = Path(pattern).name
    # Upstream paths survive only inside Qt resource files (GCompris); elsewhere installed folders
    # differ from upstream ones, so only file names are compared.
    upstream_paths = ".rcc-files/" in rel
    if name == "*":
        return upstream_paths and "/" in pattern and fnmatch(rel, f"*/{pattern}")
    # GCompris 3.1 ships as .webp the pictures its copyright file names as .jpg or .png.
    return fnmatch(Path(rel).name, name) or (
        upstream_paths and not any(ch in name for ch in "*?[")
        and Path(rel).stem == Path(name).stem)


def report(cache: Path, out: Path, doc: Path) -> None:
    """Rewrite the generated part of `doc`: sources, kept pictures, dropped files."""
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    candidates = json.loads((out / "candidates.json").read_text(encoding="utf-8"))
    lines = [MARKER, "", "## Kept pictures", "",
             "| split | file | source | path in the package | licence | author / copyright |",
             "|---|---|---|---|---|---|"]
    for e in sorted(index, key=lambda e: (e["split"], e["source"], e["path"])):
        licence, holder = licence_of(cache, e)
        lines.append(f"| {e['split']} | {Path(e['file']).name} | {e['source']} | {e['path']} "
                     f"| {licence} | {holder.replace('|', '/')} |")
    counts: dict[str, int] = {}
    for e in index:
        counts[e["split"]] = counts.get(e["split"], 0) + 1
    lines += ["", f"Split counts: {counts}; {len(candidates)} files looked at.", "",
              "## Dropped files", "", "| source | path | why |", "|---|---|---|"]
    for c in sorted(candidates, key=lambda c: (c["source"], c["path"])):
        if c["verdict"] != "photo":
            lines.append(f"| {c['source']} | {c['path']} | {c['verdict']} |")
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    head = text.split(MARKER)[0].rstrip() + "\n\n" if MARKER in text or text else ""
    doc.write_text(head + "\n".join(lines) + "\n", encoding="utf-8")


def pack(out: Path, target: Path, side: int, quality: int, part_mib: float) -> list[int]:
    """The train and validation pictures of the set in `out`, shrunk to a short side of at most
    `side` px, as JPEG files in parts of at most `part_mib` MiB (target/part1, part2, ...; the
    first holds index.json): a GPU machine's call carries 64 MiB of the checkout at most, so a
    set travels part by part, and `cp -r target/part*/. DATA/` there joins them. Returns each
    part's size in bytes."""
    index = [e for e in json.loads((out / "index.json").read_text(encoding="utf-8"))
             if e["split"] in ("train", "val")]
    if target.exists():
        shutil.rmtree(target)
    sizes = [0]
    for entry in index:
        with Image.open(out / entry["file"]) as im:
            small = _resized(np.asarray(im.convert("RGB")), side)
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=quality)
        data = buffer.getvalue()
        if sizes[-1] and sizes[-1] + len(data) > part_mib * 2**20:
            sizes.append(0)
        path = target / f"part{len(sizes)}" / entry["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        sizes[-1] += len(data)
    (target / "part1" / "index.json").write_text(json.dumps(index, indent=1) + "\n",
                                                  encoding="utf-8")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command",
                        choices=["fetch", "fetch-github", "build", "all", "report", "pack"])
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/dataset"))
    parser.add_argument("--out", type=Path, default=Path("/work/cache/data"))
    parser.add_argument("--doc", type=Path, default=Path("docs/DATASET.md"))
    parser.add_argument("--github-mirror", type=Path,
                        help="folder holding a clone of each GitHub source (see github_photos.py)")
    parser.add_argument("--pack", type=Path, help="pack: where the parts go")
    parser.add_argument("--side", type=int, default=192, help="pack: short side at most, px")
    parser.add_argument("--quality", type=int, default=85, help="pack: JPEG quality")
    parser.add_argument("--part-mib", type=float, default=8.0, help="pack: MiB per part at most")
    args = parser.parse_args(argv)
    if args.command == "pack" and args.pack is None:
        parser.error("pack needs --pack DIR, where the parts go")
    try:
        return _run(args)
    except github_photos.SourceError as error:
        print(f"dataset.py: {error}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "fetch-github" and args.github_mirror is None:
        raise github_photos.SourceError("fetch-github needs --github-mirror DIR.")
    if args.command in ("fetch", "all"):
        fetch(args.cache)
    if args.command == "fetch-github" or (args.command == "all" and args.github_mirror):
        copied = github_photos.fetch(args.github_mirror, args.cache)
        print(f"verified and copied: {copied}")
    if args.command in ("build", "all"):
        candidates = build(args.cache, args.out)
        counts: dict[str, int] = {}
        by_source: dict[str, dict[str, int]] = {}
        for entry in json.loads((args.out / "index.json").read_text(encoding="utf-8")):
            counts[entry["split"]] = counts.get(entry["split"], 0) + 1
            splits = by_source.setdefault(entry["source"], {})
            splits[entry["split"]] = splits.get(entry["split"], 0) + 1
        print(f"{len(candidates)} files, kept {sum(counts.values())} pictures: {counts}")
        for source, splits in sorted(by_source.items()):
            print(f"  {source}: {splits}")
    if args.command == "report":
        report(args.cache, args.out, args.doc)
    if args.command == "pack":
        sizes = pack(args.out, args.pack, args.side, args.quality, args.part_mib)
        print(f"{len(sizes)} parts under {args.pack}: "
              + ", ".join(f"{size / 2**20:.1f} MiB" for size in sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
