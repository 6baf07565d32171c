"""The GIMP front ends' side of the worker protocol (docs/ARCHITECTURE.md).

Standard library only, and valid Python 2.7 as well as 3, so that GIMP's own Python (3 in
GIMP 3, 2.7 in GIMP 2.10) never loads numpy, onnxruntime or CUDA: the engine runs in the
interpreter of the environment installer.py made.
"""

from __future__ import absolute_import

import io
import json
import os
import shutil
import subprocess
import tempfile
import threading

try:  # the engine package's module
    from . import manifest
    from .options import INSTALL
except (ImportError, ValueError):  # beside a front end, which has this folder on sys.path
    import manifest
    from options import INSTALL

CONFIG = "config.json"
ALL_MODELS = "all-installed"  # the front ends' choice "All installed models"
NOT_SET_UP = ("Colorize (AI) is not set up; run `%s` in its folder, then restart GIMP."
              % INSTALL)


class WorkerError(Exception):
    """A failure with a kind (see the protocol) and one sentence for a message box."""

    def __init__(self, kind, message):
        Exception.__init__(self, message)
        self.kind = kind
        self.message = message


def read_config(plugin_dir):
    """The settings installer.py wrote next to the plug-in ({} if there are none)."""
    path = os.path.join(plugin_dir, CONFIG)
    if not os.path.isfile(path):
        return {}
    with io.open(path, encoding="utf-8") as f:
        return json.load(f)


def known_models():
    """(installed manifest entries, entries not installed). "Installed" is manifest.py's one
    rule (the file is there and the manifest has its sha256), on both sides of the process
    boundary; the engine also checks the hash and calls a mismatch damage, not absence.
    ManifestError when no manifest can be read."""
    entries = manifest.list_entries()
    installed = [e for e in entries if manifest.is_installed(e)]
    return installed, [e for e in entries if not manifest.is_installed(e)]


def model_menu():
    """The front ends' model menu: ([(id, label, help)], default id): installed models (the
    default first), "All installed models", then the models still to install with their
    install command. A damaged manifest counts as no models here (registration must not
    fail); the run then says what is wrong."""
    try:
        installed, missing = known_models()
    except manifest.ManifestError:
        installed, missing = [], []
    default = manifest.default_entry(installed)
    if default is not None:
        installed.remove(default)
        installed.insert(0, default)
    menu = [(e["id"], e["name"], e.get("description", "")) for e in installed]
    menu.append((ALL_MODELS, "All installed models (one layer each)",
                 "Compare models: one new layer per installed model"))
    menu.extend((e["id"], "%s (not installed: %s)" % (e["name"], e.get("install") or INSTALL),
                 e.get("description", "")) for e in missing)
    return menu, default["id"] if default else ALL_MODELS


def missing_models_text():
    """What the dialog says about models still to install ("" when there are none)."""
    try:
        missing = known_models()[1]
    except manifest.ManifestError:
        return ""
    if not missing:
        return ""
    return "Models not installed yet (run in the Colorize (AI) folder):\n" + "\n".join(
        "%s: %s" % (e["name"], e.get("install") or INSTALL) for e in missing)


def plan(model_id):
    """The model ids a run of `model_id` (or ALL_MODELS) needs; WorkerError when a manifest
    cannot be read, the model is unknown or not installed (naming the install command)."""
    try:
        installed, missing = known_models()
    except manifest.ManifestError as exc:
        raise WorkerError("bad-model", str(exc))
    known = set(e["id"] for e in installed + missing) | set([ALL_MODELS])
    if model_id not in known:
        raise WorkerError("model-missing", "The model '%s' is no longer known (the models "
                          "changed since GIMP started); choose another model." % model_id)
    return models_to_run(model_id, installed, missing)


def models_to_run(model_id, installed, missing):
    """The model ids a run of `model_id` (or ALL_MODELS) needs, from the installed and the
    not-installed manifest entries; WorkerError naming the install command otherwise."""
    if model_id == ALL_MODELS:
        if not installed:
            hint = missing[0].get("install") if missing else None
            raise WorkerError("model-missing", "No model is installed; install one with `%s` in "
                              "the Colorize (AI) folder, then restart GIMP." % (hint or INSTALL))
        return [e["id"] for e in installed]
    for entry in missing:
        if entry["id"] == model_id:
            raise WorkerError("model-missing", "The model %s is not installed; install it with "
                              "`%s`, then restart GIMP." % (entry["name"],
                                                            entry.get("install") or INSTALL))
    return [model_id]


class Raw(object):
    """Raw pixels for the worker: bytes of height x width x channels of dtype."""

    def __init__(self, data, width, height, channels, dtype):
        self.data, self.width, self.height = data, width, height
        self.channels, self.dtype = channels, dtype

    def request(self, path):
        return {"input": path, "width": self.width, "height": self.height,
                "channels": self.channels, "dtype": self.dtype}


def colorize_in_worker(config_dir, image, models, options, images=None, progress=None):
    """What a front end runs: the worker named in config_dir/config.json on `image` (Raw),
    for each model, with the run options (options.py names) and image options ({name: Raw});
    the responses, each with its result's pixels. WorkerError on any failure."""
    settings = read_config(config_dir)
    if not settings.get("python"):
        raise WorkerError("worker", NOT_SET_UP)
    responses = run_worker(settings["python"], image, models, options=options, images=images,
                           progress=progress, timeout=settings.get("timeout", 900))
    for response in responses:
        if not response.get("ok"):
            raise WorkerError(response.get("error", "internal"),
                              response.get("message") or "The colorization failed.")
    return responses


def layer_name(response):
    """The new layer's name: the model's, the precision when a fast copy ran, and "hints"
    when colour hints were given (the editor toggles the runs with and without to compare)."""
    parts = [response.get("model_name") or response.get("model")]
    if response.get("fast_copy"):
        parts.append(response.get("precision"))
    if response.get("hints"):
        parts.append("hints")
    return "Colorized (%s)" % ", ".join(parts)


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def run_worker(python, image, models, options=None, images=None, progress=None, timeout=900,
               package_parent=None, env=None):
    """Colorize `image` (Raw) with each model id in `models` in one worker process.

    Returns one response dict per model, in order; a successful one has the result's raw
    bytes under "pixels". Raises WorkerError when the worker cannot be started, crashes or
    times out. The request folder (private, 0700) is removed whatever happens.
    """
    folder = tempfile.mkdtemp(prefix="colorize-ai-")
    try:
        source = os.path.join(folder, "input.raw")
        _write_private(source, image.data)
        buffers = {}
        for name, raw in sorted((images or {}).items()):
            path = os.path.join(folder, "%s.raw" % name)
            _write_private(path, raw.data)
            buffers[name] = raw.request(path)
        requests = []
        for i, model in enumerate(models):
            request = image.request(source)
            request.update({"id": str(i), "model": model, "options": options or {},
                            "images": buffers,
                            "output": os.path.join(folder, "output-%d.raw" % i)})
            requests.append(request)
        responses = _exchange(python, requests, progress, timeout, package_parent, env)
        for response in responses:
            if response.get("ok"):
                with open(response["output"], "rb") as f:
                    response["pixels"] = f.read()
        return responses
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _exchange(python, requests, progress, timeout, package_parent, env):
    child_env = dict(os.environ if env is None else env)
    # GIMP's own Python settings must not leak into the engine's interpreter.
    for name in ("PYTHONHOME", "PYTHONPATH"):
        child_env.pop(name, None)
    if package_parent:
        child_env["PYTHONPATH"] = package_parent
    # No console window flashing up on Windows; a neutral working folder everywhere.
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    try:
        proc = subprocess.Popen([python, "-m", "colorize_ai.worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, env=child_env, creationflags=flags,
                                cwd=os.path.dirname(requests[0]["input"]))
    except OSError as exc:
        raise WorkerError("worker", "The colorization engine could not be started (%s: %s). "
                          "Run `%s` again." % (python, exc.strerror, INSTALL))
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    responses = []
    try:
        proc.stdin.write("".join(json.dumps(r) + "\n" for r in requests).encode("utf-8"))
        proc.stdin.close()
        for raw in iter(proc.stdout.readline, b""):
            try:
                message = json.loads(raw.decode("utf-8"))
            except ValueError:
                continue  # not protocol output
            if "progress" in message:
                if progress is not None:
                    done = int(message.get("id") or 0) + float(message["progress"])
                    progress(done / len(requests))
            else:
                responses.append(message)
        code = proc.wait()
    except (IOError, OSError):
        code = proc.wait()
    finally:
        timed_out = not timer.is_alive() and len(responses) < len(requests)
        timer.cancel()
    if len(responses) < len(requests):
        if timed_out:
            raise WorkerError("timeout", "The colorization engine took longer than %d s and "
                              "was stopped." % timeout)
        raise WorkerError("crash", "The colorization engine stopped unexpectedly (exit code "
                          "%s); its log file says why." % code)
    return responses
