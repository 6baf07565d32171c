#!/usr/bin/env python3
"""Benchmark Colorize (AI) against what a user would otherwise run; write docs/BENCHMARKS.md.

    python3 tools/bench.py [--quick] [--runs 5]
                          [--only zhang siggraph17 keras engine gimp variants]
                          [--model ID] [--data FOLDER] [--cache DIR] [--out docs/BENCHMARKS.md]

Every time is the median of --runs runs after one warm-up; runs of the things compared
alternate, with a short pause before each, so a change in the machine's load hits both sides
alike and one runtime's spinning threads do not slow the other. Both sides get the same
number of threads: the machine's cores (ONNX Runtime intra-op threads, cv2.setNumThreads,
TensorFlow intra-op threads). --quick uses tiny models and inputs: it checks the tool, not
the speed. Generated inputs (synthetic weights, Keras files, converted models, variants) are
kept in --cache and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TOOLS, TESTS = REPO / "tools", REPO / "tests"
SHARED_ZHANG = REPO.parent / "shared" / "fixtures" / "zhang-eccv16"
CORES = os.cpu_count() or 1
# Between timed calls: ONNX Runtime's (and TensorFlow's) pool threads spin on after a run and
# slow down whatever runs next. Measured with ONNX Runtime 1.32, two sessions taking turns:
# 30 ms apart each ran 35 % slower than alone, 60 ms apart 7 %, from 100 ms on as fast.
PAUSE = 0.2
SECTIONS = ("zhang", "siggraph17", "keras", "engine", "gimp", "variants")
GENERATED_END = ("<!-- Everything above is written by tools/bench.py; "
                 "text below this line is kept. -->")
SAMPLE_PHOTOS = {"calibration": ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"),
                 "test": ("motorcycle_left.png", "hubble_deep_field.jpg", "retina.jpg")}
LIBRARIES = ("numpy", "onnxruntime", "onnx", "opencv-python-headless", "tensorflow-cpu",
             "tensorflow", "tf-keras", "scikit-image")

sys.path[:0] = [str(TOOLS), str(TESTS)]


def interleaved(fns: dict[str, Callable[[], object]], runs: int,
                pause: float = PAUSE) -> dict[str, float]:
    """Median seconds of each function: one warm-up each, then `runs` rounds in turn."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            time.sleep(pause)
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def machine() -> dict[str, str]:
    """CPU model, cores, memory, system and library versions."""
    cpu = platform.processor() or platform.machine()
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                have = set(line.split(":", 1)[1].split())
                flags = " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni",
                                             "amx_int8") if f in have)
        mem = next(line for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
        ram = f"{int(mem.split()[1]) / 2**20:.1f} GiB"
    except (OSError, StopIteration):
        ram = "unknown"
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    system = platform.platform()
    if Path("/etc/debian_version").exists():
        system += f" (Debian {Path('/etc/debian_version').read_text().strip()})"
    return {"cpu": cpu, "flags": flags, "cores": str(CORES), "ram": ram, "system": system,
            "python": platform.python_version(), "libraries": ", ".join(versions)}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


# ------------------------------------------------------------------------------------- Zhang

MINI_PROTOTXT = """name: "mini"
layer { name: "data_l" type: "Input" top: "data_l"
        input_param { shape { dim: 1 dim: 1 dim: 32 dim: 32 } } }
layer { name: "conv1" type: "Convolution" bottom: "data_l" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 stride: 2 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv8_313" type: "Convolution" bottom: "conv1" top: "conv8_313"
        convolution_param { num_output: 313 kernel_size: 1 } }
layer { name: "conv8_313_rh" type: "Scale" bottom: "conv8_313" top: "conv8_313_rh"
        scale_param { bias_term: false filler { type: "constant" value: 2.606 } } }
layer { name: "class8_313_rh" type: "Softmax" bottom: "conv8_313_rh" top: "class8_313_rh" }
layer { name: "class8_ab" type: "Convolution" bottom: "class8_313_rh" top: "class8_ab"
        convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "Silence" type: "Silence" bottom: "class8_ab" }
"""


def zhang_files(cache: Path, quick: bool) -> tuple[Path, Path, Path]:
    """(prototxt, caffemodel, hull): the published prototxt with synthetic weights in its
    exact architecture, or (--quick) a two-layer net with the same head."""
    import caffe_synth

    hull = SHARED_ZHANG / "pts_in_hull.npy"
    if not hull.exists():
        raise FileNotFoundError(f"{SHARED_ZHANG} (the published prototxt and bin centres) is "
                                "not beside the checkout")
    folder = cache / ("zhang-mini" if quick else "zhang")
    folder.mkdir(parents=True, exist_ok=True)
    caffemodel = folder / "colorization_release_v2.caffemodel"
    if quick:
        prototxt = folder / "mini.prototxt"
        prototxt.write_text(MINI_PROTOTXT)
        rng = np.random.default_rng(0)
        blobs = {"conv1": [rng.normal(0, 0.05, (8, 1, 3, 3)), rng.normal(0, 0.1, 8)],
                 "conv8_313": [rng.normal(0, 0.1, (313, 8, 1, 1)), rng.normal(0, 0.1, 313)]}
        caffe_synth.write_net(caffemodel, [caffe_synth.layer(name, "Convolution", [], [name], b)
                                           for name, b in blobs.items()])
    else:
        prototxt = SHARED_ZHANG / "colorization_deploy_v2.prototxt"
        if not caffemodel.exists():
            caffe_synth.write_zhang_caffemodel(caffemodel, np.load(hull).astype(np.float64))
    return prototxt, caffemodel, hull


def up_to_date(target: Path, *inputs: Path) -> bool:
    """Whether `target` exists and is newer than its inputs and every converter module."""
    converters = Path(__file__).resolve().parent / "converters"
    newest = max(p.stat().st_mtime for p in (*inputs, *converters.glob("*.py")))
    return target.exists() and target.stat().st_mtime >= newest


def converted_caffe(module: object, caffemodel: Path, *files: Path, winograd: bool = True
                    ) -> Path:
    """Our ONNX file of Caffe files by a converter module (zhang, siggraph17), as shipped or
    with direct convolutions, converted again when the weights or the converter changed."""
    from converters.common import save_model

    folder = caffemodel.parent / ("models" if winograd else "models-direct")
    target = folder / f"{module.MODEL_ID}.onnx"
    if not up_to_date(target, caffemodel):
        model = module.convert(*files, winograd=winograd)
        save_model(model, folder, module.manifest_entry(model))
    return target


def converted_zhang(prototxt: Path, caffemodel: Path, hull: Path, winograd: bool = True
                    ) -> Path:
    from converters import zhang

    return converted_caffe(zhang, caffemodel, prototxt, caffemodel, hull, winograd=winograd)


def bench_zhang(cache: Path, runs: int, quick: bool) -> dict:
    import cv2

    import caffe_synth
    from colorize_ai.session import create_session

    prototxt, caffemodel, hull = zhang_files(cache, quick)
    session, direct = (create_session(converted_zhang(prototxt, caffemodel, hull, w),
                                      device="cpu", threads=CORES).session for w in (True, False))
    cv2.setNumThreads(CORES)
    winograd = caffe_synth.opencv_zhang(prototxt, caffemodel, hull)
    winograd.enableWinograd(True)  # OpenCV's default, and what its sample runs
    exact = caffe_synth.opencv_zhang(prototxt, caffemodel, hull)  # Winograd off
    side = 32 if quick else 224
    x = caffe_synth.smooth_l(np.random.default_rng(1), side, side)[None, None]

    def opencv(net):
        def run():
            net.setInput(x)
            return net.forward()
        return run

    def ours(s):
        return lambda: s.run(["ab"], {"L": x})[0]

    times = interleaved({"ort": ours(session), "ort_direct": ours(direct),
                         "cv": opencv(winograd), "cv_exact": opencv(exact)}, runs)
    ab, ab_direct = ours(session)(), ours(direct)()
    return {"side": side, "times": times, "quick": quick,
            "delta": float(np.abs(ab - opencv(winograd)()).max()),
            "delta_exact": float(np.abs(ab - opencv(exact)()).max()),
            "delta_direct": float(np.abs(ab_direct - opencv(winograd)()).max()),
            "delta_direct_exact": float(np.abs(ab_direct - opencv(exact)()).max()),
            "model_dir": str(caffemodel.parent / "models")}


# -------------------------------------------------------------------------------- SIGGRAPH 17

def bench_siggraph17(cache: Path, runs: int, quick: bool) -> dict:
    """ONNX Runtime (both forms) against OpenCV dnn (Winograd on and off) on the same synthetic
    Caffe files of the published architecture, with hints, at 256x256 (--quick: 64x64)."""
    import cv2

    import caffe_synth
    from colorize_ai.session import create_session
    from converters import siggraph17

    prototxt = caffe_synth.SHARED_SIGGRAPH17 / "deploy_nodist.prototxt"
    if not prototxt.exists():
        raise FileNotFoundError(f"{prototxt} (the published prototxt) is not beside the checkout")
    folder = cache / "siggraph17"
    folder.mkdir(parents=True, exist_ok=True)
    caffemodel = folder / "model.caffemodel"
    if not caffemodel.exists():
        caffe_synth.write_siggraph17_caffemodel(caffemodel)
    start = time.perf_counter()
    paths = [converted_caffe(siggraph17, caffemodel, prototxt, caffemodel, winograd=w)
             for w in (True, False)]
    convert_s = time.perf_counter() - start  # 0 when both were up to date
    session, direct = (create_session(p, device="cpu", threads=CORES).session for p in paths)
    cv2.setNumThreads(CORES)
    nets = {w: caffe_synth.opencv_siggraph17(prototxt, caffemodel, winograd=w)
            for w in (True, False)}
    side = 64 if quick else 256
    rng = np.random.default_rng(2)
    plane = caffe_synth.smooth_l(rng, side, side)
    ab, mask = caffe_synth.random_hints(rng, side, side)
    feeds = {"L": plane[None, None], "ab_hint": ab[None], "mask": mask[None]}
    blob = caffe_synth.siggraph17_input(plane, ab, mask)

    def opencv(net):
        def run():
            net.setInput(blob)
            return net.forward("pred_ab")
        return run

    def ours(s):
        return lambda: s.run(["ab"], feeds)[0]

    times = interleaved({"ort": ours(session), "ort_direct": ours(direct),
                         "cv": opencv(nets[True]), "cv_exact": opencv(nets[False])}, runs)
    reference = opencv(nets[False])()
    return {"side": side, "times": times, "convert_s": convert_s,
            "delta": float(np.abs(ours(session)() - reference).max()),
            "delta_direct": float(np.abs(ours(direct)() - reference).max()),
            "spread": float(np.abs(opencv(nets[True])() - reference).max()),
            "model_dir": str(paths[0].parent)}


# ------------------------------------------------------------------------------------- Keras

def keras_child(cache: Path, runs: int, quick: bool) -> dict:
    """In a child process: ONNX Runtime against TensorFlow on the same .h5 files."""
    # TensorFlow at its fastest on x86 (oneDNN, its default), not the tests' exact kernels.
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf

        import keras_models as km
    except ImportError as exc:
        return {"error": f"TensorFlow/TF-Keras is not importable here ({exc}); install "
                         "tensorflow-cpu and tf-keras (tools/README.md, Keras section)"}
    import convert_models
    from colorize_ai.session import create_session

    tf.config.threading.set_intra_op_parallelism_threads(CORES)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    folder = cache / ("keras-mini" if quick else "keras")
    models = folder / "models"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    side = 64 if quick else 256
    rows = []

    baseline_h5 = folder / f"baseline_{side}.h5"
    baseline = km.baseline_exact((side, side))
    km.randomize(baseline, seed=3, first_conv_scale=0.02)  # raw L in: keep tanh unsaturated
    if not baseline_h5.exists():
        baseline.save(baseline_h5)
    if not up_to_date(models / "baseline-bench.onnx", baseline_h5):
        assert convert_models.main(["baseline", str(baseline_h5), "-o", str(models),
                                    "--id", "baseline-bench"]) == 0
    sess = create_session(models / "baseline-bench.onnx", device="cpu", threads=CORES).session
    x = rng.uniform(0, 100, (1, side, side, 1)).astype(np.float32)
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    tf_baseline = tf.function(lambda t: baseline(t, training=False))
    xt = tf.constant(x)
    times = interleaved({"ort": lambda: sess.run(["ab"], {"L": x_nchw}),
                         "tf": lambda: tf_baseline(xt).numpy()}, runs)
    # Apart: predict's per-call set-up leaves TensorFlow threads busy into the next timing.
    times |= interleaved({"tf_predict": lambda: baseline.predict(x, verbose=0)}, runs)
    delta = np.abs(sess.run(["ab"], {"L": x_nchw})[0].transpose(0, 2, 3, 1)
                   - tf_baseline(xt).numpy()).max()
    rows.append({"name": "baseline (exact 231,682-parameter architecture)",
                 "input": f"{side}x{side}", "times": times, "delta": float(delta)})

    if not quick:
        rows.append(_fusion(tf, km, convert_models, create_session, folder, models, runs, rng))
    return {"rows": rows, "model_dir": str(models)}


def _fusion(tf, km, convert_models, create_session, folder, models, runs, rng) -> dict:
    """Fusion (Wallner preset, 1000-class Inception-ResNet-v2) at 256 x 256: ONNX Runtime's
    one graph against TensorFlow running Inception and then the fusion network."""
    inception_h5, fusion_h5 = folder / "inception_1000.h5", folder / "fusion_wallner.h5"
    inception = km.inception(1000)
    fusion = km.fusion((256, 256), 1000, "wallner")
    if not inception_h5.exists():
        km.randomize(inception, seed=4, dense_scale=3.0)
        inception.save(inception_h5)
    else:
        inception.load_weights(inception_h5)
    if not fusion_h5.exists():
        km.randomize(fusion, seed=6, first_conv_scale=0.02)
        fusion.save(fusion_h5)
    else:
        fusion.load_weights(fusion_h5)
    if not up_to_date(models / "fusion-bench.onnx", fusion_h5, inception_h5):
        assert convert_models.main(["fusion", str(fusion_h5), "--inception", str(inception_h5),
                                    "-o", str(models), "--id", "fusion-bench"]) == 0
    sess = create_session(models / "fusion-bench.onnx", device="cpu", threads=CORES).session
    v = rng.uniform(0, 1, (299, 299)).astype(np.float32)  # the grey photo, [0, 1]
    # Raw L of that grey photo (the ONNX graph turns it back into v itself).
    lin = np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)
    l_embed = np.where(lin > 216 / 24389, 116 * np.cbrt(lin) - 16, lin * 24389 / 27)
    x = rng.uniform(0, 1, (1, 256, 256, 1)).astype(np.float32)
    feeds = {"L": np.ascontiguousarray(x.transpose(0, 3, 1, 2)),
             "L_embed": l_embed.astype(np.float32)[None, None]}
    # Wallner's code: Keras' preprocess_input on a [0, 1] image, grey stacked to 3 channels.
    rgb = tf.constant(np.repeat((v / 127.5 - 1.0)[None, :, :, None], 3, axis=3))
    xt = tf.constant(x)
    both = tf.function(lambda t, image: fusion([t, inception(image, training=False)],
                                               training=False))
    rgb_array = rgb.numpy()

    def predict():  # as Wallner's notebook does it: the embedding, then the fusion network
        return fusion.predict([x, inception.predict(rgb_array, verbose=0)], verbose=0)

    times = interleaved({"ort": lambda: sess.run(["ab"], feeds),
                         "tf": lambda: both(xt, rgb).numpy()}, runs)
    times |= interleaved({"tf_predict": predict}, runs)
    delta = np.abs(sess.run(["ab"], feeds)[0].transpose(0, 2, 3, 1) - both(xt, rgb).numpy()).max()
    return {"name": "fusion (Wallner; with its Inception-ResNet-v2 embedding at 299x299)",
            "input": "256x256 + 299x299", "times": times, "delta": float(delta)}


def bench_keras(cache: Path, runs: int, quick: bool) -> dict:
    cmd = [sys.executable, __file__, "--child-keras", "--cache", str(cache), "--runs", str(runs)]
    run = subprocess.run(cmd + (["--quick"] if quick else []), capture_output=True, text=True)
    if run.returncode:
        return {"error": "the Keras benchmark failed: " + (run.stderr.strip().splitlines()
                                                           or ["no output"])[-1]}
    return json.loads(run.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ engine

def engine_model(requested: str | None, fallbacks: list[tuple[str, str]]) -> tuple[str, str]:
    """(model id, models folder or "") for the end-to-end rows: --model, the default installed
    model, else a model this run converted."""
    from colorize_ai.errors import ModelMissing
    from colorize_ai.registry import get_spec

    if requested:
        return requested, ""
    try:
        return get_spec(None).id, ""
    except ModelMissing:
        pass
    for model_id, folder in fallbacks:
        if (Path(folder) / f"{model_id}.onnx").exists():
            return model_id, folder
    raise RuntimeError("no model is installed and none was converted by this run")


def model_env(folder: str) -> dict[str, str]:
    env = dict(os.environ)
    if folder:
        env["COLORIZE_AI_MODELS"] = folder
    return env


def bench_engine(model_id: str, folder: str, sizes: list[float], runs: int) -> dict:
    import bench_pipeline

    return {"model": model_id,
            "results": bench_pipeline.run_sizes(sizes, runs + 1, model_id, model_env(folder))}


# -------------------------------------------------------------------------------------- GIMP

def bench_gimp(model_id: str, folder: str, megapixels: float, runs: int) -> dict:
    """Headless GIMP 3 (the tests' Debian 13 root) against the CLI in the same root."""
    import bench_gimp

    return bench_gimp.measure(model_id, folder, megapixels, runs)


# ---------------------------------------------------------------------------------- variants

def photo_folders(data: Path, cache: Path) -> tuple[Path, Path, str]:
    """(calibration, test, description): the training and test photos of tools/dataset.py, or
    scikit-image's sample photos copied into the cache."""
    if (data / "train").is_dir() and (data / "test").is_dir():
        return data / "train", data / "test", f"{data}/train (calibration), {data}/test (test)"
    import skimage

    source = Path(skimage.__file__).parent / "data"
    folders = []
    for split, names in SAMPLE_PHOTOS.items():
        target = cache / "photos" / split
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(source / name, target / name)
        folders.append(target)
    return folders[0], folders[1], "scikit-image sample photos (" + ", ".join(
        f"{k}: {' '.join(v)}" for k, v in SAMPLE_PHOTOS.items()) + ")"


def bench_variants(targets: list[tuple[str, str, str, int]], data: Path, cache: Path,
                   runs: int) -> dict:
    """int8 and fp16 of each (model id, folder, calibration method, calibration photos)."""
    from colorize_ai.model import load_model
    from colorize_ai.registry import Catalogue, get_spec
    from converters.quantize import make_variant, model_feeds, read_photos

    calibration, test, photos = photo_folders(data, cache)
    rows = []
    for model_id, folder, method, count in targets:
        work = cache / "variants" / model_id
        if work.exists():
            shutil.rmtree(work)
        kinds = ["int8", "fp16"]
        entries = {}
        for precision in kinds:
            _, entries[precision] = make_variant(
                model_id, precision, test, calibration, models=folder or None, out=work,
                method=method, photos=count)
        fp32 = load_model(model_id, device="cpu", threads=CORES,
                          folders=[folder] if folder else None, variant="exact")
        variants = {p: load_model(e["id"], device="cpu", threads=CORES, folders=[work])
                    for p, e in entries.items()}
        feeds = model_feeds(fp32, read_photos(test, 1)[0])
        times = interleaved({p: (lambda m=m, f=feeds: m.info.session.run(None, f))
                             for p, m in {"fp32": fp32, **variants}.items()}, runs)
        shape = "x".join(str(d) for d in feeds["L"].shape[2:])
        base = get_spec(model_id, [folder] if folder else None)
        auto = {device: Catalogue.read([work]).choose(base, "auto", device).id
                for device in ("cpu", "cuda")}
        rows.append({"model": model_id, "input": shape, "times": times,
                     "fidelity": {p: e["fidelity"] for p, e in entries.items()},
                     "entries": entries, "auto": auto})
    return {"rows": rows, "photos": photos}


# ---------------------------------------------------------------------------------- document

def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x"


def _section(title: str, r: dict | None, body: Callable[[dict], list[str]]) -> list[str]:
    """One report section: its heading, then its body, or why it was not measured."""
    out = [f"## {title}", ""]
    if not r or "error" in r:
        return out + [f"Not measured: {(r or {}).get('error', 'not run (--only)')}.", ""]
    return out + body(r) + [""]


def render_header(info: dict, args: argparse.Namespace, elapsed: float) -> list[str]:
    m = info["machine"]
    return ["# Benchmarks", "",
            "Written by `tools/bench.py` from one run; every time is the median of "
            f"{args.runs} runs after a warm-up, in seconds; the runs of the things compared "
            f"alternate, with a {PAUSE * 1000:.0f} ms pause before each (so that one runtime's "
            "spinning pool threads do not slow the next).", "",
            "```sh", info["command"], "```", "",
            f"- Run: {info['date']}, whole benchmark {elapsed / 60:.1f} min"
            + (" (--quick: tiny models, not a measurement of speed)" if args.quick else ""),
            f"- Machine: {m['cpu']} ({m['flags']}), {m['cores']} cores, {m['ram']} RAM; "
            f"{m['system']}; Python {m['python']}",
            f"- Libraries: {m['libraries']}",
            f"- Load (uptime's 1, 5, 15 min averages): {info['load_start']} at the start, "
            f"{info['load_end']} at the end",
            f"- Threads: {CORES} for everything (ONNX Runtime `intra_op_num_threads`, OpenCV "
            "`cv2.setNumThreads`, TensorFlow intra-op threads; TensorFlow inter-op 1)",
            f"- CUDA: {info['cuda']}", ""]


def render_zhang(z: dict, quick: bool, targets: list) -> list[str]:
    t = z["times"]
    what = ("A two-layer net with Zhang's decoding head (--quick)" if quick else
            "Synthetic weights in the exact architecture of the published "
            "`colorization_deploy_v2.prototxt` (`tests/caffe_synth.py`)")
    out = [what + ", the same Caffe files "
           "for both: OpenCV reads them with `readNetFromCaffe` and sets `class8_ab` and "
           "`conv8_313_rh` as its colorization sample does; ours is "
           "`tools/convert_models.py zhang` of them (as shipped: its wide 3x3 "
           "convolutions in Winograd F(4x4, 3x3) form; and with `--direct-convolutions`), "
           "run through the engine's session.", "",
           f"| {z['side']}x{z['side']} | ONNX Runtime (ours) | OpenCV dnn | speed-up | "
           "max \\|Δab\\| |",
           "|---|---|---|---|---|"]
    for ours, key, delta in (("as shipped (Winograd)", "ort", "delta"),
                             ("direct convolutions", "ort_direct", "delta_direct")):
        for cv, cv_key, suffix in (("default (Winograd on)", "cv", ""),
                                   ("Winograd off", "cv_exact", "_exact")):
            out.append(f"| ours {ours}, OpenCV {cv} | {t[key]:.3f} | {t[cv_key]:.3f} | "
                       f"{_ratio(t[cv_key], t[key])} | {z[delta + suffix]:.1e} |")
    targets.append(("ONNX Runtime fp32 vs OpenCV dnn (Zhang, default OpenCV)", "≥ 1.30x",
                    t["cv"] / t["ort"], t["cv"] / t["ort"] >= 1.3))
    return out


def render_siggraph17(r: dict, targets: list) -> list[str]:
    t = r["times"]
    out = ["Synthetic weights in the exact architecture of the published "
           "`deploy_nodist.prototxt` (`tests/caffe_synth.py`), 12 hint squares; the same Caffe "
           "files for both: OpenCV reads them with `readNetFromCaffe` and is fed the reference "
           "code's `data_l_ab_mask` (mask x 110); ours is `tools/convert_models.py siggraph17` "
           "of them (as installed: 17 wide 3x3 convolutions in Winograd form; and with "
           "`--direct-convolutions`), run through the engine's session. max |Δab| is against "
           f"OpenCV with Winograd off; OpenCV's own Winograd-on vs -off spread: "
           f"{r['spread']:.1e}.", "",
           f"| {r['side']}x{r['side']} | seconds | OpenCV default (Winograd on) / this | "
           "max \\|Δab\\| |", "|---|---|---|---|"]
    rows = (("ONNX Runtime, as installed (Winograd)", "ort", f"{r['delta']:.1e}"),
            ("ONNX Runtime, direct convolutions", "ort_direct", f"{r['delta_direct']:.1e}"),
            ("OpenCV dnn, default (Winograd on)", "cv", f"{r['spread']:.1e}"),
            ("OpenCV dnn, Winograd off", "cv_exact", "0 (reference)"))
    for name, key, delta in rows:
        out.append(f"| {name} | {t[key]:.3f} | {_ratio(t['cv'], t[key])} | {delta} |")
    if r.get("convert_s"):
        out += ["", f"Conversion of both forms: {r['convert_s']:.0f} s."]
    targets.append(("ONNX Runtime fp32 vs OpenCV dnn (SIGGRAPH 2017, default OpenCV)",
                    "≥ 1.00x", t["cv"] / t["ort"], t["cv"] / t["ort"] >= 1.0))
    return out


def render_keras(k: dict, targets: list) -> list[str]:
    out = ["The same `.h5` for both (`tests/keras_models.py`, seeded random weights); ours "
           "is `tools/convert_models.py baseline|fusion` of it. TensorFlow runs the Keras "
           "model inside `tf.function` (graph mode, its fastest single-image path) with "
           "oneDNN on, its default on x86; the targets below use this. For reference, "
           "the last two columns time Keras' `model.predict`, the way the models' own "
           "notebooks call them (it adds Keras' per-call set-up).", "",
           "| model | input | ONNX Runtime (ours) | TensorFlow | speed-up | max \\|Δ\\| | "
           "TensorFlow `predict` | speed-up |",
           "|---|---|---|---|---|---|---|---|"]
    for r in k["rows"]:
        t = r["times"]
        predict = (f"{t['tf_predict']:.3f} | {_ratio(t['tf_predict'], t['ort'])}"
                   if "tf_predict" in t else "- | -")
        out.append(f"| {r['name']} | {r['input']} | {t['ort']:.3f} | {t['tf']:.3f} | "
                   f"{_ratio(t['tf'], t['ort'])} | {r['delta']:.1e} | {predict} |")
        targets.append((f"ONNX Runtime vs TensorFlow ({r['name'].split(' ')[0]})", "≥ 2.00x",
                        t["tf"] / t["ort"], t["tf"] / t["ort"] >= 2.0))
    return out


def render_engine(e: dict, z12: dict | None, targets: list) -> list[str]:
    import bench_pipeline

    r0 = e["results"][0]
    out = [f"`colorize()` of an RGBA uint8 photo with smooth content, model "
           f"`{r0['model']}` on {r0['provider']}, each size in a fresh process "
           "(`tools/bench_pipeline.py`); peak RSS is the process's high-water mark.", ""]
    out += bench_pipeline.table(e["results"])
    z12 = z12 if z12 and "error" not in z12 else None
    if z12:
        out += ["", f"The same at 12 MP with the catalogue model `{z12['model']}` (synthetic "
                "weights of the published architecture, 224 px input):", ""]
        out += bench_pipeline.table(z12["results"])
    for r in e["results"] + (z12 or {}).get("results", []):
        other = (r["total_s"] - r["model_s"]) / r["total_s"]
        if round(r["megapixels"]) == 12:
            targets.append((f"12 MP ({r['model']}): everything except the model, share of "
                            "total", "≤ 25 %", other * 100, other <= 0.25))
        if round(r["megapixels"]) == 100:
            targets.append(("100 MP: peak RSS (MB)", "≤ 1536 MB", r["peak_rss_mb"],
                            r["peak_rss_mb"] <= 1536))
    return out


def render_gimp(g: dict, e: dict | None, targets: list) -> list[str]:
    out = [f"A {g['width']}x{g['height']} ({g['megapixels']:.1f} MP) grey RGB photo, model "
           f"`{g['model']}`, in GIMP {g['gimp_version']} (`gimp-console-3.0`, the Debian 13 "
           "root of `tests/gimp/rootfs.py`) with the plug-in and its engine installed by "
           "`installer.py`. GIMP: from `plug-in-colorize-ai`'s procedure call to its "
           "return with the layer written (the photo is loaded before the clock starts). "
           "CLI: `colorize-ai PHOTO -o DIR` from the same installation on the same file, "
           "the whole process. Medians of "
           f"{g['runs']} runs after a warm-up each.", "",
           "| path | seconds |", "|---|---|",
           f"| GIMP procedure call -> layer written | {g['gimp_s']:.2f} |",
           f"| CLI, whole process (read PNG, colorize, write PNG) | {g['cli_s']:.2f} |",
           f"| overhead of the GIMP path | {g['gimp_s'] - g['cli_s']:+.2f} |"]
    same = [r for r in (e or {}).get("results", [])
            if round(r["megapixels"]) == round(g["megapixels"])]
    if same:  # what the GIMP path adds to the engine's own work: start, copies, the layer
        out.append(f"| GIMP path minus the engine's `colorize()` of a "
                   f"{g['megapixels']:.0f} MP photo (table above, {same[0]['total_s']:.2f} s)"
                   f" | {g['gimp_s'] - same[0]['total_s']:+.2f} |")
    targets.append(("GIMP path overhead against the CLI (s)", "≤ 1.5 s",
                    g["gimp_s"] - g["cli_s"], g["gimp_s"] - g["cli_s"] <= 1.5))
    return out


def render_variants(v: dict, targets: list) -> list[str]:
    out = ["`tools/convert_models.py quantize int8|fp16` (`tools/converters/quantize.py`): "
           "int8 is ONNX Runtime static quantization, QDQ, per-channel int8 weights in a "
           "7-bit range (exact on CPUs without VNNI), uint8 activations calibrated on the "
           "model's own inputs; fp16 keeps float32 inputs and "
           "outputs. Fidelity: CIEDE2000 (`skimage.color.deltaE_ciede2000`) of the engine's "
           "final RGB against the fp32 model over every pixel of the test photos (shrunk to "
           f"1024 px). Photos: {v['photos']}. Speed: the model alone at its default input, "
           f"on the CPU (fp16 is meant for CUDA; on this CPU ONNX Runtime has no fast fp16 "
           "kernels, so its CPU time says nothing about a GPU).", "",
           "| model | variant | input | seconds | speed-up vs fp32 | mean ΔE00 | p99 ΔE00 | "
           "max ΔE00 |", "|---|---|---|---|---|---|---|---|"]
    for r in v["rows"]:
        t = r["times"]
        out.append(f"| {r['model']} | fp32 | {r['input']} | {t['fp32']:.4f} | 1.00x | 0 | 0 "
                   "| 0 |")
        for p, f in r["fidelity"].items():
            out.append(f"| {r['model']} | {p} | {r['input']} | {t[p]:.4f} | "
                       f"{_ratio(t['fp32'], t[p])} | {f['mean_de00']:.3f} | "
                       f"{f['p99_de00']:.3f} | {f['max_de00']:.2f} |")
        f8 = r["fidelity"]["int8"]
        ok = t["fp32"] / t["int8"] >= 2 and f8["mean_de00"] <= 1 and f8["p99_de00"] <= 3
        targets.append((f"int8 vs fp32 ({r['model']}): speed-up; mean, p99 ΔE00",
                        "≥ 2x; ≤ 1.0, ≤ 3.0",
                        f"{t['fp32'] / t['int8']:.2f}x; {f8['mean_de00']:.2f}, "
                        f"{f8['p99_de00']:.2f}", ok))
    out += ["", "What the registry's `auto` variant (the CLI's and the plug-in's default) "
            "runs, from the fidelity measured above (a fast copy only with mean ΔE00 ≤ 1.0 "
            "and p99 ≤ 3.0):", ""]
    return out + [f"- {r['model']}: `{r['auto']['cpu']}` on the CPU, `{r['auto']['cuda']}` "
                  "with CUDA" for r in v["rows"] if "auto" in r]


def render_targets(targets: list) -> list[str]:
    out = ["## Targets", "", "| target | limit | measured | met |", "|---|---|---|---|"]
    for name, limit, value, ok in targets:
        shown = value if isinstance(value, str) else (
            f"{value:.2f}x" if limit.endswith("x") else f"{value:.2f}")
        out.append(f"| {name} | {limit} | {shown} | {'yes' if ok else 'no'} |")
    return out


def render(info: dict, results: dict, args: argparse.Namespace, elapsed: float,
           kept: str) -> str:
    """The generated part of BENCHMARKS.md: the run, one section per benchmark, the targets;
    `kept` (the hand-written rest) follows."""
    targets: list = []  # (name, limit, measured, met), filled in by the sections
    e = results.get("engine")
    out = render_header(info, args, elapsed)
    out += _section("Zhang et al. ECCV 2016: ONNX Runtime against OpenCV's cv2.dnn",
                    results.get("zhang"), lambda r: render_zhang(r, args.quick, targets))
    out += _section("Zhang et al. SIGGRAPH 2017: ONNX Runtime against OpenCV's cv2.dnn",
                    results.get("siggraph17"), lambda r: render_siggraph17(r, targets))
    out += _section("Keras models: ONNX Runtime against TensorFlow", results.get("keras"),
                    lambda r: render_keras(r, targets))
    out += _section("Pipeline (engine) on big photos", e,
                    lambda r: render_engine(r, results.get("engine_zhang"), targets))
    out += _section("The GIMP path: headless GIMP 3 against the CLI", results.get("gimp"),
                    lambda r: render_gimp(r, e, targets))
    out += _section("Faster variants: int8 (CPU) and fp16 (CUDA)", results.get("variants"),
                    lambda r: render_variants(r, targets))
    out += render_targets(targets) + ["", GENERATED_END]
    return "\n".join(out) + (kept or "\n")


def kept_text(path: Path) -> str:
    """What follows the generated part of an existing document."""
    if not path.exists():
        return ""
    text = path.read_text(encoding="utf-8")
    return text.split(GENERATED_END, 1)[1] if GENERATED_END in text else ""


def cuda_note() -> str:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        return "a CUDA execution provider is present, but this tool's CUDA rows are not written yet"
    return ("no CUDA rows: this ONNX Runtime build has no CUDA execution provider and the "
            "machine has no GPU")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny models: check the tool")
    parser.add_argument("--runs", type=int, default=7, help="timed runs after the warm-up")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--model", help="engine model id (default: the default installed one)")
    parser.add_argument("--sizes", type=float, nargs="+", help="engine photo sizes, megapixels")
    parser.add_argument("--gimp-mp", type=float, default=12.0, help="GIMP photo size")
    parser.add_argument("--data", type=Path, default=Path("/work/cache/data"),
                        help="photos of tools/dataset.py (train/, test/) for the variants")
    parser.add_argument("--cache", type=Path,
                        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                        / "colorize-ai" / "bench")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--child-keras", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.child_keras:
        print(json.dumps(keras_child(args.cache, args.runs, args.quick)))
        return 0

    start = time.time()
    info = {"machine": machine(), "load_start": load(), "cuda": cuda_note(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": "python3 tools/bench.py " + " ".join(argv if argv is not None
                                                             else sys.argv[1:])}
    results: dict = {}
    sizes = args.sizes or ([0.05] if args.quick else [1, 12, 50, 100])

    def section(name: str, fn: Callable[[], dict]) -> None:
        if name not in args.only:
            return
        t = time.time()
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        try:
            results[name] = fn()
        except Exception as exc:  # one failing section must not lose the others' numbers
            results[name] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
        print(f"[{name}] {time.time() - t:.0f} s", file=sys.stderr, flush=True)

    section("zhang", lambda: bench_zhang(args.cache, args.runs, args.quick))
    section("siggraph17", lambda: bench_siggraph17(args.cache, args.runs, args.quick))
    section("keras", lambda: bench_keras(args.cache, args.runs, args.quick))
    fallbacks = [("baseline-bench", results.get("keras", {}).get("model_dir", "")),
                 ("zhang-eccv16", results.get("zhang", {}).get("model_dir", ""))]
    try:
        chosen = engine_model(args.model, fallbacks)
    except RuntimeError as exc:
        chosen = None
        for name in ("engine", "gimp", "variants"):
            results[name] = {"error": str(exc)}
    if chosen:
        section("engine", lambda: bench_engine(*chosen, sizes, args.runs))
        zhang_dir = results.get("zhang", {}).get("model_dir")
        if ("engine" in args.only and zhang_dir and not args.quick
                and chosen[0] != "zhang-eccv16" and 12 in sizes):
            # The 12 MP share with a model of the cost the target was written for.
            try:
                results["engine_zhang"] = bench_engine("zhang-eccv16", zhang_dir, [12], args.runs)
            except Exception as exc:  # the main table stands without it
                results["engine_zhang"] = {"error": f"{type(exc).__name__}: {exc}"}
        if args.quick:
            results["gimp"] = {"error": "skipped in --quick (GIMP starts take tens of seconds)"}
        else:
            section("gimp", lambda: bench_gimp(*chosen, args.gimp_mp, 3))
        # The synthetic Zhang weights say nothing about fidelity: its row is for the speed.
        targets = [(*chosen, "minmax" if args.quick else "percentile", 4 if args.quick else 32)]
        if not args.quick and results.get("zhang", {}).get("model_dir"):
            targets.append(("zhang-eccv16", results["zhang"]["model_dir"], "minmax", 8))
        section("variants", lambda: bench_variants(targets, args.data, args.cache, args.runs))
    info["load_end"] = load()
    elapsed = time.time() - start
    text = render(info, results, args, elapsed, kept_text(args.out))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps({"info": info, "results": results}, indent=2,
                                        default=str))
    print(text.split(GENERATED_END)[0])
    print(f"wrote {args.out} ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
