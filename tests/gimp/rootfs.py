"""Build or reuse the cached Debian 13 root file system in which the GIMP 3 tests run.

Usage: python3 tests/gimp/rootfs.py [--root DIR]   (prints the root's path when it is ready)

The root holds GIMP 3.0.4 with Python 3 plug-in support and a folder of wheels for its
Python 3.13, downloaded on the host because pip inside the root cannot reach the index.
It lives outside the checkout and is rebuilt only when its version stamp changes.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from apt_sources import debian_mirror  # noqa: E402

DEFAULT_ROOT = Path(os.environ.get("COLORIZE_AI_GIMP_ROOTFS",
                                   "/var/cache/colorize-ai/gimp-rootfs"))
SUITE = "trixie"
PACKAGES = ["gimp", "gir1.2-gimp-3.0", "python3-gi", "python3-numpy", "python3-venv",
            "xvfb", "xauth", "imagemagick", "xdotool"]
# What the installer's private environment needs, for the root's Python 3.13.
WHEELS = ["onnxruntime", "numpy", "opencv-python-headless", "pillow", "setuptools"]
WHEEL_DIR = "opt/wheels"
# Change a stamp to force a rebuild of that part on every machine.
ROOT_STAMP = "1 " + SUITE + " " + " ".join(PACKAGES)
WHEEL_STAMP = "1 " + " ".join(WHEELS)


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


def _build_root(root: Path) -> None:
    _ensure_debootstrap()
    partial = root.with_name(root.name + ".partial")
    if partial.exists():
        if _proc_mounted(partial):
            subprocess.run(["umount", "-l", str(partial / "proc")], check=False)
        shutil.rmtree(partial)
    cmd = ["debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES),
           SUITE, str(partial), debian_mirror()]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    # debootstrap fails to configure some GTK packages (virtual dependencies); apt finishes it.
    if subprocess.run(cmd, check=False).returncode and not (partial / "usr/bin/apt-get").exists():
        raise RuntimeError(f"debootstrap failed; see {partial}/debootstrap/debootstrap.log")
    _finish_root(partial)
    if root.exists():
        if _proc_mounted(root):
            subprocess.run(["umount", "-l", str(root / "proc")], check=False)
        shutil.rmtree(root)
    partial.rename(root)


def _finish_root(partial: Path) -> None:
    with mounted(partial):
        _run(["chroot", str(partial), "bash", "-c",
              "DEBIAN_FRONTEND=noninteractive apt-get update -qq"
              " && DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq"])
    (partial / "etc" / "colorize-ai-rootfs").write_text(ROOT_STAMP + "\n")


def _download_wheels(root: Path, python: str) -> None:
    dest = root / WHEEL_DIR
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    _run([python, "-m", "pip", "download", "-q", "--only-binary=:all:",
          "--python-version", "3.13", "--implementation", "cp",
          "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
          "--platform", "manylinux2014_x86_64", "--platform", "any",
          "-d", str(dest), *WHEELS])
    (dest / "STAMP").write_text(WHEEL_STAMP + "\n")


def ensure_rootfs(root: Path = DEFAULT_ROOT, python: str = sys.executable) -> Path:
    """Return a ready root, building or refreshing what its stamps say is missing."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / (root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _read(root / "etc" / "colorize-ai-rootfs") != ROOT_STAMP:
            _build_root(root)
        if _read(root / WHEEL_DIR / "STAMP") != WHEEL_STAMP:
            _download_wheels(root, python)
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("Building the root file system needs root (debootstrap, chroot, mount).",
              file=sys.stderr)
        return 1
    print(ensure_rootfs(args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
