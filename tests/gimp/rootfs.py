"""Build or reuse the cached Debian root file systems in which the GIMP 3 tests run.

Usage: python3 tests/gimp/rootfs.py [--gimp 3.0|3.2] [--root DIR]
       (prints the root's path when it is ready)

One root per tested GIMP: Debian 13 (trixie) ships GIMP 3.0.4 with Python 3.13, Debian sid
GIMP 3.2 with Python 3.14. Each holds a folder of wheels for its own Python, downloaded on the
host because pip inside the root cannot reach the index. The roots live outside the checkout
and are rebuilt only when their version stamps change.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from apt_sources import debian_mirror  # noqa: E402

CACHE = Path("/var/cache/colorize-ai")
PACKAGES = ["gimp", "gir1.2-gimp-3.0", "python3-gi", "python3-numpy", "python3-venv",
            "xvfb", "xauth", "imagemagick", "xdotool"]
# What the installer's private environment needs, for the root's Python.
WHEELS = ["onnxruntime", "numpy", "opencv-python-headless", "pillow", "setuptools"]
WHEEL_DIR = "opt/wheels"
# Change a stamp to force a rebuild of that part on every machine.
WHEEL_STAMP = "1 " + " ".join(WHEELS)
STAMP_FILE = "etc/colorize-ai-rootfs"


@dataclass(frozen=True)
class Release:
    """One tested GIMP: the Debian suite that ships it and where its root is cached."""

    gimp: str  # major.minor, as in the program names gimp-3.0 and gimp-console-3.0
    suite: str
    variable: str  # the environment variable that overrides the default path
    default_path: Path
    apt_options: tuple[str, ...] = ()

    @property
    def default_root(self) -> Path:
        return Path(os.environ.get(self.variable) or self.default_path)

    @property
    def root_stamp(self) -> str:
        return "1 " + self.suite + " " + " ".join(PACKAGES)

    @property
    def console(self) -> str:
        return "gimp-console-" + self.gimp

    @property
    def gui(self) -> str:
        return "gimp-" + self.gimp

    @property
    def name(self) -> str:
        return f"GIMP {self.gimp} root (Debian {self.suite})"


TRIXIE = Release("3.0", "trixie", "COLORIZE_AI_GIMP_ROOTFS", CACHE / "gimp-rootfs")
# sid's Release file on a mirror can be past its Valid-Until date; apt refuses it without this.
# sid moves on: once it ships GIMP 3.4, a fresh root has no gimp-console-3.2 and the tests say so.
SID = Release("3.2", "sid", "COLORIZE_AI_GIMP32_ROOTFS", CACHE / "gimp32-rootfs",
              ("-o", "Acquire::Check-Valid-Until=false"))
RELEASES = {release.gimp: release for release in (TRIXIE, SID)}


def _run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, **kw)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _proc_mounted(root: Path) -> bool:
    target = str((root / "proc").resolve())
    with open("/proc/mounts") as mounts:
        return any(line.split()[1] == target for line in mounts)


@contextlib.contextmanager
def mounted(root: Path) -> Iterator[Path]:
    """Mount proc (and a tmpfs /dev/shm) in the root for the duration; undo only what we did."""
    done = []
    if not _proc_mounted(root):
        _run(["mount", "-t", "proc", "proc", str(root / "proc")])
        done.append(root / "proc")
    try:
        yield root
    finally:
        for path in reversed(done):
            subprocess.run(["umount", "-l", str(path)], check=False)


def _ensure_debootstrap() -> None:
    if shutil.which("debootstrap"):
        return
    _run(["apt-get", "update", "-qq"])
    _run(["apt-get", "install", "-y", "-qq", "debootstrap"],
         env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def _build_root(release: Release, root: Path) -> None:
    _ensure_debootstrap()
    partial = root.with_name(root.name + ".partial")
    if partial.exists():
        if _proc_mounted(partial):
            subprocess.run(["umount", "-l", str(partial / "proc")], check=False)
        shutil.rmtree(partial)
    cmd = ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
           release.suite, str(partial), debian_mirror()]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    # debootstrap fails to configure some GTK packages (virtual dependencies); apt finishes it.
    if subprocess.run(cmd, check=False).returncode and not (partial / "usr/bin/apt-get").exists():
        raise RuntimeError(f"debootstrap failed; see {partial}/debootstrap/debootstrap.log")
    _finish_root(release, partial)
    if root.exists():
        if _proc_mounted(root):
            subprocess.run(["umount", "-l", str(root / "proc")], check=False)
        shutil.rmtree(root)
    partial.rename(root)


def _finish_root(release: Release, partial: Path) -> None:
    apt = "DEBIAN_FRONTEND=noninteractive apt-get " + " ".join(release.apt_options)
    with mounted(partial):
        _run(["chroot", str(partial), "bash", "-c",
              f"{apt} update -qq && {apt} -f install -y -qq"])
    (partial / STAMP_FILE).write_text(release.root_stamp + "\n")


def root_python(root: Path) -> str:
    """The root's Python as major.minor, read from its python3 link (python3 -> python3.13)."""
    target = os.readlink(root / "usr/bin/python3")
    return target.rsplit("python", 1)[1]


def _download_wheels(root: Path, python: str) -> None:
    dest = root / WHEEL_DIR
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    _run([python, "-m", "pip", "download", "-q", "--only-binary=:all:",
          "--python-version", root_python(root), "--implementation", "cp",
          "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
          "--platform", "manylinux2014_x86_64", "--platform", "any",
          "-d", str(dest), *WHEELS])
    (dest / "STAMP").write_text(WHEEL_STAMP + "\n")


def _root_current(release: Release, root: Path) -> bool:
    return _read(root / STAMP_FILE) == release.root_stamp


def _wheels_current(root: Path) -> bool:
    return _read(root / WHEEL_DIR / "STAMP") == WHEEL_STAMP


def is_ready(release: Release, root: Path | None = None) -> bool:
    """Whether the root and its wheels are built and current (by their stamps)."""
    root = root or release.default_root
    return _root_current(release, root) and _wheels_current(root)


def ensure_rootfs(release: Release = TRIXIE, root: Path | None = None,
                  python: str = sys.executable) -> Path:
    """Return a ready root, building or refreshing what its stamps say is missing."""
    import fcntl  # POSIX only; conftest imports this module on every platform

    root = root or release.default_root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / (root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _root_current(release, root):
            _build_root(release, root)
        if not _wheels_current(root):
            _download_wheels(root, python)
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gimp", choices=sorted(RELEASES), default=TRIXIE.gimp,
                        help="the GIMP version whose root to build (default: %(default)s)")
    parser.add_argument("--root", type=Path, help="where (default: the release's cache folder)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("Building the root file system needs root (debootstrap, chroot, mount).",
              file=sys.stderr)
        return 1
    print(ensure_rootfs(RELEASES[args.gimp], args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
