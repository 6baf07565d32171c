#!/usr/bin/env python3
"""Install Colorize (AI): a private Python environment, the GIMP plug-ins and the models.

    python3 installer.py                 install or update (a second run changes nothing)
    python3 installer.py --check         say what is installed and whether it works
    python3 installer.py --model zhang   also fetch and convert a model that is not shipped
                                        (zhang, siggraph17, siggraph17-pytorch)
    python3 installer.py --uninstall     remove exactly what the installer put in place

Needs no administrator rights: everything goes into the user's own folders (on Windows, run
it as `py installer.py`).
"""

# This file stays parseable by old Pythons (no f-strings, type comments instead of
# annotations) so that running it with one prints a clear message instead of a SyntaxError.

import argparse
import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

MIN_PYTHON = (3, 9)
REPO = os.path.dirname(os.path.abspath(__file__))
PLUGIN_SRC = os.path.join(REPO, "plugin", "colorize_ai")
GIMP2_SRC = os.path.join(REPO, "plugin", "gimp2", "colorize_ai_gimp2.py")
PLUGIN3 = "colorize_ai"
PLUGIN2 = "colorize_ai_gimp2"
CONFIG = "config.json"
RECORD = "install-record.json"
STAMP = "colorize-ai-stamp.json"
FLATPAK_ID = "org.gimp.GIMP"
COMMAND = "colorize-ai"
# How a person runs this file again (Debian and Ubuntu have no `python`).
RUN = ("py" if sys.platform.startswith("win") else "python3") + " installer.py"
# Files of the plug-in folder that are not part of the plug-in.
SKIP = re.compile(r"(__pycache__|\.pyc$|^config\.json$|\.egg-info)")


class InstallError(Exception):
    """One sentence saying what went wrong and what to do."""


class NotOurs(InstallError):
    """A file is where the installer would put one, but the installer did not make it."""


def say(text):
    # type: (str) -> None
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def engine_module(name):
    """One of the engine's standard-library modules (manifest: folders and entries; logs:
    where the engine writes its logs), so that the installer and the engine agree."""
    import importlib.util

    # Loaded by path: putting plugin/colorize_ai on sys.path would shadow the package.
    spec = importlib.util.spec_from_file_location("colorize_ai_" + name,
                                                  os.path.join(PLUGIN_SRC, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def manifest_module():
    return engine_module("manifest")


def inside(path, folder):
    # type: (str, str) -> bool
    """True when path, with links resolved, is folder or lies inside it."""
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def in_checkout(path, paths):
    # type: (str, Paths) -> bool
    """True when deleting path would delete part of the Colorize (AI) folder itself. The last
    part of path is not resolved: removing a link removes the link, not what it points to."""
    where = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    return inside(where, REPO) and not inside(where, paths.data)


# ---------------------------------------------------------------- GIMP folders


class Gimp:
    """One GIMP's user plug-in folder."""

    def __init__(self, version, plug_ins, where):
        # type: (str, str, str) -> None
        self.version = version
        self.major = int(version.split(".")[0])
        self.plug_ins = plug_ins
        self.where = where

    @property
    def folder(self):
        # type: () -> str
        """The folder that holds our front end (and its config.json)."""
        return os.path.join(self.plug_ins, PLUGIN3 if self.major >= 3 else PLUGIN2)

    def label(self):
        # type: () -> str
        return "GIMP " + self.version + " (" + self.where + ")"


def profile_bases():
    # type: () -> list
    """(where, folder holding GIMP's per-version profiles) for this platform."""
    home = os.path.expanduser("~")
    if sys.platform.startswith("win"):
        appdata = os.environ.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
        return [("Windows", os.path.join(appdata, "GIMP"))]
    if sys.platform == "darwin":
        return [("macOS", os.path.join(home, "Library", "Application Support", "GIMP"))]
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return [("Linux", os.path.join(config, "GIMP")),
            ("Flatpak", os.path.join(home, ".var", "app", FLATPAK_ID, "config", "GIMP")),
            ("Snap", os.path.join(home, "snap", "gimp", "current", ".config", "GIMP"))]


def parse_gimp_dir(spec):
    # type: (str) -> Gimp
    """--gimp-dir [VERSION=]PLUG_INS_FOLDER; without VERSION it is read from the path."""
    version, _, path = spec.rpartition("=") if re.match(r"^\d+\.\d+=", spec) else ("", "", spec)
    if not version:
        found = re.findall(r"(?:^|[\\/])(2\.10|3\.\d+)(?:[\\/]|$)", path)
        version = found[-1] if found else "3.0"
    return Gimp(version, os.path.abspath(os.path.expanduser(path)), "--gimp-dir")


def find_gimps(gimp_dirs):
    # type: (list) -> list
    """The GIMP 3.x and 2.10 user plug-in folders to install into."""
    if gimp_dirs:
        return [parse_gimp_dir(spec) for spec in gimp_dirs]
    found = []
    for variable, version in (("GIMP3_DIRECTORY", "3.0"), ("GIMP2_DIRECTORY", "2.10")):
        if os.environ.get(variable):
            found.append(Gimp(version, os.path.join(os.environ[variable], "plug-ins"),
                              "$" + variable))
    for where, base in profile_bases():
        if not os.path.isdir(base):
            continue
        for name in sorted(os.listdir(base)):
            if re.match(r"^(2\.10|3\.\d+)$", name) and os.path.isdir(os.path.join(base, name)):
                found.append(Gimp(name, os.path.join(base, name, "plug-ins"), where))
    unique = {}
    for gimp in found:
        unique.setdefault(os.path.realpath(gimp.plug_ins), gimp)
    return list(unique.values())


def unstarted_gimp():
    # type: () -> str
    """The name of a GIMP program on PATH (one that has never been started leaves no folder)."""
    for name in ("gimp-3.0", "gimp-3", "gimp-2.10", "gimp", "flatpak"):
        path = shutil.which(name)
        if path and (name != "flatpak" or flatpak_has_gimp(path)):
            return name if name != "flatpak" else "Flatpak GIMP"
    return ""


def flatpak_has_gimp(flatpak):
    # type: (str) -> bool
    try:
        return subprocess.run([flatpak, "info", FLATPAK_ID], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# ---------------------------------------------------------------- the environment


class Paths:
    def __init__(self, data_dir):
        # type: (str) -> None
        self.data = data_dir
        self.venv = os.path.join(data_dir, "venv")
        self.models = os.path.join(data_dir, "models")
        self.record = os.path.join(data_dir, RECORD)
        self.log = os.path.join(data_dir, "install.log")

    @property
    def python(self):
        # type: () -> str
        if sys.platform.startswith("win"):
            return os.path.join(self.venv, "Scripts", "python.exe")
        return os.path.join(self.venv, "bin", "python")

    @property
    def cli(self):
        # type: () -> str
        if sys.platform.startswith("win"):
            return os.path.join(self.venv, "Scripts", "colorize-ai.exe")
        return os.path.join(self.venv, "bin", "colorize-ai")


def nvidia_gpu():
    # type: () -> bool
    smi = shutil.which("nvidia-smi")
    if not smi or sys.platform == "darwin":
        return False
    try:
        out = subprocess.run([smi, "-L"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and b"GPU" in out.stdout


def source_digest():
    # type: () -> str
    """Changes whenever the engine's sources or the packaging change."""
    digest = hashlib.sha256()
    names = [os.path.join(REPO, "pyproject.toml")]
    for folder, dirs, files in os.walk(PLUGIN_SRC):
        dirs[:] = sorted(d for d in dirs if not SKIP.search(d))
        names.extend(os.path.join(folder, f) for f in sorted(files) if f.endswith(".py"))
    for name in names:
        digest.update(name[len(REPO):].encode("utf-8"))
        with open(name, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def engine_env():
    # type: () -> dict
    """The environment for the private Python: this checkout's PYTHONPATH would shadow the
    installed engine; ONNX Runtime's telemetry (a device id in ~/.cache) stays off."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["ORT_DISABLE_TELEMETRY"] = "1"
    return env


def run_logged(cmd, paths, what, env=None):
    # type: (list, Paths, str, dict) -> str
    """Run cmd, appending its output to the install log; InstallError (what) on failure."""
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                              cwd=REPO)
    except OSError as exc:
        raise InstallError(what + " (" + str(exc.strerror) + ").")  # noqa: B904
    text = proc.stdout.decode("utf-8", "replace")
    with open(paths.log, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n" + text + "\n")
    if proc.returncode:
        if re.search(r"NewConnectionError|Temporary failure in name resolution|"
                     r"Network is unreachable|No matching distribution|Could not find a version",
                     text):
            raise InstallError(what + ": the packages could not be downloaded; connect to the "
                               "internet, or download the wheels elsewhere and pass --wheels DIR.")
        raise InstallError(what + "; the details are in " + paths.log + ".")
    return text


def ensure_venv(paths, device, dev, extras, wheels):
    # type: (Paths, str, bool, list, str) -> bool
    """Create or update the private environment; True when something changed."""
    gpu = device == "gpu" or (device == "auto" and nvidia_gpu())
    runtime = "gpu" if gpu else "cpu"
    wanted = {"python": sys.version.split()[0], "executable": sys.executable, "source": REPO,
              "dev": dev, "extras": sorted(set([runtime] + extras)), "digest": source_digest()}
    stamp = os.path.join(paths.venv, STAMP)
    if os.path.exists(paths.python) and read_json(stamp) == wanted:
        say("Python environment: up to date (" + paths.venv + ")")
        return False
    if not os.path.exists(paths.python):
        say("Python environment: creating " + paths.venv)
        try:
            import ensurepip  # noqa: F401
            import venv  # noqa: F401
        except ImportError:
            raise InstallError(  # noqa: B904
                "Python's venv module is missing; install it (Debian and Ubuntu: sudo apt "
                "install python3-venv) and run the installer again.")
        run_logged([sys.executable, "-m", "venv", paths.venv], paths,
                   "The private Python environment could not be created")
        write_json(stamp, {})  # ours from now on, even if pip fails below
    env = engine_env()
    pip = [paths.python, "-m", "pip", "--disable-pip-version-check"]
    if wheels:
        env["PIP_NO_INDEX"] = "1"
        env["PIP_FIND_LINKS"] = os.path.abspath(wheels)
    # Never both ONNX Runtime builds in one environment.
    other = "onnxruntime" if gpu else "onnxruntime-gpu"
    run_logged(pip + ["uninstall", "-y", "-q", other], paths, "Removing " + other + " failed", env)
    target = REPO + "[" + ",".join(wanted["extras"]) + "]"
    say("Python environment: installing the engine with ONNX Runtime for "
        + ("NVIDIA GPUs (CUDA)" if gpu else "the CPU") + " (a few minutes the first time)")
    run_logged(pip + ["install", "-q"] + (["-e", target] if dev else [target]), paths,
               "Installing the Python packages failed", env)
    write_json(stamp, wanted)
    return True


# ---------------------------------------------------------------- files and the record


def read_json(path):
    # type: (str) -> object
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_json(path, data):
    # type: (str, object) -> bool
    """Write data as JSON unless the file already holds exactly that; True if written."""
    if read_json(path) == data:
        return False
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return True


class Record:
    """What the installer created, so that --uninstall removes exactly that."""

    def __init__(self, path):
        # type: (str) -> None
        self.path = path
        data = read_json(path) or {}
        self.files = set(data.get("files", []))
        self.dirs = set(data.get("dirs", []))
        self.entries = {k: set(v) for k, v in data.get("manifest_entries", {}).items()}

    def make_dirs(self, path):
        # type: (str) -> None
        missing = []
        while path and not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        for folder in reversed(missing):
            os.mkdir(folder)
            self.dirs.add(folder)

    def save(self):
        # type: () -> None
        if not (self.files or self.dirs or self.entries):
            return
        self.make_dirs(os.path.dirname(self.path))
        write_json(self.path, {"files": sorted(self.files), "dirs": sorted(self.dirs),
                               "manifest_entries": {k: sorted(v)
                                                    for k, v in self.entries.items()}})


def same_file(src, dest, mode, link):
    # type: (str, str, int, bool) -> bool
    """True when dest already is what put_file would make of src."""
    if link:
        return os.path.islink(dest) and os.readlink(dest) == src
    if os.path.islink(dest) or not os.path.isfile(dest):
        return False
    with open(src, "rb") as a, open(dest, "rb") as b:
        return a.read() == b.read() and (os.stat(dest).st_mode & 0o777) == mode


def claim(dest, record, same):
    # type: (str, Record, bool) -> bool
    """Whether the installer may write dest: a file it did not make is never replaced (and
    never recorded, so --uninstall leaves it); NotOurs when it differs from ours."""
    if dest in record.files or not os.path.lexists(dest):
        record.make_dirs(os.path.dirname(dest))
        record.files.add(dest)  # recorded before it is written: a failure leaves no orphan
        return True
    if same:
        return False
    raise NotOurs(dest + " already exists and was not put there by the installer; move it "
                  "away and run `" + RUN + "` again.")


def put_file(src, dest, mode, link, record):
    # type: (str, str, int, bool, Record) -> bool
    """Copy (or symlink) src to dest unless it is already there; True when changed."""
    same = os.path.lexists(dest) and same_file(src, dest, mode, link)
    if not claim(dest, record, same) or same:
        return False
    if os.path.lexists(dest):
        os.remove(dest)
    if link:
        os.symlink(src, dest)
        return True
    shutil.copyfile(src, dest)
    os.chmod(dest, mode)
    return True


def plugin_files(gimp):
    # type: (Gimp) -> list
    """(source, destination, mode) of every file of the front end for this GIMP."""
    if gimp.major >= 3:
        files = []
        for folder, dirs, names in os.walk(PLUGIN_SRC):
            dirs[:] = sorted(d for d in dirs if not SKIP.search(d))
            for name in sorted(names):
                if SKIP.search(name):
                    continue
                src = os.path.join(folder, name)
                dest = os.path.join(gimp.folder, os.path.relpath(src, PLUGIN_SRC))
                files.append((src, dest, 0o755 if name == PLUGIN3 + ".py" else 0o644))
        return files
    return [(GIMP2_SRC, os.path.join(gimp.plug_ins, PLUGIN2 + ".py"), 0o755)] + [
        (os.path.join(PLUGIN_SRC, name), os.path.join(gimp.folder, name), 0o644)
        for name in ("client.py", "manifest.py", "options.py")]


def check_gimp_folder(gimp):
    # type: (Gimp) -> None
    """The installer never writes into its own checkout, e.g. through a plug-in folder that
    is a link to plugin/colorize_ai (--uninstall would then delete the sources)."""
    for folder in (gimp.folder, gimp.plug_ins):
        if inside(folder, REPO):
            how = "is a link into" if os.path.islink(folder) else "lies inside"
            raise InstallError(
                gimp.label() + ": the plug-in folder " + folder + " " + how + " the Colorize "
                "(AI) folder " + REPO + "; the installer writes nothing there: remove that "
                "link (or choose another folder with --gimp-dir) and run `" + RUN + "` again.")


def install_plugin(gimp, paths, dev, record):
    # type: (Gimp, Paths, bool, Record) -> bool
    changed = False
    for src, dest, mode in plugin_files(gimp):
        changed = put_file(src, dest, mode, dev, record) or changed
    config = os.path.join(gimp.folder, CONFIG)
    wanted = {"format": 1, "python": paths.python,
              "installer": os.path.join(REPO, "installer.py")}
    if claim(config, record, read_json(config) == wanted):
        changed = write_json(config, wanted) or changed
    say(gimp.label() + ": plug-in " + ("installed in " if changed else "up to date in ")
        + gimp.folder)
    if gimp.where == "Flatpak" or gimp.where == "Snap":
        say("  Note: " + gimp.where + " GIMP runs in a sandbox that may not reach "
            + paths.venv + "; see docs/GIMP.md if the filter reports that the engine "
            "cannot start.")
    return changed


def requery(gimp):
    # type: (Gimp) -> None
    """GIMP queries a plug-in again only when its file's time changes (new model list)."""
    entry = [d for _, d, _ in plugin_files(gimp)
             if os.path.basename(d) in (PLUGIN3 + ".py", PLUGIN2 + ".py")][0]
    if os.path.lexists(entry):
        os.utime(entry, None)


def cli_link():
    # type: () -> str
    return os.path.join(os.path.expanduser("~"), ".local", "bin", COMMAND)


def link_cli(paths, record):
    # type: (Paths, Record) -> str
    """Link the command into ~/.local/bin (where pip and pipx put commands too); returns how
    to call it. Windows has no such folder on PATH: there it is called by its full path."""
    if sys.platform.startswith("win"):
        return paths.cli
    link = cli_link()
    bin_dir = os.path.dirname(link)
    try:
        put_file(paths.cli, link, 0o755, True, record)
    except NotOurs:
        if os.path.realpath(link) != os.path.realpath(paths.cli):
            say("Command line: " + link + " already exists and is another program; the "
                "installer leaves it.")
            return paths.cli
    on_path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
               if p and os.path.realpath(p) == os.path.realpath(bin_dir)]
    if on_path:
        return COMMAND
    say("Command line: add " + bin_dir + " to PATH to call it as " + COMMAND + ".")
    return link


def install_models(paths, record):
    # type: (Paths, Record) -> bool
    """Copy the shipped models (and the catalogue of the others) into the user's folder."""
    mf = manifest_module()
    repo_models = os.path.join(REPO, "models")
    dest_manifest = os.path.join(paths.models, mf.MANIFEST)
    data = read_json(dest_manifest) or {"format": 1, "models": []}
    entries = {e["id"]: e for e in data["models"]}
    order = [e["id"] for e in data["models"]]
    changed = False
    for entry in mf.read_manifest(repo_models):
        clean = {k: v for k, v in entry.items() if k != "folder"}
        if mf.is_installed(entry):
            src = os.path.join(repo_models, entry["file"])
            changed = put_file(src, os.path.join(paths.models, entry["file"]), 0o644, False,
                               record) or changed
        elif entry["id"] in entries:
            continue  # already listed (perhaps installed with --model): keep that entry
        if entries.get(entry["id"]) != clean:
            if entry["id"] not in entries:
                order.append(entry["id"])
            entries[entry["id"]] = clean
            record.entries.setdefault(dest_manifest, set()).add(entry["id"])
    record.make_dirs(paths.models)
    if write_json(dest_manifest, {"format": 1, "models": [entries[i] for i in order]}):
        changed = True
    entries = mf.read_manifest(paths.models)
    installed = [e["name"] for e in entries if mf.is_installed(e) and not mf.is_variant(e)]
    fast = [e["id"] for e in entries if mf.is_installed(e) and mf.is_variant(e)]
    say("Models: " + (", ".join(installed) if installed else "none installed yet") + " ("
        + paths.models + ")" + ("; fast copies: " + ", ".join(fast) if fast else ""))
    if not installed:
        for entry in entries:
            say("  to install " + entry["name"] + ": " + (entry.get("install") or "?"))
    return changed


def fetch_model(name, paths, record):
    # type: (str, Paths, Record) -> None
    """Download and convert a published model with tools/convert_models.py fetch."""
    before = set(walk_files(paths.models))
    downloads = os.path.join(paths.data, "downloads")
    if not os.path.isdir(downloads):
        record.dirs.add(downloads)  # the fetch tool's download cache
    say("Model " + name + ": fetching and converting (this downloads the original weights)")
    env = engine_env()
    record.make_dirs(paths.models)
    # Not captured: the tool's progress bar and its one-line error are for the person.
    code = subprocess.run([paths.python, os.path.join(REPO, "tools", "convert_models.py"),
                           "fetch", name, "--dest", paths.models], env=env).returncode
    record.files.update(set(walk_files(paths.models)) - before)
    record.save()
    if code:
        raise InstallError("Fetching the model " + name + " failed (the message above says "
                           "why); run the same command again to resume the download.")


def walk_files(folder):
    # type: (str) -> list
    found = []
    for root, _, names in os.walk(folder):
        found.extend(os.path.join(root, n) for n in names)
    return found


# ---------------------------------------------------------------- commands


def claim_venv(paths, record):
    # type: (Paths, Record) -> None
    """Use (and later delete) only an environment this installer made: one in its record or
    holding its stamp, never one the person had in that folder already."""
    ours = paths.venv in record.dirs or os.path.exists(os.path.join(paths.venv, STAMP))
    if os.path.lexists(paths.venv) and not ours:
        raise InstallError(paths.venv + " holds a Python environment not made by this "
                           "installer, which neither changes nor deletes it; choose another "
                           "folder with --data-dir.")
    record.dirs.add(paths.venv)


def install(args, paths):
    # type: (argparse.Namespace, Paths) -> int
    record = Record(paths.record)
    gimps = find_gimps(args.gimp_dir)
    for gimp in gimps:
        check_gimp_folder(gimp)
    claim_venv(paths, record)
    try:
        return install_steps(args, paths, record, gimps)
    finally:
        # Whatever was made before a failure is in the record, for --uninstall.
        with contextlib.suppress(OSError):  # the failure being reported is what matters
            record.save()


def install_steps(args, paths, record, gimps):
    # type: (argparse.Namespace, Paths, Record, list) -> int
    record.make_dirs(paths.data)
    # The plug-in first: a failed download below must not leave GIMP without it.
    plugin_changed = [install_plugin(gimp, paths, args.dev, record) for gimp in gimps]
    extras = ["convert"] if args.model else []
    ensure_venv(paths, args.device, args.dev, extras, args.wheels)
    command = link_cli(paths, record)
    models_changed = install_models(paths, record)
    failed = None
    for name in args.model:
        try:
            fetch_model(name, paths, record)
            models_changed = True
        except InstallError as exc:
            failed = failed or exc
    for gimp, changed in zip(gimps, plugin_changed):
        if changed or models_changed:
            requery(gimp)
    if failed:
        raise failed
    if not gimps:
        program = unstarted_gimp()
        if program:
            say("GIMP: " + program + " is installed but has no user folder yet; start GIMP "
                "once, close it, and run the installer again.")
        else:
            say("GIMP: no GIMP 3 or 2.10 found (pass --gimp-dir PLUG_INS_FOLDER if it is "
                "somewhere else); the command-line tool is set up.")
    say("Command line: " + command + " --help")
    if gimps:
        say("Done. Restart GIMP, open a photo and choose Filters > Colorize (AI)...")
    return 0


def engine_info(paths):
    # type: (Paths) -> dict
    env = engine_env()
    try:
        proc = subprocess.run([paths.python, "-m", "colorize_ai.worker"],
                              input=b'{"id": "check", "command": "info"}\n',
                              capture_output=True, env=env, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        return {"ok": False, "message": str(exc)}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        try:
            return json.loads(line)
        except ValueError:
            continue
    return {"ok": False, "message": proc.stderr.decode("utf-8", "replace").strip()[-300:]}


def check(args, paths):
    # type: (argparse.Namespace, Paths) -> int
    problems = 0
    say("Colorize (AI) installation check")
    if os.path.exists(paths.python):
        info = engine_info(paths)
        if info.get("ok"):
            say("Python environment: " + paths.venv + " (works)")
            say("ONNX Runtime " + info["onnxruntime"] + ", providers: "
                + ", ".join(info["providers"]))
            say("Models:")
            for model in info["models"]:
                state = "installed" if model["installed"] else "not installed: " + model["install"]
                say("  " + model["id"] + " (" + model["name"] + "): " + state)
            if not any(m["installed"] for m in info["models"]):
                problems += 1
                say("  No model is installed: install one with the command shown above.")
        else:
            problems += 1
            say("Python environment: " + paths.venv + " does not work ("
                + str(info.get("message")) + "); run `" + RUN + "` again.")
    else:
        problems += 1
        say("Python environment: missing; run `" + RUN + "`.")
    gimps = find_gimps(args.gimp_dir)
    for gimp in gimps:
        config = read_json(os.path.join(gimp.folder, CONFIG)) or {}
        if config.get("python") and os.path.exists(config["python"]):
            say(gimp.label() + ": plug-in installed in " + gimp.folder)
        else:
            problems += 1
            say(gimp.label() + ": plug-in not installed (" + gimp.plug_ins + ")")
    if not gimps:
        say("GIMP: no GIMP 3 or 2.10 user folder found.")
    say("Everything looks right." if not problems else str(problems) + " problem(s) found.")
    return 0 if not problems else 1


def uninstall(args, paths):
    # type: (argparse.Namespace, Paths) -> int
    record = Record(paths.record)
    if not (record.files or record.dirs):
        say("Nothing to remove: no installation record in " + paths.data + ".")
        return 0
    remove_logs()
    for manifest_path, ids in record.entries.items():
        data = read_json(manifest_path)
        if isinstance(data, dict):
            data["models"] = [e for e in data.get("models", []) if e.get("id") not in ids]
            if data["models"]:
                write_json(manifest_path, data)
            else:
                os.remove(manifest_path)
    for path in sorted(record.files, reverse=True):
        if path == cli_link() and not (os.path.islink(path) and os.readlink(path) == paths.cli):
            continue  # no longer our link: the person put something else there since
        if os.path.lexists(path) and not os.path.isdir(path) and not in_checkout(path, paths):
            os.remove(path)
    for path in sorted(record.dirs, key=len, reverse=True):
        if os.path.isdir(path) and not os.path.islink(path) and not in_checkout(path, paths):
            # Python leaves __pycache__ beside the plug-in's modules when GIMP runs them.
            ours_only = not [p for p in os.listdir(path)
                             if p not in (RECORD, "install.log", "__pycache__")]
            owned = path in (paths.venv, os.path.join(paths.data, "downloads"))
            if owned or ours_only:
                shutil.rmtree(path)
    if os.path.exists(paths.record):
        os.remove(paths.record)
    for leftover in (paths.log,):
        if os.path.exists(leftover):
            os.remove(leftover)
    if os.path.isdir(paths.data) and not os.listdir(paths.data) and paths.data in record.dirs:
        os.rmdir(paths.data)
    say("Removed Colorize (AI): the plug-ins, the private environment and the models the "
        "installer put in place.")
    return 0


def remove_logs():
    # type: () -> None
    """The engine's logs (the command line's and the GIMP worker's): that folder is ours."""
    folder = str(engine_module("logs").log_dir())
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        if name.endswith((".log", ".log.1")) and os.path.isfile(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))
    if not os.listdir(folder):
        os.rmdir(folder)


def parse_args(argv):
    # type: (list) -> argparse.Namespace
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[2:7]))
    p.add_argument("--check", action="store_true", help="diagnose the installation")
    p.add_argument("--uninstall", action="store_true",
                   help="remove what the installer put in place")
    p.add_argument("--model", action="append", default=[], metavar="NAME",
                   help="also fetch and convert this model (zhang, siggraph17 or "
                        "siggraph17-pytorch); repeatable")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="ONNX Runtime build: gpu (CUDA), cpu, or auto (gpu when an NVIDIA GPU "
                        "is found)")
    p.add_argument("--gimp-dir", action="append", default=[], metavar="[VERSION=]DIR",
                   help="a GIMP user plug-ins folder to install into instead of the ones "
                        "found (e.g. 3.0=~/.config/GIMP/3.0/plug-ins); repeatable")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where the environment and models go (default: the user data folder)")
    p.add_argument("--wheels", metavar="DIR",
                   help="install Python packages from this folder of wheels, offline")
    p.add_argument("--dev", action="store_true",
                   help="link the plug-in files to this checkout instead of copying them")
    return p.parse_args(argv)


def main(argv=None):
    # type: (list) -> int
    if sys.version_info < MIN_PYTHON:
        sys.stderr.write("Colorize (AI) needs Python 3.9 or newer (this is "
                         + sys.version.split()[0] + "); install a newer Python and run "
                         "the installer with it.\n")
        return 1
    args = parse_args(argv)
    if not os.path.isfile(os.path.join(PLUGIN_SRC, "client.py")):
        sys.stderr.write("installer.py must stay in the Colorize (AI) folder it came with "
                         "(plugin/colorize_ai is missing beside it).\n")
        return 1
    if args.wheels and not os.path.isdir(args.wheels):
        sys.stderr.write("The wheel folder " + args.wheels + " does not exist.\n")
        return 1
    data_dir = args.data_dir or manifest_module().user_data_dir()
    paths = Paths(os.path.abspath(os.path.expanduser(data_dir)))
    try:
        if args.check:
            return check(args, paths)
        if args.uninstall:
            return uninstall(args, paths)
        return install(args, paths)
    except InstallError as exc:
        sys.stderr.write("Error: " + str(exc) + "\n")
    except OSError as exc:
        where = exc.filename or paths.data
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            sys.stderr.write("Error: cannot write to " + str(where) + " (permission denied); "
                             "run the installer as the user who runs GIMP, or choose other "
                             "folders with --data-dir / --gimp-dir.\n")
        elif exc.errno == errno.ENOSPC:
            sys.stderr.write("Error: the disk holding " + str(where) + " is full; free some "
                             "space and run the installer again.\n")
        else:
            sys.stderr.write("Error: " + str(where) + ": " + str(exc.strerror) + ".\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
