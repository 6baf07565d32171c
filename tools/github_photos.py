"""Photographs from public GitHub repositories: a committed list (path + sha256 per file) and the
copy of each listed file, checked against that list, from a clone the user made.

    git clone https://github.com/EliSchwartz/imagenet-sample-images DIR/imagenet-sample-images
    git clone https://github.com/BIDS/BSDS500 DIR/BSDS500
    git clone https://github.com/alexeygrigorev/clothing-dataset DIR/clothing-dataset
    git clone https://github.com/drewnoakes/metadata-extractor-images DIR/metadata-extractor-images
    git clone https://github.com/google/dreambooth DIR/dreambooth
    git clone https://github.com/ajschumacher/imagen DIR/imagen
    python3 tools/dataset.py fetch-github --github-mirror DIR --cache $WORK/cache/dataset

A clone may be a work tree or a bare repository (`git clone --bare`); a work tree's files are
read as they are, a bare one's at the listed commit. Nothing of the pictures is committed.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from toolbox import sha256_file

LIST_FILE = Path(__file__).with_name("github_photos.json")
# The cache keeps each source's verified copies under <cache>/github/<source>/.
CACHE_DIR = "github"


@dataclass(frozen=True)
class Source:
    repo: str  # owner/name on GitHub
    folders: tuple[str, ...]  # where its pictures are ("" for the top folder; "dir/*": its
    # subfolders)
    suffixes: tuple[str, ...]
    terms: str
    author: str
    research_only: bool
    # Folders never taken, whatever a list says: standard evaluation sets stay unseen.
    excluded: tuple[str, ...] = ()
    # At most this many files (0: all), those whose path has the smallest sha256: a fixed pick
    # that favours no class, photographer or date.
    share: int = 0
    # A table in the repository naming each picture's photographer: (its path, the column with
    # the picture's file name without suffix, the photographer's column). One photographer's
    # pictures share rooms, light and camera, so they all go to one split.
    groups: tuple[str, str, str] | None = None
    # Pictures in one folder show one subject (the same dog, the same boot in other places):
    # they all go to one split, as one photographer's do.
    by_folder: bool = False
    # When the source was added: 0 for the first GitHub sources, then 1, ... A later source
    # never takes the place of an earlier source's picture (a near-equal copy of it is dropped).
    added: int = 0


SOURCES: dict[str, Source] = {
    "imagenet-sample-images": Source(
        "EliSchwartz/imagenet-sample-images", ("",), (".JPEG",),
        "ImageNet terms of access: non-commercial research and educational use only",
        "Flickr and other web photographers (collected by ImageNet)", research_only=True),
    # BSDS500's val folder is BSDS300's test set, from which BSD68/CBSD68 (denoising) and
    # BSD100 (super-resolution) are drawn; its test folder is the benchmark's own test set.
    "bsds500": Source(
        "BIDS/BSDS500", ("BSDS500/data/images/train",), (".jpg",),
        "Berkeley Segmentation Data Set 500: no licence stated for the images (Corel photographs); "
        "research use, citation requested (Arbelaez et al., TPAMI 33(5), 2011)",
        "Corel Stock Photo collection, via UC Berkeley", research_only=True,
        excluded=("BSDS500/data/images/val/", "BSDS500/data/images/test/")),
    # Clothes photographed at home, on beds, floors, hangers and people: strongly coloured
    # objects (what issue #15 saw left grey) on everyday backgrounds. A narrow subject, so a
    # share is taken, which keeps clothes from outnumbering the other photographs.
    "clothing-dataset": Source(
        "alexeygrigorev/clothing-dataset", ("images",), (".jpg",),
        "CC0 1.0 Universal (the repository's LICENSE); its README: free for any purpose, "
        "including commercial",
        "contributors to the Clothing dataset (Alexey Grigorev, Tagias.com and 32 volunteers)",
        research_only=False, share=1500, groups=("images.csv", "image", "sender_id")),
    # Camera and phone pictures gathered to test a metadata reader: people, rooms, streets,
    # food, animals and landscapes from about 200 devices. Files over 4 MB are not fetched.
    "metadata-extractor-images": Source(
        "drewnoakes/metadata-extractor-images", ("jpg",), (".jpg", ".JPG"),
        "its README: \"You are free to use these media files however you wish.\"",
        "contributors to metadata-extractor's image database (gathered by Drew Noakes)",
        research_only=False, added=1),
    # DreamBooth's subjects (dogs, cats, toys, shoes, bowls), each photographed in several
    # places: the authors' own photographs and Unsplash ones (its references_and_licenses.txt).
    "dreambooth": Source(
        "google/dreambooth", ("dataset/*",), (".jpg",),
        "CC BY 4.0 (the repository's licence file); the Unsplash photographs among them also "
        "under the Unsplash License (dataset/references_and_licenses.txt names each one)",
        "Nataniel Ruiz, Yuanzhen Li and the Unsplash photographers named in "
        "dataset/references_and_licenses.txt (collected by the DreamBooth authors)",
        research_only=False, by_folder=True, added=1),
    # Five ImageNet pictures for each of the 200 object-detection classes (people, animals,
    # food, vehicles, rooms): other pictures than imagenet-sample-images' (one matches).
    "imagen": Source(
        "ajschumacher/imagen", ("imagen",), (".jpg",),
        "ImageNet terms of access: non-commercial research and educational use only (its "
        "README: \"This collection does not make or alter any copyright claims.\")",
        "Flickr and other web photographers (collected by ImageNet; sampled by Aaron "
        "Schumacher)", research_only=True, added=2),
}

# Looked at by a person on contact sheets of every verdict, as the Debian pictures were.
# Photographs with a white ground, bokeh or plain sky that fail a statistic:
PHOTOS = frozenset(
    {f"bsds500:BSDS500/data/images/train/{n}.jpg" for n in ("135069", "238011", "60079")}
    | {f"imagenet-sample-images:{n}.JPEG" for n in (
        "n01644373_tree_frog", "n01704323_triceratops", "n02006656_spoonbill",
        "n02094258_Norwich_terrier", "n02167151_ground_beetle", "n02264363_lacewing",
        "n02281787_lycaenid", "n02364673_guinea_pig", "n02669723_academic_gown",
        "n02808440_bathtub", "n02869837_bonnet", "n02910353_buckle", "n02977058_cash_machine",
        "n03255030_dumbbell", "n03544143_hourglass", "n03676483_lipstick", "n03777754_modem",
        "n03814639_neck_brace", "n03908618_pencil_box", "n03935335_piggy_bank",
        "n03944341_pinwheel", "n03970156_plunger", "n04136333_sarong", "n04162706_seat_belt",
        "n04265275_space_heater", "n04332243_strainer", "n04398044_teapot",
        "n04501370_turnstile", "n04548280_wall_clock", "n04552348_warplane",
        "n04579432_whistle", "n04584207_wig", "n07615774_ice_lolly", "n07714990_broccoli",
        "n07745940_strawberry")}
    # Session 12: sunsets, dusk, masts against the sky, a street sign, a vase on white.
    | {f"metadata-extractor-images:jpg/{n}.jpg" for n in (
        "Canon PowerShot S40 (2)", "FujiFilm FinePix A303", "FujiFilm FinePixS1Pro (1)",
        "FujiFilm FinePixS5500", "HP PhotoSmart 735", "Nokia Lumia 800", "Sony DigitalMavica")}
    | {f"dreambooth:dataset/vase/{n}.jpg" for n in ("03", "04")}
    # Session 14: a ray on sand, a polar bear, a boxer, trombonists, a kitten in a washer, a
    # strawberry on white, a fig.
    | {f"imagen:imagen/{n}.jpg" for n in (
        "n01495701_1216_ray", "n02131653_4506_bear", "n04023962_20883_punching_bag",
        "n04487394_17442_trombone", "n04554684_16469_washer", "n07745940_13408_strawberry",
        "n07753113_7675_fig")})
# Not photographs, or photographs inside drawn frames, that pass the statistics: a drawing, a
# book cover, a web page, an advertisement, a catalogue collage, framed and tilted prints.
NOT_PHOTOS = frozenset(f"imagenet-sample-images:{n}.JPEG" for n in (
    "n04179913_sewing_machine", "n07248320_book_jacket", "n06359193_web_site", "n04367480_swab",
    "n02837789_bikini", "n02100583_vizsla", "n02100877_Irish_setter", "n02129165_lion",
    "n04141076_sax", "n04326547_stone_wall")) | frozenset(
    # Thermal-camera false colour, a pen drawing on paper, a terminal and a web page shot off
    # the screen, two scanned woodblock prints.
    f"metadata-extractor-images:jpg/{n}" for n in (
        "FLIR iPhone device.jpg", "FLIR.jpg", "Canon Powershot A2500.JPG",
        "Panasonic Lumix DMC-LX7.jpg", "Pentax ist D.jpg", "Photoshop (1).jpg",
        "Photoshop (2).jpg")) | frozenset(
    # Two sepia-toned prints, a book cover, collages of two or three photographs, players cut
    # out on blue, a web shop's framed picture, a screen, a drawing, a burger pasted into a
    # painting, a packet's label.
    f"imagen:imagen/{n}.jpg" for n in (
        "n02672831_20_accordion", "n02787622_7389_banjo", "n02787622_3873_banjo",
        "n02802426_3653_basketball", "n02802426_5133_basketball", "n02883205_4699_bow_tie",
        "n02892767_3192_brassiere", "n02951585_554_can_opener", "n03642806_7962_laptop",
        "n03908714_5365_pencil_sharpener", "n07697100_9282_hamburger",
        "n07718747_8558_artichoke"))


class SourceError(ValueError):
    """A clone, list or file that cannot be used; its message is one sentence for the user."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_list(path: Path | None = None) -> dict[str, dict]:
    """The committed list: source -> {"commit": ..., "files": {path: sha256}}; a list naming a file
    in an excluded folder or of an unknown source is refused."""
    path = LIST_FILE if path is None else path
    listed = json.loads(path.read_text(encoding="utf-8"))
    for name, entry in listed.items():
        if name not in SOURCES:
            raise SourceError(f"{path} names an unknown source {name!r}.")
        for rel in entry["files"]:
            if is_excluded(name, rel):
                raise SourceError(f"{path} lists {name}:{rel}, in a folder that must stay unseen.")
    return listed


def is_excluded(source: str, rel: str) -> bool:
    return any(rel.startswith(folder) for folder in SOURCES[source].excluded)


def find_clone(mirror: Path, source: str) -> Path:
    """The clone of a source's repository under `mirror`: <name>, <name>.git, <owner>/<name> or
    <owner>+<name>/repo (the layout of a mirror of bare repositories)."""
    owner, name = SOURCES[source].repo.split("/")
    for candidate in (mirror / name, mirror / f"{name}.git", mirror / owner / name,
                      mirror / f"{owner}+{name}" / "repo"):
        if candidate.is_dir():
            return candidate
    raise SourceError(f"No clone of {SOURCES[source].repo} under {mirror}: run "
                      f"`git clone https://github.com/{SOURCES[source].repo} {mirror / name}`.")


def _is_bare(clone: Path) -> bool:
    return (clone / "HEAD").is_file() and (clone / "objects").is_dir()


def read_file(clone: Path, commit: str, rel: str) -> bytes | None:
    """A file's bytes from a work tree, or from a bare repository at `commit`; None if absent."""
    if not _is_bare(clone):
        path = clone / rel
        return path.read_bytes() if path.is_file() else None
    done = subprocess.run(["git", "--git-dir", str(clone), "show", f"{commit}:{rel}"],
                          capture_output=True)
    return done.stdout if done.returncode == 0 else None


def fetch(mirror: Path, cache: Path, listed: dict[str, dict] | None = None) -> dict[str, int]:
    """Copy every listed file whose sha256 matches into cache/github/<source>/; raise SourceError
    naming the files that are missing or differ (those are never written). Returns counts."""
    listed = load_list() if listed is None else listed
    counts: dict[str, int] = {}
    bad: list[str] = []
    for source, entry in listed.items():
        clone = find_clone(mirror, source)
        target = cache / CACHE_DIR / source
        for rel, expected in sorted(entry["files"].items()):
            data = read_file(clone, entry["commit"], rel)
            if data is None or sha256_of(data) != expected:
                bad.append(f"{source}:{rel} ({'missing' if data is None else 'sha256 differs'})")
                continue
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_bytes(data)
            counts[source] = counts.get(source, 0) + 1
    if bad:
        raise SourceError(f"{len(bad)} file(s) do not match the committed list and were refused, "
                          f"e.g. {', '.join(bad[:3])}; clone the listed commit again.")
    return counts


def verified_files(cache: Path, listed: dict[str, dict] | None = None
                   ) -> list[tuple[str, Path, str]]:
    """(source, file, path in the repository) of every listed file in the cache; a file whose
    sha256 no longer matches is refused (SourceError), one not fetched yet is left out."""
    listed = load_list() if listed is None else listed
    found = []
    for source, entry in listed.items():
        for rel, expected in sorted(entry["files"].items()):
            path = cache / CACHE_DIR / source / rel
            if not path.is_file():
                continue
            if sha256_file(path) != expected:
                raise SourceError(f"{path} differs from the committed list: "
                                  "run fetch-github again.")
            found.append((source, path, rel))
    return found


def make_list(mirror: Path, commits: dict[str, str] | None = None) -> dict[str, dict]:
    """A list of every picture file of every source in its clone's commit (HEAD unless given),
    leaving excluded folders out: how the committed list was made."""
    listed = {}
    for source, spec in SOURCES.items():
        clone = find_clone(mirror, source)
        commit = (commits or {}).get(source) or _head(clone)
        wanted = [rel for rel in _tracked(clone, commit)
                  if in_folders(rel, spec.folders) and rel.endswith(spec.suffixes)
                  and not is_excluded(source, rel)]
        if spec.share:
            wanted = sorted(sorted(wanted, key=lambda rel: sha256_of(rel.encode()))[:spec.share])
        files = {}
        for rel in wanted:
            data = read_file(clone, commit, rel)
            if data is not None:
                files[rel] = sha256_of(data)
        listed[source] = {"repo": spec.repo, "commit": commit, "files": files}
        if spec.groups:
            listed[source]["groups"] = _photographers(clone, commit, spec.groups, files)
        elif spec.by_folder:
            listed[source]["groups"] = {rel: rel.rpartition("/")[0] for rel in files}
    return listed


def in_folders(rel: str, folders: tuple[str, ...]) -> bool:
    """Whether a file lies directly in one of the folders ("dir/*": in any subfolder of dir)."""
    folder = rel.rpartition("/")[0]
    return any(fnmatch.fnmatchcase(folder, f) and folder.count("/") == f.count("/")
               for f in folders)


def _photographers(clone: Path, commit: str, table: tuple[str, str, str], files: dict
                   ) -> dict[str, str]:
    """Path -> photographer for the listed files that the source's table names."""
    path, name_column, group_column = table
    data = read_file(clone, commit, path)
    if data is None:
        raise SourceError(f"{clone} has no {path} at {commit}, which names the photographers.")
    rows = csv.DictReader(io.StringIO(data.decode("utf-8")))
    by_name = {row[name_column]: row[group_column] for row in rows}
    return {rel: by_name[Path(rel).stem] for rel in files if Path(rel).stem in by_name}


def split_keys(listed: dict[str, dict] | None = None) -> dict[tuple[str, str], str]:
    """(source, path) -> what decides the split of a picture whose photographer or subject is
    known ("<source>/<photographer column or folder>/<name>"); others split by their own id."""
    listed = load_list() if listed is None else listed
    keys = {}
    for source, entry in listed.items():
        spec = SOURCES[source]
        column = spec.groups[2] if spec.groups else "folder" if spec.by_folder else ""
        for rel, group in entry.get("groups", {}).items():
            keys[(source, rel)] = f"{source}/{column}/{group}"
    return keys


def _head(clone: Path) -> str:
    return _git(clone, "rev-parse", "HEAD").strip()


def _tracked(clone: Path, commit: str) -> list[str]:
    return _git(clone, "ls-tree", "-r", "--name-only", commit).splitlines()


def _git(clone: Path, *args: str) -> str:
    git_dir = clone if _is_bare(clone) else clone / ".git"
    if shutil.which("git") is None:
        raise SourceError("git is needed to read a clone; install it (apt-get install git).")
    done = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SourceError(f"git could not read {clone}: {done.stderr.strip()}")
    return done.stdout
