"""tools/dataset.py: the photograph rule, picture grouping, splits and a build on fake packages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import dataset  # noqa: E402


def photo_like(seed: int, h: int = 480, w: int = 640) -> np.ndarray:
    """Smooth colour gradients plus fine texture: what the rule should call a photograph."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 6, 3)
    base = np.stack([np.sin(xx / (60 + 30 * i) + phase[i]) * np.cos(yy / (80 + 20 * i))
                     for i in range(3)], -1)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 1.2)
    img = 128 + 80 * base + 40 * texture
    return np.clip(img, 0, 255).astype(np.uint8)


def flat_graphic(h: int = 480, w: int = 640) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (200, 30, 40)
    img[h // 2 :, w // 2 :] = (20, 90, 220)
    return img


def test_colourfulness_is_zero_for_grey_and_grows_with_colour():
    grey = np.full((32, 32, 3), 120, np.uint8)
    assert dataset.colourfulness(grey) == 0.0
    assert dataset.colourfulness(flat_graphic(64, 64)) > 50


def test_photo_rule_keeps_photographs_and_names_why_others_go():
    assert dataset.photo_verdict(dataset.image_stats(photo_like(1))) == "photo"
    assert "few colours" in dataset.photo_verdict(dataset.image_stats(flat_graphic()))
    grey = np.repeat(photo_like(2)[..., :1], 3, axis=2)
    assert "nearly grey" in dataset.photo_verdict(dataset.image_stats(grey))
    smooth = cv2.GaussianBlur(photo_like(3), (0, 0), 8)
    assert dataset.photo_verdict(dataset.image_stats(smooth)).startswith("dropped")


def test_difference_hash_matches_resolutions_and_separates_pictures():
    big = photo_like(4)
    small = cv2.resize(big, (320, 240), interpolation=cv2.INTER_AREA)
    other = photo_like(5)

    def distance(a, b):
        return bin(dataset.difference_hash(a) ^ dataset.difference_hash(b)).count("1")

    assert distance(big, small) <= dataset.MAX_HASH_DISTANCE
    assert distance(big, other) > dataset.MAX_HASH_DISTANCE


def test_split_is_deterministic_and_follows_the_shares():
    ids = [f"pkg/picture-{i}" for i in range(3000)]
    splits = [dataset.split_of(i) for i in ids]
    assert splits == [dataset.split_of(i) for i in ids]
    for name, share in dataset.SPLITS:
        assert abs(splits.count(name) / len(ids) - share / 100) < 0.03


def test_plasma_resolutions_are_one_picture_and_opencv_stereo_pairs_too():
    a = dataset.picture_id("plasma-workspace-wallpapers",
                           "usr/share/wallpapers/Path/contents/images/1920x1080.jpg")
    b = dataset.picture_id("plasma-workspace-wallpapers",
                           "usr/share/wallpapers/Path/contents/images/5120x2880.jpg")
    assert a == b
    left = dataset.picture_id("opencv-doc", "usr/share/doc/opencv-doc/examples/data/aloeL.jpg")
    right = dataset.picture_id("opencv-doc", "usr/share/doc/opencv-doc/examples/data/aloeR.jpg")
    assert left == right


def test_reviewed_lists_match_every_size_of_a_file():
    key = dataset._review_key("mate-backgrounds",
                              "usr/share/backgrounds/mate/abstract/Elephants_3840x2160.jpg")
    assert dataset.photo_verdict({}, key) == "dropped: not a photograph (reviewed)"


def test_build_on_fake_packages(tmp_path, monkeypatch):
    root = tmp_path / "extract" / "fake-backgrounds" / "usr/share/backgrounds"
    root.mkdir(parents=True)
    pictures = {f"photo{i}": photo_like(10 + i, 600, 800) for i in range(6)}
    for name, rgb in pictures.items():
        Image.fromarray(rgb).save(root / f"{name}.png")
    # The same picture again, smaller and as JPEG: must collapse into the big one.
    Image.fromarray(cv2.resize(pictures["photo0"], (400, 300))).save(root / "copy.jpg", quality=95)
    Image.fromarray(flat_graphic()).save(root / "flat.png")
    Image.fromarray(photo_like(30, 100, 120)).save(root / "thumb.png")
    monkeypatch.setattr(dataset, "PACKAGES", {"fake-backgrounds": ("usr/share/backgrounds",)})
    monkeypatch.setattr(dataset, "SKIMAGE_PHOTOS", ())
    monkeypatch.setattr(dataset, "OPENCV_HTML_PHOTOS", ())

    out = tmp_path / "data"
    candidates = dataset.build(tmp_path, out)
    verdicts = {Path(c.path).name: c.verdict for c in candidates}
    assert "few colours" in verdicts["flat.png"]
    assert "short side" in verdicts["thumb.png"]
    assert verdicts["copy.jpg"].startswith("dropped: same picture as")
    index = json.loads((out / "index.json").read_text())
    assert sorted(Path(e["path"]).name for e in index) == sorted(f"{n}.png" for n in pictures)
    for entry in index:
        assert entry["split"] == dataset.split_of(entry["picture"])
        with Image.open(out / entry["file"]) as im:
            assert min(im.size) == dataset.SHORT_SIDE


@pytest.mark.parametrize("alpha", [0, 255])
def test_transparent_files_are_refused(tmp_path, alpha):
    rgba = np.dstack([photo_like(7, 300, 300), np.full((300, 300), 255, np.uint8)])
    rgba[:10, :10, 3] = alpha
    Image.fromarray(rgba).save(tmp_path / "x.png")
    loaded = dataset.load_rgb(tmp_path / "x.png")
    assert (loaded is None) == (alpha == 0)


def test_debian_copyright_stanzas_and_report(tmp_path):
    doc = tmp_path / "copyright"
    doc.write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2010 Team\nLicense: GPL-2+\n\n"
        "Files: nature/Aqua.jpg\n nature/Wood.jpg\nCopyright: 2008, Someone\nLicense: CC0-1.0\n\n"
        "Files: debian/*\nCopyright: 2020 Packager\nLicense: Expat\n")
    stanzas = dataset.debian_licences(doc)
    assert stanzas[1] == (["nature/Aqua.jpg", "nature/Wood.jpg"], "2008, Someone", "CC0-1.0")
    pkg = tmp_path / "extract" / "pkg" / "usr/share/doc/pkg"
    pkg.mkdir(parents=True)
    (pkg / "copyright").write_text(doc.read_text())
    wood = {"source": "pkg", "path": "usr/share/backgrounds/nature/Wood.jpg"}
    other = {"source": "pkg", "path": "usr/share/backgrounds/nature/Other.jpg"}
    assert dataset.licence_of(tmp_path, wood) == ("CC0-1.0", "2008, Someone")
    assert dataset.licence_of(tmp_path, other) == ("GPL-2+", "2010 Team")


def test_other_suite_fetch_uses_a_private_apt_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("DEBIAN_MIRROR", "http://mirror.example/debian/")
    options = dataset.suite_apt_options(tmp_path / "apt" / "trixie")
    settings = dict(o.split("=", 1) for o in options[1::2])
    assert options[::2] == ["-o"] * len(settings)
    assert settings["Dir::Etc::SourceList"] == str(tmp_path / "apt/trixie/sources.list")
    assert settings["Dir::Etc::SourceParts"] == "/dev/null"
    # Lists and the package cache must not be the system's, or bookworm's would be replaced.
    for key in ("Dir::State::Lists", "Dir::Cache"):
        assert settings[key].startswith(str(tmp_path / "apt/trixie"))
    line = dataset.suite_sources_line("trixie")
    assert line.split()[-3:] == ["http://mirror.example/debian", "trixie", "main"]
    assert line.startswith("deb [signed-by=")
    assert dataset.package_of("plasma-workspace-wallpapers@trixie") == "plasma-workspace-wallpapers"
    assert dataset.picture_id("gnome-backgrounds@trixie", "usr/share/backgrounds/gnome/x.jpg") \
        == dataset.picture_id("gnome-backgrounds", "usr/share/backgrounds/gnome/x.jpg")


def _rcc(files: dict[str, bytes]) -> bytes:
    """A version-1 Qt resource file holding `files` in one folder "res" (zlib-compressed)."""
    import struct
    import zlib

    names = b"".join(struct.pack(">HI", len(n), 0) + n.encode("utf-16-be")
                     for n in ["res", *files])
    name_offsets = [0]
    for n in ["res", *files][:-1]:
        name_offsets.append(name_offsets[-1] + 6 + 2 * len(n))
    data = b""
    leaves = b""
    for i, raw in enumerate(files.values()):
        packed = struct.pack(">I", len(raw)) + zlib.compress(raw)
        leaves += struct.pack(">IHHHI", name_offsets[i + 1], 1, 0, 0, len(data))
        data += struct.pack(">I", len(packed)) + packed
    tree = (struct.pack(">IHII", 0, 2, 1, 1) + struct.pack(">IHII", name_offsets[0], 2,
                                                           len(files), 2) + leaves)
    tree_at = 20
    data_at = tree_at + len(tree)
    names_at = data_at + len(data)
    return b"qres" + struct.pack(">4I", 1, tree_at, data_at, names_at) + tree + data + names


def test_qt_resource_files_are_unpacked(tmp_path):
    blob = _rcc({"a.webp": b"first picture", "b.qml": b"Item {}"})
    assert dataset.rcc_entries(blob) == {"res/a.webp": b"first picture", "res/b.qml": b"Item {}"}
    (tmp_path / "x.rcc").write_bytes(blob)
    dataset.unpack_rcc(tmp_path / "x.rcc", tmp_path / "x.rcc-files")
    assert [p.name for p in (tmp_path / "x.rcc-files").rglob("*") if p.is_file()] == ["a.webp"]
    with pytest.raises(ValueError):
        dataset.rcc_entries(b"not a resource file")


def test_copyright_patterns_match_folders_and_converted_pictures():
    rel = ("usr/share/gcompris-qt/rcc/erase.rcc-files/gcompris/src/activities/erase/resource/"
           "cat1.webp")
    assert dataset.copyright_pattern_matches("src/activities/erase/resource/cat1.jpg", rel)
    assert dataset.copyright_pattern_matches("src/activities/erase/*", rel)
    assert not dataset.copyright_pattern_matches("src/activities/erase/resource/cat2.jpg", rel)
    assert not dataset.copyright_pattern_matches("debian/*", rel)
    assert not dataset.copyright_pattern_matches("*.png", rel)


def test_a_later_source_never_takes_an_earlier_sources_picture():
    early = dataset.Candidate("mate-backgrounds", "a.jpg", 800, 600, picture="mate/a", dhash=5)
    later = dataset.Candidate("budgie-backgrounds", "a.jpg", 4000, 3000, picture="budgie/a",
                              dhash=5)
    candidates = [later, early]
    kept = dataset._collapse_duplicates(candidates, {0: None, 1: None})
    assert kept == [1]
    assert later.verdict == "dropped: same picture as mate-backgrounds:a.jpg"


def test_gcompris_versions_share_picture_ids_and_review_entries():
    old = ("usr/share/gcompris-qt/rcc/erase.rcc-files/gcompris/src/activities/erase/resource/"
           "bee.jpg")
    new = old.replace("bee.jpg", "bee.webp")
    assert dataset.picture_id("gcompris-qt-data@bullseye", old) \
        == dataset.picture_id("gcompris-qt-data", new) == "gcompris-qt-data/erase/resource/bee"
    assert dataset._review_key("gcompris-qt-data@bullseye", old) in dataset.PHOTOS
    crop = old.replace("erase.rcc-files", "details.rcc-files").replace(
        "erase/resource/bee.jpg", "details/resource/image/Neuschwanstein_background.jpg")
    assert dataset.picture_id("gcompris-qt-data", crop) == \
        "gcompris-qt-data/explore_monuments/resource/germany/neuschwansteinCastle"
