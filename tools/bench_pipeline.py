#!/usr/bin/env python3
"""Time and measure the engine's colorize() on big photos: per-stage times and peak memory.

    python3 tools/bench_pipeline.py [--model ID] [--sizes 1 12 50 100] [--runs 3] [--hints]
        [--interpolation bilinear edge-aware]

Each size runs in a fresh process, so its peak RSS (the kernel's high-water mark) belongs
to that size alone. The photo is an RGBA uint8 image with smooth content; the first run
is a warm-up and the median of the others is reported.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time


def _photo(megapixels: float):
    import numpy as np

    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(megapixels * 1e6 / width))
    rows = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    cols = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    image = np.empty((height, width, 4), np.uint8)
    for c in range(3):  # built channel by channel so the set-up itself stays small
        image[..., c] = ((rows * (c + 1) + cols) % 256).astype(np.uint8)
    image[..., 3] = 255
    return image


def _hints(image):
    """A hints layer for `image`: 30 round dots of 40 px in 6 colours, soft-edged, on a
    transparent layer, as an editor paints them."""
    import cv2
    import numpy as np

    height, width = image.shape[:2]
    hints = np.zeros((height, width, 4), np.uint8)
    rng = np.random.default_rng(0)
    colours = [(200, 40, 40), (40, 90, 200), (60, 160, 60), (220, 200, 60), (150, 80, 40),
               (240, 180, 170)]
    for i in range(30):
        centre = (int(rng.integers(width)), int(rng.integers(height)))
        cv2.circle(hints, centre, 20, (*colours[i % 6], 255), -1, lineType=cv2.LINE_AA)
    return hints


def _peak_rss_mb() -> float:
    """This process's memory high-water mark. VmHWM belongs to the process image since exec;
    ru_maxrss also keeps the parent's high-water mark from before the fork."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model_id: str | None, megapixels: float, runs: int, hints: bool = False,
            interpolation: str | None = None) -> dict:
    """In this process: colorize a photo `runs` times (with a hints layer if asked; with the
    default interpolation unless one is given); times and peak RSS."""
    from colorize_ai.model import load_model
    from colorize_ai.pipeline import colorize

    model = load_model(model_id, device="cpu", variant="exact")
    image = _photo(megapixels)
    hint_layer = _hints(image) if hints else None
    rss_before = _peak_rss_mb()
    samples = []
    for _ in range(runs):
        timings: dict = {}
        start = time.perf_counter()
        out = colorize(image, model, hints=hint_layer, timings=timings,
                       **({"interpolation": interpolation} if interpolation else {}))
        timings["wall"] = time.perf_counter() - start
        samples.append(timings)
        del out
    timed = samples[1:] or samples
    median = {k: statistics.median(s[k] for s in timed) for k in timed[0]}
    return {"megapixels": image.shape[0] * image.shape[1] / 1e6, "hints": hints,
            "interpolation": interpolation,
            "shape": list(image.shape), "model": model.spec.id, "provider": model.provider,
            "input_mb": image.nbytes / 1e6, "rss_before_mb": rss_before,
            "peak_rss_mb": _peak_rss_mb(),
            **{f"{k}_s": v for k, v in median.items()}}


def run_sizes(sizes: list[float], runs: int, model: str | None = None,
              env: dict[str, str] | None = None, hints: bool = False,
              interpolations: list[str] | None = None) -> list[dict]:
    """measure() for each size (and interpolation, taking turns), each in a fresh process
    (own peak RSS)."""
    results = []
    for size in sizes:
        for interpolation in interpolations or [None]:
            cmd = [sys.executable, __file__, "--child", str(size), "--runs", str(runs)]
            if model:
                cmd += ["--model", model]
            if hints:
                cmd.append("--hints")
            if interpolation:
                cmd += ["--interpolation", interpolation]
            run = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            results.append(json.loads(run.stdout.strip().splitlines()[-1]))
    return results


def table(results: list[dict]) -> list[str]:
    """Markdown table lines, then one line of per-stage medians."""
    lines = ["| photo | total (s) | model (s) | everything else (s) | other share | "
             "input (MB) | peak RSS (MB) |", "|---|---|---|---|---|---|---|"]
    for r in results:
        other = r["total_s"] - r["model_s"]
        with_hints = " + hints layer" if r.get("hints") else ""
        if r.get("interpolation"):
            with_hints += f", {r['interpolation']}"
        lines.append(f"| {r['megapixels']:.0f} MP {r['shape'][1]}x{r['shape'][0]} RGBA u8"
                     f"{with_hints} | "
                     f"{r['total_s']:.2f} | {r['model_s']:.3f} | {other:.2f} | "
                     f"{100 * other / r['total_s']:.0f} % | {r['input_mb']:.0f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    lines.append("\nstages (median, s): " + "; ".join(
        f"{r['megapixels']:g} MP: prepare {r['prepare_s']:.2f}, model {r['model_s']:.3f}, "
        + (f"hints {r['hints_s']:.3f}, " if "hints_s" in r else "")
        + f"compose {r['compose_s']:.2f}" for r in results))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model id (default: the default installed model)")
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 12, 50, 100],
                        help="photo sizes in megapixels")
    parser.add_argument("--runs", type=int, default=3, help="runs per size, first is warm-up")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--hints", action="store_true", help="with a hints layer (30 dots)")
    parser.add_argument("--interpolation", nargs="+",
                        help="interpolations to compare, in turn (default: the default one)")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child is not None:
        interpolation = args.interpolation[0] if args.interpolation else None
        print(json.dumps(measure(args.model, args.child, args.runs, args.hints, interpolation)))
        return 0

    results = run_sizes(args.sizes, args.runs, args.model, hints=args.hints,
                        interpolations=args.interpolation)
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{platform.python_implementation()} {platform.python_version()}; "
          f"model {results[0]['model']} on {results[0]['provider']}")
    print("\n".join(table(results)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
