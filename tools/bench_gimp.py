"""The GIMP row of tools/bench.py: plug-in-colorize-ai in headless GIMP 3 against the CLI.

Both run in the Debian 13 root with GIMP 3.0.4 that tests/gimp/rootfs.py builds for the
end-to-end tests (reused, never built here: building takes minutes), with the plug-in and its
engine installed there by installer.py, in a work folder of its own (/tmp/bench-gimp), so the
tests' /tmp/e2e is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "gimp"))

import harness  # noqa: E402
import rootfs  # noqa: E402

WORK = "/tmp/bench-gimp"
HOME, PROFILE, MODELS = WORK + "/home", WORK + "/profile", WORK + "/models"
SOURCE = WORK + "/src"
CLI = HOME + "/.local/share/colorize-ai/venv/bin/colorize-ai"


class BenchRoot(harness.GimpRoot):
    """The tests' root, with this benchmark's own work folder."""

    def env(self, **extra: str) -> list[str]:
        base = {"HOME": HOME, "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                "GIMP3_DIRECTORY": PROFILE, "COLORIZE_AI_MODELS": MODELS,
                "XDG_STATE_HOME": HOME + "/state", **extra}
        return ["/usr/bin/env", "-i"] + [f"{k}={v}" for k, v in base.items()]

    def fresh_work(self) -> None:
        shutil.rmtree(self.path(WORK), ignore_errors=True)
        for folder in (HOME, PROFILE, MODELS):
            self.path(folder).mkdir(parents=True)
        harness.copy_checkout(self.path(SOURCE))

    def install(self, *args: str):
        return self.run(["python3", SOURCE + "/installer.py", "--wheels",
                         "/" + rootfs.WHEEL_DIR, *args])


def _ready_root() -> Path:
    root = rootfs.TRIXIE.default_root
    if not rootfs.is_ready(rootfs.TRIXIE, root):
        raise RuntimeError(f"the GIMP 3 root {root} is not built (python3 tests/gimp/rootfs.py "
                           "builds it, about 5 minutes)")
    return root


def _install_model(root: BenchRoot, model_id: str, folder: str) -> None:
    from colorize_ai.registry import get_spec

    spec = get_spec(model_id, [folder] if folder else None)
    entries = json.loads((spec.folder / "manifest.json").read_text())["models"]
    entry = next(e for e in entries if e["id"] == model_id)
    shutil.copy(spec.path, root.path(MODELS) / spec.file)
    (root.path(MODELS) / "manifest.json").write_text(json.dumps({"format": 1,
                                                                 "models": [entry]}))


def _photo(path: Path, megapixels: float) -> tuple[int, int]:
    """A grey RGB PNG with photo-like detail."""
    import cv2

    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(megapixels * 1e6 / width))
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, (height // 64, width // 64)).astype(np.float32)
    grey = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(path), cv2.cvtColor(np.clip(grey, 0, 255).astype(np.uint8),
                                        cv2.COLOR_GRAY2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return width, height


def measure(model_id: str, folder: str, megapixels: float, runs: int, hints: bool = False
            ) -> dict:
    """Median seconds of the GIMP procedure call and of the CLI, `runs` after a warm-up; with
    `hints`, both with a hints layer (30 painted dots, bench_pipeline's)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        raise RuntimeError("the GIMP row needs Linux and root (chroot, mount)")
    with rootfs.mounted(_ready_root()) as path:
        root = BenchRoot(path)
        root.fresh_work()
        done = root.install()
        if done.returncode:
            raise RuntimeError("installer.py failed in the GIMP root: "
                               + done.stderr.decode(errors="replace").strip()[-300:])
        _install_model(root, model_id, folder)
        width, height = _photo(root.path(WORK) / "photo.png", megapixels)
        settings = {"photo": WORK + "/photo.png", "model": model_id, "runs": runs,
                    "out": WORK + "/gimp.json"}
        cli_hints: list[str] = []
        if hints:
            from PIL import Image

            import bench_pipeline

            layer = bench_pipeline._hints(np.zeros((height, width, 4), np.uint8))
            (root.path(WORK) / "hints.raw").write_bytes(layer.tobytes())
            Image.fromarray(layer, "RGBA").save(root.path(WORK) / "hints.png")
            settings["hints"] = WORK + "/hints.raw"
            cli_hints = ["--hints", WORK + "/hints.png"]
        root.path(WORK + "/settings.json").write_text(json.dumps(settings))
        script = (Path(__file__).resolve().parent / "bench_gimp_batch.py").read_bytes()
        batch = root.run(["gimp-console-3.0", "-i", "-n", "--batch-interpreter=python-fu-eval",
                          "-b", "-", "--quit"], timeout=600, stdin=script)
        if not root.path(settings["out"]).exists():
            raise RuntimeError("the GIMP batch wrote no result: "
                               + batch.stderr.decode(errors="replace").strip()[-300:])
        gimp = json.loads(root.path(settings["out"]).read_text())
        if any(s != "success" for s in gimp["statuses"]):
            raise RuntimeError(f"plug-in-colorize-ai did not succeed: {gimp['statuses']}")
        cli = []
        for _ in range(runs + 1):
            start = time.perf_counter()
            done = root.run([CLI, WORK + "/photo.png", "-m", model_id, "-o", WORK + "/cli",
                             "--overwrite", *cli_hints])
            cli.append(time.perf_counter() - start)
            if done.returncode:
                raise RuntimeError("the CLI failed: " + done.stderr.decode().strip()[-300:])
        shutil.rmtree(root.path(WORK), ignore_errors=True)
    return {"model": model_id, "width": width, "height": height, "hints": hints,
            "megapixels": width * height / 1e6, "runs": runs,
            "gimp_version": gimp["gimp_version"], "gimp_all": gimp["times"], "cli_all": cli,
            "gimp_s": statistics.median(gimp["times"][1:]), "cli_s": statistics.median(cli[1:]),
            "cli_says": done.stdout.decode(errors="replace").strip()}
