"""The models Colorize (AI) knows: manifest entries turned into checked specs."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from . import manifest
from .errors import BadRequest, ModelCorrupt, ModelMissing, ModelUnknown
from .families import FAMILIES, Family
from .options import BY_NAME, INSTALL

log = logging.getLogger(__name__)

DEFAULT_INSTALL_HINT = INSTALL
VARIANTS = BY_NAME["variant"].values  # the policies: which file runs for a model
DEFAULT_VARIANT = BY_NAME["variant"].default
# A fast variant runs by default ("auto") only when its measured colour difference from the
# exact model, over the test photos, is within these (CIEDE2000; issue #6's bar).
FIDELITY_LIMITS = {"mean_de00": 1.0, "p99_de00": 3.0}


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
    variant_of: str | None = None  # set on a faster copy (int8, fp16) of another model
    precision: str = "fp32"
    device: str | None = None  # the device a variant is made for: "cpu" or "cuda"
    fidelity: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> ModelSpec:
        """The spec of a checked manifest entry (manifest.entry_problem), field by field: a
        missing or null value takes the field's default, and lists and objects are copied."""
        if entry["family"] not in FAMILIES:
            raise ModelCorrupt(
                f"Model '{entry['id']}' has an unknown family '{entry['family']}' "
                f"(known: {', '.join(sorted(FAMILIES))}).")
        values: dict[str, Any] = {}
        for f in fields(cls):
            default = f.default_factory() if f.default_factory is not MISSING else f.default
            value = entry.get(f.name)
            if value is None or (value == "" and f.default):
                value = default  # e.g. an empty `install` names the installer
            if isinstance(default, (tuple, dict, bool)):
                value = type(default)(value)
            values[f.name] = value
        values["folder"] = Path(entry["folder"])
        return cls(**values)

    @property
    def path(self) -> Path | None:
        return self.folder / self.file if self.file else None

    @property
    def base_id(self) -> str:
        """The model's own id, also for its variants (output names stay the same)."""
        return self.variant_of or self.id

    @property
    def is_variant(self) -> bool:
        """A fast copy of another model (what the `variant` option chose), not a model."""
        return bool(self.variant_of)

    @property
    def faithful(self) -> bool:
        """Measured within FIDELITY_LIMITS of its exact model."""
        return all(isinstance(self.fidelity.get(k), (int, float)) and self.fidelity[k] <= limit
                   for k, limit in FIDELITY_LIMITS.items())

    @property
    def installed(self) -> bool:
        return manifest.is_installed({"file": self.file, "sha256": self.sha256,
                                      "folder": str(self.folder)})

    def make_family(self) -> Family:
        return FAMILIES[self.family](self.input, self.output)


def takes_hints(entry: dict[str, Any]) -> bool:
    family = FAMILIES.get(entry.get("family"))
    return bool(family and family.takes_hints)


@dataclass(frozen=True)
class Catalogue:
    """Every usable manifest entry of the folders searched (variants included), read once:
    what one load, listing or command consults, however many questions it asks."""

    entries: tuple[dict[str, Any], ...]
    problems: tuple[tuple[str | None, str], ...]  # (id or None, sentence) of entries left out

    @classmethod
    def read(cls, folders: list[str | os.PathLike] | None = None) -> Catalogue:
        """Each folder's manifest read once (None: manifest.model_folders())."""
        paths = None if folders is None else [os.fspath(f) for f in folders]
        problems: list[tuple[str | None, str]] = []
        try:
            entries = manifest.list_entries(paths, True, problems)
        except manifest.ManifestError as exc:
            raise ModelCorrupt(str(exc)) from None
        for _, sentence in problems:
            log.info("%s", sentence)
        return cls(tuple(entries), tuple(problems))

    def models(self, variants: bool = False) -> list[ModelSpec]:
        """Every known model (installed or not), in manifest order; with `variants`, their
        fast copies too."""
        return [ModelSpec.from_entry(e) for e in self.entries
                if variants or not manifest.is_variant(e)]

    def spec(self, model_id: str | None, hints: bool = False) -> ModelSpec:
        """The spec for `model_id`, or the default installed model when it is None or
        "default"; with `hints`, the default among installed models that take hints, if there
        is one."""
        entries = self.entries
        if model_id in (None, "", "default"):
            chosen = None
            if hints:
                hint_models = [e for e in entries if takes_hints(e) and manifest.is_installed(e)
                               and not manifest.is_variant(e)]
                chosen = next((e for e in hint_models if e.get("default_hints")),
                              hint_models[0] if hint_models else None)
            chosen = chosen or manifest.default_entry(entries)
            if chosen is None:
                raise ModelMissing(f"No model is installed; run `{DEFAULT_INSTALL_HINT}` to "
                                   "install the shipped models.")
            return ModelSpec.from_entry(chosen)
        for entry in entries:
            if entry["id"] == model_id:
                return ModelSpec.from_entry(entry)
        for bad_id, sentence in self.problems:
            if bad_id == model_id:
                raise ModelCorrupt(sentence)
        known = ", ".join(e["id"] for e in entries if not manifest.is_variant(e)) or "none"
        raise ModelUnknown(f"Unknown model '{model_id}' (known models: {known}).")

    def choose(self, spec: ModelSpec, policy: str, device: str) -> ModelSpec:
        """The file to run for `spec` under a variant policy: itself ("exact"), its installed
        fast copy for `device` ("cpu" or "cuda"; "fast"), or the fast copy only if it is
        faithful enough ("auto")."""
        if policy not in VARIANTS:
            raise BadRequest(f"Unknown variant '{policy}' (choose {', '.join(VARIANTS)}).")
        if spec.variant_of or policy == "exact":
            return spec  # a variant asked for by its own id runs as asked
        copies = (ModelSpec.from_entry(e) for e in self.entries if e.get("variant_of") == spec.id)
        fast = [s for s in copies if s.device == device and s.installed]
        if policy == "fast":
            if not fast:
                raise ModelMissing(
                    f"Model '{spec.id}' has no fast variant for the {device.upper()} "
                    f"installed; make one with `python3 tools/convert_models.py quantize "
                    f"{'int8' if device == 'cpu' else 'fp16'} --model {spec.id} ...` or use "
                    "the exact model.")
            return fast[0]
        return next((s for s in fast if s.faithful), spec)

    def base_of(self, spec: ModelSpec) -> ModelSpec:
        """The model itself: `spec` unless it is a variant whose model is known here."""
        if spec.variant_of:
            for entry in self.entries:
                if entry["id"] == spec.variant_of and not manifest.is_variant(entry):
                    return ModelSpec.from_entry(entry)
        return spec


def list_models(folders: list[str | os.PathLike] | None = None, variants: bool = False
                ) -> list[ModelSpec]:
    """Every known model (installed or not), in manifest order; with `variants`, their fast
    copies too."""
    return Catalogue.read(folders).models(variants)


def get_spec(model_id: str | None, folders: list[str | os.PathLike] | None = None,
             hints: bool = False) -> ModelSpec:
    """Catalogue.spec of the folders' manifests, for a single question."""
    return Catalogue.read(folders).spec(model_id, hints)


def read_checked(spec: ModelSpec) -> bytes:
    """The model file's bytes, present and unaltered (ModelMissing or ModelCorrupt otherwise).
    ONNX Runtime gets these very bytes: the file is read once, so swapping it after the check
    cannot slip an unchecked model in (hashing costs ~0.2 s per 100 MB and load)."""
    path = spec.path
    if path is None or not spec.sha256:
        raise ModelMissing(f"Model '{spec.id}' ({spec.name}) is not installed; install it with "
                           f"`{spec.install}`.")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelMissing(f"Model '{spec.id}' ({spec.name}) is missing its file {path}; "
                           f"install it with `{spec.install}`.") from None
    except OSError as exc:
        raise ModelMissing(f"Model file {path} for '{spec.id}' cannot be read "
                           f"({exc.strerror}).") from None
    if hashlib.sha256(data).hexdigest() != spec.sha256.lower():
        raise ModelCorrupt(f"Model file {path} for '{spec.id}' is damaged or altered (its sha256 "
                           f"does not match the manifest); reinstall it with `{spec.install}`.")
    return data
