"""Model manifests and the folders they live in.

Standard library only, and valid Python 2.7 as well as 3: the GIMP front ends (GIMP 2.10's
gimpfu is Python 2.7) read the model list from here without starting the engine.
"""

from __future__ import absolute_import

import io
import json
import numbers
import os
import re
import sys

try:
    TEXT = (str, unicode)  # noqa: F821 (Python 2)
except NameError:
    TEXT = (str,)

MANIFEST = "manifest.json"
ENV_MODELS = "COLORIZE_AI_MODELS"
REPO_MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "models")


def user_data_dir():
    """The per-user data folder: XDG data home, %LOCALAPPDATA%, or Application Support."""
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or os.path.join(
            os.path.expanduser("~"), "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.join(
            os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "colorize-ai")


def user_models_dir():
    return os.path.join(user_data_dir(), "models")


def model_folders():
    """Folders searched for models, first match of an id wins."""
    folders = []
    env = os.environ.get(ENV_MODELS)
    if env:
        folders.extend(p for p in env.split(os.pathsep) if p)
    folders.append(user_models_dir())
    folders.append(REPO_MODELS)
    return folders


class ManifestError(ValueError):
    pass


REQUIRED = ("id", "name", "family")
# The type each known field must have; null is allowed for the optional ones.
FIELD_TYPES = {
    "id": TEXT, "name": TEXT, "family": TEXT, "file": TEXT, "sha256": TEXT, "license": TEXT,
    "provenance": TEXT, "install": TEXT, "description": TEXT, "variant_of": TEXT,
    "variant": TEXT, "precision": TEXT, "device": TEXT, "size_bytes": numbers.Integral,
    "default": bool, "input": dict, "output": dict, "fidelity": dict, "source_urls": list,
}
NUMBER = (numbers.Integral, float)
# Types of the `input` and `output` fields the engine reads (families/base.py).
PART_TYPES = {
    "input": {"name": TEXT, "layout": TEXT, "embed_name": TEXT, "size": numbers.Integral,
              "multiple": numbers.Integral, "fixed_size": bool, "l_offset": NUMBER,
              "l_divisor": NUMBER},
    "output": {"name": TEXT, "layout": TEXT, "decoding": TEXT, "ab_scale": NUMBER},
}
# Ids name result files (photo_<id>.png): no folders, nothing hidden.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+.-]*$")


def _type_problem(fields, types, where, required=()):
    for key, kind in sorted(types.items()):
        value = fields.get(key)
        if value is None and key not in required:
            continue
        wrong = isinstance(value, bool) and kind is not bool
        if wrong or not isinstance(value, kind):
            return "its '%s' has the wrong type (%s)" % (where + key, json.dumps(value)[:40])
    return None


def entry_problem(entry):
    """Why a manifest entry cannot be used (one phrase), or None."""
    if not isinstance(entry, dict):
        return "it is not an object"
    for key in REQUIRED:
        if key not in entry:
            return "it has no '%s'" % key
    problem = _type_problem(entry, FIELD_TYPES, "", REQUIRED)
    for part in ("input", "output"):
        part_fields = entry.get(part) or {}
        problem = problem or _type_problem(part_fields, PART_TYPES[part], part + ".")
    if problem:
        return problem
    if not all(isinstance(u, TEXT) for u in entry.get("source_urls") or ()):
        return "its 'source_urls' must be texts"
    if not SAFE_ID.match(entry["id"]) or ".." in entry["id"]:
        return "its id %s is not a plain name (letters, digits, '.', '_', '+', '-')" % (
            json.dumps(entry["id"]))
    name = entry.get("file")
    if name and (os.path.isabs(name) or ".." in re.split(r"[/\\]", name)):
        return "its file %s is outside the model folder" % json.dumps(name)
    return None


def read_manifest(folder, problems=None):
    """The usable entries of folder/manifest.json, each with "folder" added; [] if there is
    none. An entry with missing or wrong-typed fields is left out, and a sentence naming it
    appended to `problems` as (its id or None, sentence); a file that is not a model list at
    all raises ManifestError."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        return []
    try:
        with io.open(path, encoding="utf-8") as f:
            data = json.load(f)
        models = data["models"]
        if not isinstance(models, list):
            raise TypeError("'models' is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError("The model list %s is damaged (%s); reinstall the models or remove "
                            "the file." % (path, exc))
    entries = []
    for number, entry in enumerate(models, 1):
        problem = entry_problem(entry)
        if problem is None:
            entries.append(dict(entry, folder=os.path.abspath(folder)))
            continue
        model_id = entry.get("id") if isinstance(entry, dict) else None
        model_id = model_id if isinstance(model_id, TEXT) else None
        label = "'%s'" % model_id if model_id else "number %d" % number
        if problems is not None:
            problems.append((model_id, "Model %s in %s cannot be used: %s; fix or reinstall "
                                       "it." % (label, path, problem)))
    return entries


def is_installed(entry):
    return bool(entry.get("file") and entry.get("sha256")) and os.path.isfile(
        os.path.join(entry["folder"], entry["file"]))


def is_variant(entry):
    """A faster copy of another model (int8, fp16): chosen through the variant option, never
    listed as a model of its own."""
    return bool(entry.get("variant_of"))


def list_entries(folders=None, variants=False, problems=None):
    """All known models, one entry per id: the first installed one, else the first listed.
    Variants of models are left out unless `variants` is set. Unusable entries: see
    read_manifest."""
    chosen = {}
    order = []
    for folder in model_folders() if folders is None else folders:
        for entry in read_manifest(folder, problems):
            if is_variant(entry) and not variants:
                continue
            known = chosen.get(entry["id"])
            if known is None:
                order.append(entry["id"])
                chosen[entry["id"]] = entry
            elif not is_installed(known) and is_installed(entry):
                chosen[entry["id"]] = entry
    return [chosen[i] for i in order]


def default_entry(entries):
    """The installed entry marked default, else the first installed one, else None."""
    installed = [e for e in entries if is_installed(e) and not is_variant(e)]
    for entry in installed:
        if entry.get("default"):
            return entry
    return installed[0] if installed else None
