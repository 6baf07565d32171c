"""The models Colorize (AI) knows: manifest entries turned into checked specs."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import manifest
from .errors import ModelCorrupt, ModelMissing, ModelUnknown
from .families import FAMILIES, Family

DEFAULT_INSTALL_HINT = "python installer.py"


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    family: str
    folder: Path
    file: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    license: str = ""
    provenance: str = ""
    source_urls: tuple[str, ...] = ()
    install: str = DEFAULT_INSTALL_HINT
    description: str = ""
    default: bool = False

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> ModelSpec:
        if entry["family"] not in FAMILIES:
            raise ModelCorrupt(
                f"Model '{entry['id']}' has an unknown family '{entry['family']}' "
                f"(known: {', '.join(sorted(FAMILIES))}).")
        return cls(
            id=entry["id"], name=entry["name"], family=entry["family"],
            folder=Path(entry["folder"]), file=entry.get("file"), sha256=entry.get("sha256"),
            size_bytes=entry.get("size_bytes"), input=dict(entry.get("input", {})),
            output=dict(entry.get("output", {})), license=entry.get("license", ""),
            provenance=entry.get("provenance", ""),
            source_urls=tuple(entry.get("source_urls", ())),
            install=entry.get("install") or DEFAULT_INSTALL_HINT,
            description=entry.get("description", ""), default=bool(entry.get("default")),
        )

    @property
    def path(self) -> Path | None:
        return self.folder / self.file if self.file else None

    @property
    def installed(self) -> bool:
        return manifest.is_installed({"file": self.file, "sha256": self.sha256,
                                      "folder": str(self.folder)})

    def make_family(self) -> Family:
        return FAMILIES[self.family](self.input, self.output)


def _entries(folders: list[str | os.PathLike] | None) -> list[dict[str, Any]]:
    paths = None if folders is None else [os.fspath(f) for f in folders]
    try:
        return manifest.list_entries(paths)
    except manifest.ManifestError as exc:
        raise ModelCorrupt(str(exc)) from None


def list_models(folders: list[str | os.PathLike] | None = None) -> list[ModelSpec]:
    """Every known model (installed or not), in manifest order."""
    return [ModelSpec.from_entry(e) for e in _entries(folders)]


def get_spec(model_id: str | None, folders: list[str | os.PathLike] | None = None) -> ModelSpec:
    """The spec for `model_id`, or the default installed model when it is None or "default"."""
    entries = _entries(folders)
    if model_id in (None, "", "default"):
        chosen = manifest.default_entry(entries)
        if chosen is None:
            raise ModelMissing(f"No model is installed; run `{DEFAULT_INSTALL_HINT}` to install "
                               "the shipped models.")
        return ModelSpec.from_entry(chosen)
    for entry in entries:
        if entry["id"] == model_id:
            return ModelSpec.from_entry(entry)
    known = ", ".join(e["id"] for e in entries) or "none"
    raise ModelUnknown(f"Unknown model '{model_id}' (known models: {known}).")


_HASHES: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def check_file(spec: ModelSpec) -> Path:
    """The model's file, present and unaltered; ModelMissing or ModelCorrupt otherwise."""
    path = spec.path
    if path is None or not spec.sha256:
        raise ModelMissing(f"Model '{spec.id}' ({spec.name}) is not installed; install it with "
                           f"`{spec.install}`.")
    if not path.is_file():
        raise ModelMissing(f"Model '{spec.id}' ({spec.name}) is missing its file {path}; "
                           f"install it with `{spec.install}`.")
    if _sha256(path) != spec.sha256.lower():
        raise ModelCorrupt(f"Model file {path} for '{spec.id}' is damaged or altered (its sha256 "
                           f"does not match the manifest); reinstall it with `{spec.install}`.")
    return path

