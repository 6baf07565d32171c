"""What every converter shares: ONNX metadata, saving, hashing and the manifest entry."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolbox import sha256_file

CONVERTER_VERSION = "1"
MANIFEST_FORMAT = 1


class ConversionError(Exception):
    """A source model that cannot be converted; the message says which layer or file and why."""


@dataclass(frozen=True)
class SourceFile:
    """A published file that `fetch` downloads. Without a published size and sha256 (size 0,
    sha256 ""), the server's size must lie in [min_size, max_size] and the file must pass its
    converter's structural check instead."""

    name: str
    url: str
    size: int
    sha256: str
    mirrors: tuple[str, ...] = ()  # tried in order when `url` answers 404
    min_size: int = 0
    max_size: int = 0


def source_metadata(family: str, files: list[Path]) -> dict[str, Any]:
    """The metadata every converted file starts with: its family, sources and converter."""
    return {"family": family, "source_files": [f.name for f in files],
            "source_sha256": [sha256_file(f) for f in files],
            "converter_version": CONVERTER_VERSION}


def get_metadata(model: Any, key: str, default: Any = None) -> Any:
    """One metadata value as set_metadata stored it (JSON decoded unless a plain string)."""
    for prop in model.metadata_props:
        if prop.key == key:
            try:
                return json.loads(prop.value)
            except ValueError:
                return prop.value
    return default


def put_metadata(model: Any, key: str, value: Any) -> None:
    """Set one metadata value (None removes it), keeping the others."""
    for prop in list(model.metadata_props):
        if prop.key == key:
            model.metadata_props.remove(prop)
    if value is not None:
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value)


def set_metadata(model: Any, props: dict[str, Any]) -> None:
    """Replace the model's metadata_props with `props` (values stored as strings)."""
    del model.metadata_props[:]
    for key, value in sorted(props.items()):
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value)


def save_model(model: Any, out_dir: str | os.PathLike, entry: dict[str, Any]) -> Path:
    """Check and save `model` as out_dir/entry["file"] and add `entry` to out_dir/manifest.json.

    `entry` is a manifest entry without sha256/size_bytes; they are filled in here. Files are
    written to a temporary name first, so a failed conversion leaves nothing half-written.
    """
    import onnx

    onnx.checker.check_model(model, full_check=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / entry["file"]
    fd, tmp = tempfile.mkstemp(dir=out, suffix=".onnx.part")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.chmod(tmp, 0o644)  # mkstemp made it private; a model file is for everyone to read
        entry = {**entry, "sha256": sha256_file(tmp), "size_bytes": os.path.getsize(tmp)}
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    update_manifest(out / "manifest.json", entry)
    return target


def write_converted(model: Any, out_dir: str | os.PathLike, entry: dict[str, Any]) -> int:
    """save_model for a converter's command line: a write error is a ConversionError, and
    the result is one line on stdout. Returns the exit status, 0."""
    try:
        target = save_model(model, out_dir, entry)
    except OSError as exc:
        raise ConversionError(f"cannot write into {out_dir}: {exc}") from None
    print(f"wrote {target} and its entry '{entry['id']}' in {Path(out_dir) / 'manifest.json'}")
    return 0


def update_manifest(manifest_path: Path, entry: dict[str, Any]) -> None:
    """Replace the entry with the same id where it stands (the dialog lists models in the
    manifest's order), or append it; atomically."""
    if manifest_path.exists():
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    else:
        data = {"format": MANIFEST_FORMAT, "models": []}
    ids = [m.get("id") for m in data["models"]]
    if entry["id"] in ids:
        data["models"][ids.index(entry["id"])] = entry
    else:
        data["models"].append(entry)
    tmp = manifest_path.with_suffix(".json.part")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, manifest_path)
