"""Drive a real GIMP 3 inside one of the cached Debian roots (rootfs.py: GIMP 3.0 in trixie,
3.2 in sid): install with installer.py, run batch scripts with gimp-console-3.x, read back what
they wrote."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from rootfs import TRIXIE, WHEEL_DIR, Release, ensure_rootfs, mounted

REPO = Path(__file__).resolve().parents[2]
GIMP_DIR = Path(__file__).resolve().parent
WORK = "/tmp/e2e"  # inside the root
SOURCE = "/opt/colorize-ai-src"  # the checkout, copied into the root
HOME = WORK + "/home"
PROFILE = WORK + "/profile"
MODELS = WORK + "/models"
OUT = WORK + "/out"
VENV_PYTHON = HOME + "/.local/share/colorize-ai/venv/bin/python"


def copy_checkout(dest: Path) -> None:
    """Copy what a clone would hold (tracked and new, not ignored files), as a user gets it."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


class GimpRoot:
    """The root file system with proc mounted, a copy of the checkout and a work folder."""

    def __init__(self, root: Path, release: Release = TRIXIE) -> None:
        self.root = root
        self.release = release

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def env(self, **extra: str) -> list[str]:
        base = {"HOME": HOME, "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                "GIMP3_DIRECTORY": PROFILE, "COLORIZE_AI_MODELS": MODELS,
                "XDG_STATE_HOME": HOME + "/state"}
        base.update(extra)
        return ["/usr/bin/env", "-i"] + [f"{k}={v}" for k, v in base.items()]

    def run(self, args: list[str], timeout: float = 600, stdin: bytes | None = None,
            **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["chroot", str(self.root)] + self.env(**env) + args,
                              input=stdin, capture_output=True, timeout=timeout)

    def fresh_work(self) -> None:
        shutil.rmtree(self.path(WORK), ignore_errors=True)
        for folder in (HOME, PROFILE, MODELS, OUT):
            self.path(folder).mkdir(parents=True)
        shutil.rmtree(self.path(SOURCE), ignore_errors=True)
        copy_checkout(self.path(SOURCE))

    def install(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(["python3", SOURCE + "/installer.py", "--wheels", "/" + WHEEL_DIR,
                         *args])

    def batch(self, script: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a Python batch script in gimp-console-3.x (one GIMP start)."""
        return self.run([self.release.console, "-i", "-n", "--batch-interpreter=python-fu-eval",
                         "-b", "-", "--quit"], timeout=timeout,
                        stdin=(GIMP_DIR / script).read_bytes())

    def gui_batch(self, script: str, timeout: float = 400) -> subprocess.CompletedProcess:
        """Run a batch script in the GUI gimp-3.x under Xvfb (windows, dialogs, keys)."""
        # No first-run welcome dialog in front of the image window.
        self.path(PROFILE).mkdir(parents=True, exist_ok=True)
        self.path(PROFILE + "/gimprc").write_text("(show-welcome-dialog no)\n")
        return self.run(["xvfb-run", "-a", "-s", "-screen 0 1280x860x24", self.release.gui, "-n",
                         "--batch-interpreter=python-fu-eval", "-b", "-", "--quit"],
                        timeout=timeout, stdin=(GIMP_DIR / script).read_bytes())


def gimp_root(release: Release) -> tuple[GimpRoot, object]:
    """A ready root (built or reused) with proc mounted; call close() on the second value."""
    root = ensure_rootfs(release, python=sys.executable)
    context = mounted(root)
    context.__enter__()
    return GimpRoot(root, release), context
