"""tools/dataset.py: the photograph rule, picture grouping, splits and a build on fake packages."""

from __future__ import annotations

import dataclasses
import json
import shutil
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


# GitHub sources: a committed list of sha256, copies checked against it, BSDS500's evaluation
# folders left out, and the earlier sources' pictures (and so their splits) left alone.

def _git(*args, cwd):
    import os
    import subprocess

    who = {f"GIT_{role}_{key}": value for role in ("AUTHOR", "COMMITTER")
           for key, value in (("NAME", "test"), ("EMAIL", "test@example.org"))}
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, **who})


def fake_bsds500(root: Path, bare: bool = False) -> Path:
    """A git clone of BIDS/BSDS500 with one photograph in each of train, val and test: a work
    tree, or a bare repository on request."""
    tree = root / "work" / "BSDS500"
    for i, folder in enumerate(("train", "val", "test")):
        images = tree / "BSDS500/data/images" / folder
        images.mkdir(parents=True)
        Image.fromarray(photo_like(40 + i, 321, 481)).save(images / f"{100 + i}.jpg", quality=95)
    _git("init", "-q", cwd=tree)
    _git("add", ".", cwd=tree)
    _git("commit", "-q", "-m", "pictures", cwd=tree)
    if not bare:
        return tree
    _git("clone", "-q", "--bare", str(tree), str(root / "mirror" / "BSDS500.git"), cwd=root)
    return root / "mirror" / "BSDS500.git"


@pytest.mark.parametrize("bare", [False, True])
def test_github_list_leaves_out_bsds500_evaluation_folders(tmp_path, monkeypatch, bare):
    import github_photos

    clone = fake_bsds500(tmp_path, bare)
    monkeypatch.setattr(github_photos, "SOURCES", {"bsds500": github_photos.SOURCES["bsds500"]})
    listed = github_photos.make_list(clone.parent)
    assert list(listed["bsds500"]["files"]) == ["BSDS500/data/images/train/100.jpg"]
    counts = github_photos.fetch(clone.parent, tmp_path / "cache", listed)
    assert counts == {"bsds500": 1}
    copied = [p.relative_to(tmp_path / "cache/github/bsds500").as_posix()
              for p in (tmp_path / "cache/github").rglob("*.jpg")]
    assert copied == ["BSDS500/data/images/train/100.jpg"]


def test_a_source_with_a_share_lists_the_files_with_the_smallest_path_hash(tmp_path,
                                                                          monkeypatch):
    import github_photos

    clone = fake_bsds500(tmp_path)
    train = clone / "BSDS500/data/images/train"
    for i in range(1, 6):
        Image.fromarray(photo_like(60 + i, 64, 64)).save(train / f"{100 + i}.jpg", quality=95)
    _git("add", ".", cwd=clone)
    _git("commit", "-q", "-m", "more", cwd=clone)
    spec = dataclasses.replace(github_photos.SOURCES["bsds500"], share=2)
    monkeypatch.setattr(github_photos, "SOURCES", {"bsds500": spec})
    names = [f"BSDS500/data/images/train/{100 + i}.jpg" for i in range(6)]
    wanted = sorted(sorted(names, key=lambda n: github_photos.sha256_of(n.encode()))[:2])
    assert list(github_photos.make_list(clone.parent)["bsds500"]["files"]) == wanted


def test_the_committed_clothing_share_follows_its_rule():
    import github_photos

    listed = list(github_photos.load_list()["clothing-dataset"]["files"])
    assert len(listed) == github_photos.SOURCES["clothing-dataset"].share == 1500
    assert all(rel.startswith("images/") and rel.endswith(".jpg") for rel in listed)
    # The 1,500 smallest path hashes of 5,756 files: the largest of them is near 1500 / 5756
    # of the range (a pick by anything else would spread over all of it).
    top = max(int(github_photos.sha256_of(rel.encode()), 16) for rel in listed)
    assert top < 2 ** 256 * 1500 / 5756 * 1.2
    assert not github_photos.SOURCES["clothing-dataset"].research_only


def test_a_list_naming_an_evaluation_folder_is_refused(tmp_path):
    import github_photos

    listed = {"bsds500": {"commit": "0" * 40,
                          "files": {"BSDS500/data/images/test/100.jpg": "0" * 64}}}
    (tmp_path / "list.json").write_text(json.dumps(listed))
    with pytest.raises(github_photos.SourceError, match="must stay unseen"):
        github_photos.load_list(tmp_path / "list.json")
    assert all(rel.startswith("BSDS500/data/images/train/")
               for rel in github_photos.load_list()["bsds500"]["files"])


def test_a_file_whose_sha256_differs_is_refused(tmp_path):
    import github_photos

    clone = fake_bsds500(tmp_path)
    rel = "BSDS500/data/images/train/100.jpg"
    good = github_photos.sha256_of((clone / rel).read_bytes())
    listed = {"bsds500": {"commit": "HEAD", "files": {rel: good}}}
    assert github_photos.fetch(clone.parent, tmp_path / "cache", listed) == {"bsds500": 1}
    (clone / rel).write_bytes((clone / rel).read_bytes() + b"changed")
    with pytest.raises(github_photos.SourceError, match="sha256 differs"):
        github_photos.fetch(clone.parent, tmp_path / "other", listed)
    assert not (tmp_path / "other" / "github" / "bsds500" / rel).exists()
    # A cached copy changed after the fetch is refused by the build too.
    cached = tmp_path / "cache" / "github" / "bsds500" / rel
    cached.write_bytes(b"not the listed file")
    with pytest.raises(github_photos.SourceError, match="differs from the committed list"):
        github_photos.verified_files(tmp_path / "cache", listed)


def test_fetch_github_without_a_clone_says_how_to_get_one(tmp_path, capsys):
    assert dataset.main(["fetch-github", "--github-mirror", str(tmp_path),
                         "--cache", str(tmp_path / "cache")]) == 1
    message = capsys.readouterr().err
    assert "git clone https://github.com/" in message and "Traceback" not in message


def test_github_pictures_are_reviewed_and_never_take_an_earlier_picture(tmp_path, monkeypatch):
    import github_photos

    debian = tmp_path / "extract" / "fake-backgrounds" / "usr/share/backgrounds"
    debian.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(photo_like(60 + i, 300, 400)).save(debian / f"photo{i}.png")
    monkeypatch.setattr(dataset, "PACKAGES", {"fake-backgrounds": ("usr/share/backgrounds",)})
    monkeypatch.setattr(dataset, "SKIMAGE_PHOTOS", ())
    monkeypatch.setattr(dataset, "OPENCV_HTML_PHOTOS", ())
    monkeypatch.setattr(github_photos, "LIST_FILE", tmp_path / "list.json")
    (tmp_path / "list.json").write_text("{}")
    dataset.build(tmp_path, tmp_path / "v1")
    before = {e["path"]: e["split"] for e in
              json.loads((tmp_path / "v1" / "index.json").read_text())}

    repo = tmp_path / "mirror" / "imagenet-sample-images"  # a work tree, as `git clone` makes
    repo.mkdir(parents=True)
    Image.fromarray(photo_like(70, 375, 500)).save(repo / "n1_colour.JPEG", quality=95)
    grey = cv2.cvtColor(photo_like(71, 375, 500), cv2.COLOR_RGB2GRAY)
    Image.fromarray(grey).save(repo / "n2_grey.JPEG", quality=95)  # one-channel, as ImageNet's
    # A larger copy of a Debian picture: the Debian file (and so its split) must stay.
    big = cv2.resize(photo_like(60, 300, 400), (800, 600), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(big).save(repo / "n3_copy.JPEG", quality=95)
    files = {p.name: github_photos.sha256_of(p.read_bytes()) for p in repo.iterdir()}
    listed = {"imagenet-sample-images": {"commit": "HEAD", "files": files}}
    (tmp_path / "list.json").write_text(json.dumps(listed))
    assert github_photos.fetch(tmp_path / "mirror", tmp_path, listed) == {
        "imagenet-sample-images": 3}

    candidates = dataset.build(tmp_path, tmp_path / "v2")
    verdicts = {c.path: c.verdict for c in candidates}
    assert verdicts["n1_colour.JPEG"] == "photo"
    assert "nearly grey" in verdicts["n2_grey.JPEG"]
    assert verdicts["n3_copy.JPEG"] == ("dropped: same picture as fake-backgrounds:"
                                        "usr/share/backgrounds/photo0.png")
    after = {e["path"]: e["split"] for e in
             json.loads((tmp_path / "v2" / "index.json").read_text())}
    assert {p: after[p] for p in before} == before
    assert after["n1_colour.JPEG"] == dataset.split_of("imagenet-sample-images/n1_colour")
    licence, _ = dataset.licence_of(tmp_path, {"source": "imagenet-sample-images",
                                               "path": "n1_colour.JPEG"})
    assert "research only" in licence


def test_a_github_picture_never_takes_a_later_debian_sources_picture():
    debian = dataset.Candidate("gcompris-qt-data", "a.webp", 600, 400, picture="gc/a", dhash=9)
    github = dataset.Candidate("imagenet-sample-images", "a.JPEG", 1200, 800, picture="in/a",
                               dhash=9)
    assert dataset._collapse_duplicates([github, debian], {0: None, 1: None}) == [1]
    assert github.verdict == "dropped: same picture as gcompris-qt-data:a.webp"


def test_one_photographers_pictures_share_a_split(tmp_path, monkeypatch):
    import github_photos

    repo = tmp_path / "mirror" / "clothing-dataset"
    (repo / "images").mkdir(parents=True)
    senders = {f"shirt{i}": str(i % 2) for i in range(8)}
    for i, name in enumerate(senders):
        Image.fromarray(photo_like(80 + i, 400, 300)).save(repo / "images" / f"{name}.jpg",
                                                           quality=95)
    (repo / "images.csv").write_text("image,sender_id,label\n" + "".join(
        f"{name},{sender},T-Shirt\n" for name, sender in senders.items()))
    _git("init", "-q", cwd=repo)
    _git("add", ".", cwd=repo)
    _git("commit", "-q", "-m", "pictures", cwd=repo)
    spec = dataclasses.replace(github_photos.SOURCES["clothing-dataset"], share=0)
    monkeypatch.setattr(github_photos, "SOURCES", {"clothing-dataset": spec})
    monkeypatch.setattr(github_photos, "LIST_FILE", tmp_path / "list.json")
    for name in ("PACKAGES", "SUITE_PACKAGES"):
        monkeypatch.setattr(dataset, name, {})
    monkeypatch.setattr(dataset, "SKIMAGE_PHOTOS", ())
    monkeypatch.setattr(dataset, "OPENCV_HTML_PHOTOS", ())
    listed = github_photos.make_list(tmp_path / "mirror")
    assert listed["clothing-dataset"]["groups"] == {
        f"images/{name}.jpg": sender for name, sender in senders.items()}
    (tmp_path / "list.json").write_text(json.dumps(listed))
    github_photos.fetch(tmp_path / "mirror", tmp_path, listed)

    dataset.build(tmp_path, tmp_path / "out")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert len(index) == len(senders)
    by_sender: dict[str, set] = {}
    by_picture: dict[str, set] = {}
    for entry in index:
        sender = senders[Path(entry["path"]).stem]
        by_sender.setdefault(sender, set()).add(entry["split"])
        by_picture.setdefault(sender, set()).add(dataset.split_of(entry["picture"]))
    assert all(len(splits) == 1 for splits in by_sender.values())
    assert any(len(splits) > 1 for splits in by_picture.values())  # their own ids would differ


def test_a_later_github_source_never_takes_an_earlier_ones_picture():
    earlier = dataset.Candidate("clothing-dataset", "images/a.jpg", 400, 533, picture="cl/a",
                                dhash=5)
    later = dataset.Candidate("metadata-extractor-images", "jpg/a.jpg", 4000, 3000,
                              picture="mx/a", dhash=5)
    assert dataset._collapse_duplicates([later, earlier], {0: None, 1: None}) == [1]
    assert later.verdict == "dropped: same picture as clothing-dataset:images/a.jpg"


def test_sideways_camera_pictures_are_read_upright(tmp_path):
    pixels = photo_like(9, 300, 400)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", quality=95, exif=exif)
    loaded = dataset.load_rgb(tmp_path / "phone.jpg")
    assert loaded.shape == (400, 300, 3)
    # The stored picture's left column is the upright picture's top row.
    stored = dataset.load_rgb(tmp_path / "phone.jpg")
    assert np.abs(stored[0].astype(int) - pixels[::-1, 0].astype(int)).mean() < 8


def test_folders_with_a_wildcard_take_each_subfolder_and_no_deeper():
    import github_photos

    folders = ("dataset/*",)
    assert github_photos.in_folders("dataset/dog/00.jpg", folders)
    assert not github_photos.in_folders("dataset/00.jpg", folders)
    assert not github_photos.in_folders("dataset/dog/old/00.jpg", folders)
    assert not github_photos.in_folders("docs/teaser.jpg", folders)
    assert github_photos.in_folders("jpg/Canon EOS 5D.jpg", ("jpg",))


def test_one_subjects_pictures_share_a_split(tmp_path, monkeypatch):
    import github_photos

    repo = tmp_path / "mirror" / "dreambooth"
    subjects = [f"subject{i}" for i in range(6)]
    for i, subject in enumerate(subjects):
        (repo / "dataset" / subject).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(photo_like(100 + 3 * i + k, 320, 320)).save(
                repo / "dataset" / subject / f"0{k}.jpg", quality=95)
    Image.fromarray(photo_like(99, 320, 320)).save(repo / "dataset" / "teaser.jpg")
    _git("init", "-q", cwd=repo)
    _git("add", ".", cwd=repo)
    _git("commit", "-q", "-m", "pictures", cwd=repo)
    monkeypatch.setattr(github_photos, "SOURCES",
                        {"dreambooth": github_photos.SOURCES["dreambooth"]})
    for name in ("PACKAGES", "SUITE_PACKAGES"):
        monkeypatch.setattr(dataset, name, {})
    monkeypatch.setattr(dataset, "SKIMAGE_PHOTOS", ())
    monkeypatch.setattr(dataset, "OPENCV_HTML_PHOTOS", ())
    listed = github_photos.make_list(tmp_path / "mirror")
    assert sorted(listed["dreambooth"]["files"]) == [
        f"dataset/{s}/0{k}.jpg" for s in subjects for k in range(3)]
    assert set(listed["dreambooth"]["groups"].values()) == {f"dataset/{s}" for s in subjects}
    monkeypatch.setattr(github_photos, "LIST_FILE", tmp_path / "list.json")
    (tmp_path / "list.json").write_text(json.dumps(listed))
    github_photos.fetch(tmp_path / "mirror", tmp_path, listed)

    dataset.build(tmp_path, tmp_path / "out")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert len(index) >= 2 * len(subjects)  # a synthetic picture may fail the photo rule
    by_subject: dict[str, set] = {}
    for entry in index:
        by_subject.setdefault(entry["path"].split("/")[1], set()).add(entry["split"])
    assert all(len(splits) == 1 for splits in by_subject.values())
    assert {split for splits in by_subject.values() for split in splits} \
        == {dataset.split_of(f"dreambooth/folder/dataset/{s}") for s in subjects}


def test_pack_shrinks_train_and_validation_into_parts_that_join_into_a_set(tmp_path):
    out = tmp_path / "data"
    index = []
    for i, split in enumerate(["train"] * 5 + ["val", "test"]):
        (out / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo_like(200 + i, 384, 512)).save(out / split / f"{i}.jpg", quality=95)
        index.append({"file": f"{split}/{i}.jpg", "split": split, "source": "s"})
    (out / "index.json").write_text(json.dumps(index))
    target = tmp_path / "packed"
    sizes = dataset.pack(out, target, side=96, quality=85, part_mib=12_000 / 2**20)
    assert len(sizes) > 1 and all(size <= 12_000 for size in sizes)
    joined = tmp_path / "joined"
    for part in sorted(target.iterdir()):
        shutil.copytree(part, joined, dirs_exist_ok=True)
    files = sorted(p.relative_to(joined).as_posix() for p in joined.rglob("*.jpg"))
    assert files == [f"train/{i}.jpg" for i in range(5)] + ["val/5.jpg"]  # no test picture
    with Image.open(joined / "train/0.jpg") as im:
        assert min(im.size) == 96
    assert [e["file"] for e in json.loads((joined / "index.json").read_text())] == files
