"""Model manifests and the folders they live in.

Standard library only, and valid Python 2.7 as well as 3: the GIMP front ends (GIMP 2.10's
gimpfu is Python 2.7) read the model list from here without starting the engine.
"""

from __future__ import absolute_import

import io
import json
import os
import sys

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


def read_manifest(folder):
    """The entries of folder/manifest.json, each with "folder" added; [] if there is none."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        return []
    try:
        with io.open(path, encoding="utf-8") as f:
            data = json.load(f)
        models = data["models"]
        for entry in models:
            for key in ("id", "name", "family"):
                if not isinstance(entry.get(key), type(u"")):
                    raise KeyError(key)
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError("The model list %s is damaged (%s); reinstall the models or remove "
                            "the file." % (path, exc))
    return [dict(entry, folder=os.path.abspath(folder)) for entry in models]


def is_installed(entry):
    return bool(entry.get("file") and entry.get("sha256")) and os.path.isfile(
        os.path.join(entry["folder"], entry["file"]))


def is_variant(entry):
    """A faster copy of another model (int8, fp16): chosen through the variant option, never
    listed as a model of its own."""
    return bool(entry.get("variant_of"))


def list_entries(folders=None, variants=False):
    """All known models, one entry per id: the first installed one, else the first listed.
    Variants of models are left out unless `variants` is set."""
    chosen = {}
    order = []
    for folder in model_folders() if folders is None else folders:
        for entry in read_manifest(folder):
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
