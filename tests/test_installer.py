"""installer.py on this machine, in throwaway home folders.

Creating the private environment (pip) is replaced here by a stand-in; the real thing runs
offline inside the GIMP 3 root in tests/test_gimp3_e2e.py. Everything else is real: GIMP
folder detection, plug-in files, models, the record, idempotence, --dev, --uninstall.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import installer  # noqa: E402

from tiny_models import add_model  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "GIMP3_DIRECTORY", "GIMP2_DIRECTORY", "APPDATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no gimp, no nvidia-smi
    return home


@pytest.fixture
def fake_venv(monkeypatch) -> list:
    """Replace pip with a stand-in that only makes the interpreter file."""
    calls = []

    def ensure_venv(paths, device, dev, extras, wheels):
        calls.append((device, dev, extras, wheels))
        if not os.path.exists(paths.python):
            os.makedirs(os.path.dirname(paths.python), exist_ok=True)
            Path(paths.python).touch()
        return False

    monkeypatch.setattr(installer, "ensure_venv", ensure_venv)
    return calls


def install(*args: str) -> int:
    return installer.main(list(args))


def mtimes(root: Path) -> dict:
    return {str(p): p.lstat().st_mtime_ns for p in root.rglob("*")}


def test_old_python_gets_one_clear_sentence():
    env = {**os.environ, "PYENV_VERSION": "2.7.18"}
    try:
        out = subprocess.run(["python", str(REPO / "installer.py")], env=env,
                             capture_output=True, text=True, timeout=60)
    except OSError:
        pytest.skip("no pyenv Python 2.7 here")
    if "2.7" not in subprocess.run(["python", "--version"], env=env, capture_output=True,
                                   text=True).stderr + out.stderr:
        pytest.skip("no pyenv Python 2.7 here")
    assert out.returncode == 1
    assert out.stderr.strip() == ("Colorize (AI) needs Python 3.9 or newer (this is 2.7.18); "
                                  "install a newer Python and run the installer with it.")


def test_finds_native_flatpak_and_snap_folders(home, monkeypatch):
    native = home / ".config" / "GIMP"
    for folder in (native / "3.0", native / "2.10", native / "2.8", native / "3.2",
                   home / ".var/app/org.gimp.GIMP/config/GIMP/3.0",
                   home / "snap/gimp/current/.config/GIMP/2.10"):
        folder.mkdir(parents=True)
    monkeypatch.setattr(sys, "platform", "linux")
    found = {(g.version, g.where): g.plug_ins for g in installer.find_gimps([])}
    assert found == {
        ("2.10", "Linux"): str(native / "2.10" / "plug-ins"),
        ("3.0", "Linux"): str(native / "3.0" / "plug-ins"),
        ("3.2", "Linux"): str(native / "3.2" / "plug-ins"),
        ("3.0", "Flatpak"): str(home / ".var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins"),
        ("2.10", "Snap"): str(home / "snap/gimp/current/.config/GIMP/2.10/plug-ins")}


def test_windows_macos_and_environment_folders(home, monkeypatch, tmp_path):
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    (tmp_path / "Roaming" / "GIMP" / "3.0").mkdir(parents=True)
    monkeypatch.setattr(sys, "platform", "win32")
    assert [(g.version, g.where, g.plug_ins) for g in installer.find_gimps([])] == [
        ("3.0", "Windows", str(tmp_path / "Roaming" / "GIMP" / "3.0" / "plug-ins"))]
    (home / "Library/Application Support/GIMP/2.10").mkdir(parents=True)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert [(g.version, g.where) for g in installer.find_gimps([])] == [("2.10", "macOS")]
    monkeypatch.setenv("GIMP3_DIRECTORY", str(tmp_path / "profile"))
    assert (installer.find_gimps([])[0].plug_ins, installer.find_gimps([])[0].where) == (
        str(tmp_path / "profile" / "plug-ins"), "$GIMP3_DIRECTORY")


def test_gimp_dir_option_overrides_detection(home, tmp_path):
    (home / ".config" / "GIMP" / "3.0").mkdir(parents=True)
    gimps = installer.find_gimps(["2.10=" + str(tmp_path / "a"),
                                  str(tmp_path / "GIMP" / "3.2" / "plug-ins"),
                                  str(tmp_path / "b")])
    assert [(g.version, g.plug_ins) for g in gimps] == [
        ("2.10", str(tmp_path / "a")), ("3.2", str(tmp_path / "GIMP" / "3.2" / "plug-ins")),
        ("3.0", str(tmp_path / "b"))]


def test_install_lays_out_both_front_ends_and_is_idempotent(home, fake_venv, capsys):
    gimp3 = home / ".config" / "GIMP" / "3.0"
    gimp2 = home / ".config" / "GIMP" / "2.10"
    gimp3.mkdir(parents=True)
    gimp2.mkdir(parents=True)
    assert install() == 0
    data = home / ".local" / "share" / "colorize-ai"
    python = str(data / "venv" / "bin" / "python")
    plugin3 = gimp3 / "plug-ins" / "colorize_ai"
    entry3 = plugin3 / "colorize_ai.py"
    assert entry3.stat().st_mode & stat.S_IXUSR
    assert entry3.read_bytes() == (REPO / "plugin/colorize_ai/colorize_ai.py").read_bytes()
    for name in ("client.py", "manifest.py", "worker.py", "families/zhang.py"):
        assert (plugin3 / name).is_file(), name
    assert not list(plugin3.rglob("__pycache__"))
    assert json.loads((plugin3 / "config.json").read_text())["python"] == python
    entry2 = gimp2 / "plug-ins" / "colorize_ai_gimp2.py"
    assert entry2.stat().st_mode & stat.S_IXUSR
    support = gimp2 / "plug-ins" / "colorize_ai_gimp2"
    assert sorted(p.name for p in support.iterdir()) == ["client.py", "config.json",
                                                        "manifest.py", "options.py"]
    catalogue = json.loads((data / "models" / "manifest.json").read_text())["models"]
    assert "zhang-eccv16" in [m["id"] for m in catalogue]
    first = capsys.readouterr().out
    assert "GIMP 3.0 (Linux): plug-in installed in " + str(plugin3) in first
    assert "GIMP 2.10 (Linux): plug-in installed in " in first

    before = mtimes(home)
    assert install() == 0
    assert mtimes(home) == before  # a second run changes nothing
    assert "plug-in up to date" in capsys.readouterr().out


def test_shipped_models_are_copied_and_their_change_requeries_gimp(home, fake_venv, tmp_path,
                                                                   monkeypatch):
    repo = tmp_path / "repo"
    add_model(repo / "models", "shipped", default=True)
    monkeypatch.setattr(installer, "REPO", str(repo))
    (home / ".config" / "GIMP" / "3.0").mkdir(parents=True)
    assert install() == 0
    models = home / ".local/share/colorize-ai/models"
    assert (models / "shipped.onnx").read_bytes() == (repo / "models/shipped.onnx").read_bytes()
    entry = home / ".config/GIMP/3.0/plug-ins/colorize_ai/colorize_ai.py"
    os.utime(entry, (1, 1))
    assert install() == 0
    assert entry.stat().st_mtime == 1  # nothing changed: GIMP keeps its cached query
    add_model(repo / "models", "another")
    assert install() == 0
    assert (models / "another.onnx").exists()
    assert entry.stat().st_mtime > 1  # new models: GIMP must query the plug-in again


def test_dev_links_to_the_checkout(home, fake_venv):
    (home / ".config" / "GIMP" / "3.0").mkdir(parents=True)
    assert install("--dev") == 0
    entry = home / ".config/GIMP/3.0/plug-ins/colorize_ai/colorize_ai.py"
    assert entry.is_symlink()
    assert entry.resolve() == (REPO / "plugin/colorize_ai/colorize_ai.py").resolve()
    assert not (entry.parent / "config.json").is_symlink()
    assert fake_venv[-1][1] is True


def test_uninstall_removes_exactly_what_was_installed(home, fake_venv, capsys):
    plug_ins = home / ".config" / "GIMP" / "3.0" / "plug-ins"
    plug_ins.mkdir(parents=True)
    (plug_ins / "someone-else.py").write_text("# another plug-in\n")
    models = home / ".local/share/colorize-ai/models"
    add_model(models, "mine")  # the user's own model, there before the installer
    before = mtimes(home)
    assert install() == 0
    cache = plug_ins / "colorize_ai" / "__pycache__"
    cache.mkdir()  # what GIMP's Python leaves after running the plug-in
    (cache / "client.cpython-313.pyc").write_bytes(b"")
    assert install("--uninstall") == 0
    assert mtimes(home).keys() == before.keys()
    ids = [m["id"] for m in json.loads((models / "manifest.json").read_text())["models"]]
    assert ids == ["mine"]
    assert "Removed Colorize (AI)" in capsys.readouterr().out
    assert install("--uninstall") == 0
    assert "Nothing to remove" in capsys.readouterr().out


def test_without_gimp_it_says_so_and_sets_up_the_cli(home, fake_venv, capsys):
    assert install() == 0
    out = capsys.readouterr().out
    assert "no GIMP 3 or 2.10 found" in out and "the command-line tool is set up" in out
    assert "colorize-ai --help" in out


def test_gimp_never_started_is_explained(home, fake_venv, capsys, tmp_path):
    (tmp_path / "bin").mkdir()
    program = tmp_path / "bin" / "gimp-3.0"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    assert install() == 0
    assert ("gimp-3.0 is installed but has no user folder yet; start GIMP once"
            in capsys.readouterr().out)


def test_errors_are_one_sentence(home, fake_venv, capsys, monkeypatch, tmp_path):
    assert install("--wheels", str(tmp_path / "nowhere")) == 1
    assert capsys.readouterr().err.strip() == ("The wheel folder " + str(tmp_path / "nowhere")
                                               + " does not exist.")

    def refuse(path, *args):
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(os, "mkdir", refuse)
    assert install("--gimp-dir", str(tmp_path / "locked" / "plug-ins")) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: cannot write to ") and "(permission denied)" in err
    assert err.count("\n") == 0


def test_download_failure_points_to_offline_wheels(home, tmp_path):
    paths = installer.Paths(str(tmp_path))
    with pytest.raises(installer.InstallError) as info:
        installer.run_logged([sys.executable, "-c", "print('NewConnectionError'); exit(1)"],
                             paths, "Installing the Python packages failed")
    assert "pass --wheels DIR" in str(info.value)
    assert "NewConnectionError" in (tmp_path / "install.log").read_text()


@pytest.mark.parametrize("gpu", [True, False])
def test_runtime_build_follows_the_gpu(home, tmp_path, monkeypatch, gpu):
    if gpu:
        (tmp_path / "bin").mkdir()
        smi = tmp_path / "bin" / "nvidia-smi"
        smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-x)'\n")
        smi.chmod(0o755)
    monkeypatch.setattr(sys, "platform", "linux")
    commands = []
    monkeypatch.setattr(installer, "run_logged", lambda cmd, *a, **k: commands.append(cmd))
    paths = installer.Paths(str(tmp_path / "data"))
    os.makedirs(os.path.dirname(paths.python))
    Path(paths.python).touch()
    assert installer.ensure_venv(paths, "auto", False, [], None)
    extra, other = ("gpu", "onnxruntime") if gpu else ("cpu", "onnxruntime-gpu")
    assert commands[0][-1] == other and "uninstall" in commands[0]
    assert commands[1][-1] == installer.REPO + "[" + extra + "]"
    # The same request again: the stamp says nothing changed, pip is not run.
    assert not installer.ensure_venv(paths, "auto", False, [], None)
    assert len(commands) == 2


def test_model_option_fetches_with_the_converter(home, fake_venv, monkeypatch, capsys):
    commands = []

    def fake_run(cmd, **kwargs):
        commands.append(cmd)
        assert kwargs["env"]["ORT_DISABLE_TELEMETRY"] == "1"  # no device id in ~/.cache
        models = Path(cmd[cmd.index("--dest") + 1])
        add_model(models, "zhang-eccv16")  # what the converter would install
        os.makedirs(os.path.join(os.path.dirname(models), "downloads"), exist_ok=True)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(installer.subprocess, "run", fake_run)
    assert install("--model", "zhang") == 0
    data = home / ".local/share/colorize-ai"
    assert commands == [[str(data / "venv/bin/python"), str(REPO / "tools/convert_models.py"),
                         "fetch", "zhang", "--dest", str(data / "models")]]
    assert fake_venv[-1][2] == ["convert"]  # the converter's packages go into the environment
    assert install("--uninstall") == 0
    assert not (data / "models" / "zhang-eccv16.onnx").exists()
    assert not data.exists()


def test_failed_fetch_is_one_sentence(home, fake_venv, monkeypatch, capsys):
    monkeypatch.setattr(installer.subprocess, "run",
                        lambda cmd, **kwargs: subprocess.CompletedProcess(cmd, 1))
    assert install("--model", "zhang") == 1
    assert capsys.readouterr().err.strip() == (
        "Error: Fetching the model zhang failed (the message above says why); run the same "
        "command again to resume the download.")


# ---------------------------------------------------------------- issue 12: nothing lost,
# nothing deleted that is not ours


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    """A copy of the checkout's plug-in sources that the installer takes for its own folder,
    so that a wrong delete hits the copy, never the real checkout."""
    repo = tmp_path / "checkout"
    shutil.copytree(REPO / "plugin", repo / "plugin",
                    ignore=shutil.ignore_patterns("__pycache__", "config.json"))
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    add_model(repo / "models", "shipped", default=True)
    monkeypatch.setattr(installer, "REPO", str(repo))
    monkeypatch.setattr(installer, "PLUGIN_SRC", str(repo / "plugin" / "colorize_ai"))
    monkeypatch.setattr(installer, "GIMP2_SRC",
                        str(repo / "plugin" / "gimp2" / "colorize_ai_gimp2.py"))
    return repo


def contents(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_plugin_folder_linked_into_the_checkout_is_left_alone(home, fake_venv, checkout,
                                                              capsys):
    plug_ins = home / ".config" / "GIMP" / "3.0" / "plug-ins"
    plug_ins.mkdir(parents=True)
    (plug_ins / "colorize_ai").symlink_to(checkout / "plugin" / "colorize_ai")
    before = contents(checkout)
    assert install() == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a link into the Colorize (AI) folder" in err
    assert install("--uninstall") == 0
    assert contents(checkout) == before  # nothing written into it, nothing deleted from it
    assert (plug_ins / "colorize_ai").is_symlink()


def test_uninstall_never_deletes_inside_the_checkout(home, checkout, capsys):
    """A record written by an older installer through such a link lists the checkout's
    files under the plug-in folder's name: uninstall must still leave them."""
    plug_ins = home / ".config" / "GIMP" / "3.0" / "plug-ins"
    plug_ins.mkdir(parents=True)
    (plug_ins / "colorize_ai").symlink_to(checkout / "plugin" / "colorize_ai")
    files = [str(plug_ins / "colorize_ai" / p.relative_to(checkout / "plugin" / "colorize_ai"))
             for p in (checkout / "plugin" / "colorize_ai").rglob("*.py")]
    data = home / ".local/share/colorize-ai"
    data.mkdir(parents=True)
    (data / installer.RECORD).write_text(json.dumps(
        {"files": files, "dirs": [str(plug_ins / "colorize_ai" / "families")],
         "manifest_entries": {}}))
    before = contents(checkout)
    assert install("--uninstall") == 0
    assert contents(checkout) == before


def test_a_python_environment_it_did_not_create_is_neither_used_nor_deleted(home, capsys,
                                                                            tmp_path):
    data = tmp_path / "mine"
    own = data / "venv" / "bin"
    own.mkdir(parents=True)
    (own / "python").write_text("#!/bin/sh\n")
    (own / "my-tool").write_text("mine\n")
    before = contents(data)
    assert install("--data-dir", str(data)) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not made by this installer" in err
    assert install("--data-dir", str(data), "--uninstall") == 0
    assert contents(data) == before


def test_a_failed_install_is_recorded_and_can_be_uninstalled(home, capsys, monkeypatch):
    """pip fails after the environment was created: --uninstall must still remove it all."""
    (home / ".config" / "GIMP" / "3.0").mkdir(parents=True)

    def ensure_venv(paths, *args):
        os.makedirs(os.path.dirname(paths.python))
        Path(paths.python).write_bytes(b"x" * 1000)  # the 360 MB of a real environment
        raise installer.InstallError("Installing the Python packages failed.")

    monkeypatch.setattr(installer, "ensure_venv", ensure_venv)
    before = mtimes(home)
    assert install() == 1
    assert install("--uninstall") == 0
    assert "Removed Colorize (AI)" in capsys.readouterr().out
    assert mtimes(home).keys() == before.keys()


def test_a_read_only_plugin_folder_fails_but_what_was_done_is_recorded(home, fake_venv,
                                                                       monkeypatch, capsys):
    gimp3 = home / ".config" / "GIMP" / "3.0" / "plug-ins"
    gimp3.mkdir(parents=True)
    locked = home / ".config" / "GIMP" / "3.2" / "plug-ins"
    locked.mkdir(parents=True)
    copy = shutil.copyfile

    def copyfile(src, dest, **kwargs):
        if str(dest).startswith(str(locked)):
            raise PermissionError(errno.EACCES, "Permission denied", str(dest))
        return copy(src, dest, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", copyfile)
    before = mtimes(home)
    assert install() == 1
    assert "cannot write to " + str(locked) in capsys.readouterr().err
    assert install("--uninstall") == 0
    assert mtimes(home).keys() == before.keys()


def test_a_failed_model_download_leaves_gimp_with_the_plugin(home, fake_venv, monkeypatch,
                                                             capsys):
    plug_ins = home / ".config" / "GIMP" / "3.0" / "plug-ins"
    plug_ins.mkdir(parents=True)
    monkeypatch.setattr(installer.subprocess, "run",
                        lambda cmd, **kwargs: subprocess.CompletedProcess(cmd, 1))
    assert install("--model", "zhang") == 1  # offline: the download fails
    assert (plug_ins / "colorize_ai" / "colorize_ai.py").is_file()
    assert json.loads((plug_ins / "colorize_ai" / "config.json").read_text())["python"]
    assert "plug-in installed in" in capsys.readouterr().out


def test_uninstall_removes_the_engine_logs(home, fake_venv, monkeypatch):
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    state = home / ".local" / "state"
    state.mkdir(parents=True)
    (state / "another-program.log").write_text("not ours\n")
    assert install() == 0
    logs = state / "colorize-ai"
    logs.mkdir()  # what the command-line tool and GIMP's worker write while they run
    (logs / "cli.log").write_text("...\n")
    (logs / "worker.log").write_text("...\n")
    assert install("--uninstall") == 0
    assert sorted(p.name for p in state.iterdir()) == ["another-program.log"]


def test_the_command_is_linked_into_local_bin(home, fake_venv, capsys, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    assert install() == 0
    link = home / ".local" / "bin" / "colorize-ai"
    cli = home / ".local/share/colorize-ai/venv/bin/colorize-ai"
    assert link.is_symlink() and Path(os.readlink(link)) == cli
    out = capsys.readouterr().out
    # ~/.local/bin is not on this test's PATH: the message says how to call it anyway.
    assert "Command line: " + str(link) + " --help" in out and "add " in out
    monkeypatch.setenv("PATH", str(home / ".local" / "bin"))
    assert install() == 0
    assert "Command line: colorize-ai --help" in capsys.readouterr().out
    assert install("--uninstall") == 0
    assert not os.path.lexists(link) and not (home / ".local" / "bin").exists()


def test_an_existing_colorize_ai_command_is_kept(home, fake_venv, capsys, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    bin_dir = home / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "colorize-ai").write_text("#!/bin/sh\necho another program\n")
    before = contents(bin_dir)
    assert install() == 0
    out = capsys.readouterr().out
    assert str(bin_dir / "colorize-ai") + " already exists" in out
    assert "Command line: " + str(home / ".local/share/colorize-ai/venv/bin/colorize-ai") in out
    assert install("--uninstall") == 0
    assert contents(bin_dir) == before


def test_a_command_put_in_place_of_our_link_is_kept(home, fake_venv, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    assert install() == 0
    link = home / ".local" / "bin" / "colorize-ai"
    link.unlink()
    link.write_text("#!/bin/sh\necho another program\n")  # installed since, by someone else
    assert install("--uninstall") == 0
    assert link.read_text() == "#!/bin/sh\necho another program\n"


def test_windows_is_told_where_the_command_is(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    paths = installer.Paths(str(tmp_path / "data"))
    record = installer.Record(paths.record)
    assert installer.link_cli(paths, record) == paths.cli
    assert not record.files and not (tmp_path / "data").exists()


def test_an_environment_it_made_is_marked_before_pip_runs(home, monkeypatch, tmp_path):
    """The stamp goes in as soon as the environment exists: after a failed pip, and with the
    record lost, the installer still knows the environment is its own."""
    def run_logged(cmd, paths, what, env=None):
        if cmd[1:3] == ["-m", "venv"]:
            os.makedirs(os.path.dirname(paths.python))
            Path(paths.python).touch()
            return ""
        raise installer.InstallError(what + ".")

    monkeypatch.setattr(installer, "run_logged", run_logged)
    data = tmp_path / "data"
    assert install("--data-dir", str(data), "--device", "cpu") == 1
    (data / installer.RECORD).unlink()
    paths = installer.Paths(str(data))
    record = installer.Record(paths.record)
    installer.claim_venv(paths, record)  # no "not made by this installer" error
    assert record.dirs == {paths.venv}
