"""The Keras converters (`baseline`, `fusion`) against Keras itself: same output within 1e-4.

The .h5 files are written by TF-Keras (Keras 2 layout, as real checkpoints of these families)
and, for one baseline, by Keras 3's legacy writer, all with random weights.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import convert_models  # noqa: E402
from converters.common import ConversionError  # noqa: E402
from converters.keras_h5 import parse_model_config  # noqa: E402
from toolbox import sha256_file  # noqa: E402

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOLERANCE = 1e-4
OTHER_SIZE = (192, 320)  # besides 256 x 256; divisible by 8 (the fusion encoder's stride)


@pytest.fixture(scope="session")
def km():
    """The Keras model builders; skip (with what to install) where TensorFlow is missing."""
    try:
        import keras_models
    except ImportError as exc:
        pytest.skip(f"{exc.name} is not installed; the Keras fidelity tests need TensorFlow and "
                    "TF-Keras (see tools/README.md, 'Keras models')")
    return keras_models


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keras")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)  # the Inception files are 220 MB each


def convert(*argv: str) -> None:
    assert convert_models.main(list(argv)) == 0


def session(path: Path, extra_outputs: tuple[str, ...] = ()) -> ort.InferenceSession:
    model = onnx.load(str(path))
    for name in extra_outputs:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                                     None))
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def nchw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def report(name: str, delta: float) -> None:
    print(f"max |delta| {name}: {delta:.3g}")


def check_against_keras(sess, keras_at, inputs_at, name: str) -> None:
    """At 256 x 256 and OTHER_SIZE: the ONNX output equals Keras' within TOLERANCE."""
    for size in ((256, 256), OTHER_SIZE):
        keras_inputs, onnx_feed = inputs_at(size)
        expected = keras_at(size).predict(keras_inputs, verbose=0)
        got = sess.run(["ab"], onnx_feed)[0].transpose(0, 2, 3, 1)
        assert got.shape == expected.shape
        # The test must be able to fail: outputs are neither all saturated nor all zero.
        assert np.abs(expected).mean() > 0.01 and (np.abs(expected) < 0.9).mean() > 0.5
        delta = float(np.abs(got - expected).max())
        report(f"{name} {size[0]}x{size[1]}", delta)
        assert delta <= TOLERANCE


def random_l(rng, size, offset: float, divisor: float) -> np.ndarray:
    return ((rng.uniform(0, 100, (1, *size, 1)) - offset) / divisor).astype(np.float32)


# Baseline.


@pytest.fixture(scope="session")
def baseline_exact(km, work):
    model = km.baseline_exact()
    km.randomize(model, seed=1, first_conv_scale=0.02)
    path = work / "baseline_exact.h5"
    model.save(path)
    return model, path


def test_baseline_exact_architecture_matches_keras(km, work, baseline_exact):
    model, h5 = baseline_exact
    assert model.count_params() == 231_682
    convert("baseline", str(h5), "-o", str(work / "models"), "--id", "exact")
    rng = np.random.default_rng(10)

    def inputs_at(size):
        x = random_l(rng, size, 0.0, 1.0)  # Wallner's raw L, the default
        return x, {"L": nchw(x)}

    def keras_at(size):
        return model if size == (256, 256) else km.resized(model, km.baseline_exact, size)

    check_against_keras(session(work / "models" / "exact.onnx"), keras_at, inputs_at,
                        "baseline exact")


def test_baseline_metadata_and_manifest(work, baseline_exact):
    _, h5 = baseline_exact
    out = work / "meta"
    convert("baseline", str(h5), "-o", str(out), "--license", "MIT", "--ab-scale", "110",
            "--source-url", "https://example.org/x.h5")
    entry = json.loads((out / "manifest.json").read_text())["models"][0]
    assert entry["id"] == "baseline-baseline-exact"
    onnx_path = out / entry["file"]
    assert entry["sha256"] == sha256_file(onnx_path)
    assert entry["input"] == {"name": "L", "layout": "NCHW", "size": 256, "multiple": 4,
                              "fixed_size": False, "l_offset": 0.0, "l_divisor": 1.0}
    assert entry["output"] == {"name": "ab", "layout": "NCHW", "ab_scale": 110.0,
                               "decoding": "tanh"}
    assert entry["license"] == "MIT" and entry["source_urls"] == ["https://example.org/x.h5"]
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["family"] == "baseline"
    assert json.loads(meta["source_files"]) == [h5.name]
    assert json.loads(meta["source_sha256"]) == [sha256_file(h5)]
    assert (float(meta["l_offset"]), float(meta["l_divisor"]), float(meta["ab_scale"])) == (
        0.0, 1.0, 110.0)
    assert meta["converter_version"]
    dims = [[d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in (model.graph.input[0], model.graph.output[0])]
    assert dims == [[1, 1, "H", "W"], [1, 2, "H", "W"]]
    # Both UpSampling2D + Conv2D pairs run at the low resolution (the comparisons with Keras
    # above and below are of that form); too narrow for Winograd.
    ops = [n.op_type for n in model.graph.node]
    assert meta["subpixel"] == "2" and "Resize" not in ops and ops.count("ConvTranspose") == 2
    assert "winograd" not in meta and "2 UpSampling2D + Conv2D pairs" in entry["provenance"]


def test_direct_convolutions_keep_the_layer_for_layer_graph(work, baseline_exact):
    _, h5 = baseline_exact
    convert("baseline", str(h5), "-o", str(work / "direct"), "--id", "direct",
            "--direct-convolutions")
    model = onnx.load(str(work / "direct" / "direct.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Resize") == 2 and "ConvTranspose" not in ops
    assert "subpixel" not in {p.key for p in model.metadata_props}


def test_weights_only_file_with_json_architecture(km, work, baseline_exact, capsys):
    # Wallner's notebooks save model.to_json() and model.save_weights("model.h5") apart.
    model, _ = baseline_exact
    weights, architecture = work / "weights_only.h5", work / "model.json"
    model.save_weights(weights)
    architecture.write_text(model.to_json())
    assert convert_models.main(["baseline", str(weights), "-o", str(work / "bad")]) == 1
    assert "--json" in capsys.readouterr().err
    convert("baseline", str(weights), "--json", str(architecture), "-o", str(work / "models"),
            "--id", "split")
    x = random_l(np.random.default_rng(19), (256, 256), 0.0, 1.0)
    got = session(work / "models" / "split.onnx").run(["ab"], {"L": nchw(x)})[0]
    delta = float(np.abs(got.transpose(0, 2, 3, 1) - model.predict(x, verbose=0)).max())
    report("baseline from weights + JSON 256x256", delta)
    assert delta <= TOLERANCE
    meta = {p.key: p.value for p in onnx.load(str(work / "models" / "split.onnx")).metadata_props}
    assert json.loads(meta["source_files"]) == ["weights_only.h5", "model.json"]


def test_baseline_beta_sized_variant_matches_keras(km, work):
    model = km.baseline_beta()
    assert model.count_params() == 3_892_194
    km.randomize(model, seed=12, first_conv_scale=0.02)
    h5 = work / "baseline_beta.h5"
    model.save(h5)
    convert("baseline", str(h5), "-o", str(work / "models"), "--id", "beta")
    entry = json.loads((work / "models" / "manifest.json").read_text())["models"]
    entry = next(e for e in entry if e["id"] == "beta")
    assert entry["input"]["multiple"] == 8 and entry["output"]["decoding"] == "tanh"
    rng = np.random.default_rng(18)

    def inputs_at(size):
        x = random_l(rng, size, 0.0, 1.0)
        return x, {"L": nchw(x)}

    def keras_at(size):
        return model if size == (256, 256) else km.resized(model, km.baseline_beta, size)

    check_against_keras(session(work / "models" / "beta.onnx"), keras_at, inputs_at,
                        "baseline Beta-sized")
    # Its 256- and 512-filter 3x3 convolutions were written in Winograd form.
    meta = {p.key: p.value for p in onnx.load(str(work / "models" / "beta.onnx")).metadata_props}
    assert len(json.loads(meta["winograd"])) >= 2


def test_baseline_batchnorm_variant_matches_keras(km, work):
    model = km.baseline_batchnorm()
    km.randomize(model, seed=2)
    h5 = work / "baseline_bn.h5"
    model.save(h5)
    convert("baseline", str(h5), "-o", str(work / "models"), "--id", "bn",
            "--l-offset", "50", "--l-divisor", "50")
    rng = np.random.default_rng(11)

    def inputs_at(size):
        x = random_l(rng, size, 50.0, 50.0)
        return x, {"L": nchw(x)}

    def keras_at(size):
        return model if size == (256, 256) else km.resized(model, km.baseline_batchnorm, size)

    check_against_keras(session(work / "models" / "bn.onnx"), keras_at, inputs_at,
                        "baseline BatchNorm")


def test_baseline_keras3_file_matches_keras(km, work):
    import keras  # Keras 3: its legacy .h5 writer nests weights as <layer>/<model>/<layer>/kernel

    model = km.baseline_batchnorm(keras_module=keras)
    km.randomize(model, seed=3)
    h5 = work / "baseline_keras3.h5"
    model.save(h5)
    convert("baseline", str(h5), "-o", str(work / "models"), "--id", "k3",
            "--l-offset", "50", "--l-divisor", "50")
    rng = np.random.default_rng(12)

    def inputs_at(size):
        x = random_l(rng, size, 50.0, 50.0)
        return x, {"L": nchw(x)}

    def keras_at(size):
        if size == (256, 256):
            return model
        other = km.baseline_batchnorm(size, keras_module=keras)
        other.set_weights(model.get_weights())
        return other

    check_against_keras(session(work / "models" / "k3.onnx"), keras_at, inputs_at,
                        "baseline Keras 3 file")


def test_functional_model_with_residual_lambda_matches_keras(km, work):
    model = km.residual_lambda()
    km.randomize(model, seed=9)
    h5 = work / "lambda.h5"
    model.save(h5)
    convert("baseline", str(h5), "-o", str(work / "models"), "--id", "lambda",
            "--l-offset", "50", "--l-divisor", "50")
    x = random_l(np.random.default_rng(15), (64, 64), 50.0, 50.0)
    got = session(work / "models" / "lambda.onnx").run(["ab"], {"L": nchw(x)})[0]
    delta = float(np.abs(got.transpose(0, 2, 3, 1) - model.predict(x, verbose=0)).max())
    report("residual Lambda 64x64", delta)
    assert delta <= TOLERANCE


def test_unsupported_layer_is_named(km, work, capsys):
    L = km.keras.layers
    model = km.keras.Sequential([L.InputLayer((64, 64, 1)), L.Conv2D(8, 3, padding="same"),
                                 L.Conv2DTranspose(2, 3, name="deconv")])
    h5 = work / "unsupported.h5"
    model.save(h5)
    assert convert_models.main(["baseline", str(h5), "-o", str(work / "bad")]) == 1
    err = capsys.readouterr().err
    assert "'deconv'" in err and "Conv2DTranspose" in err
    assert not (work / "bad" / "manifest.json").exists()


def test_keras_2_0_sequential_config_is_read():
    # Keras 2.0/2.1 stored a Sequential as a bare list, the input shape on the first layer.
    config = {"class_name": "Sequential", "config": [
        {"class_name": "Conv2D", "config": {"name": "conv2d_1", "batch_input_shape":
                                            [None, 256, 256, 1], "filters": 2}},
        {"class_name": "UpSampling2D", "config": {"name": "up_sampling2d_1"}},
    ]}
    graph = parse_model_config(config)
    assert [c.name for c in graph.calls] == ["conv2d_1", "up_sampling2d_1"]
    assert graph.calls[1].inputs == [graph.calls[0].output]
    assert graph.input_shapes[graph.inputs[0]] == [None, 256, 256, 1]
    assert graph.outputs == [graph.calls[1].output]


def test_unknown_model_class_is_an_error():
    with pytest.raises(ConversionError, match="Unsupported Keras model class"):
        parse_model_config({"class_name": "Graph", "config": {}})


# Fusion.


def grey_image(rng) -> tuple[np.ndarray, np.ndarray]:
    """A grey 299 x 299 picture: its sRGB value in [0, 1] and its L (by scikit-image)."""
    from skimage.color import rgb2lab

    v = rng.uniform(0.0, 1.0, (299, 299))
    lightness = rgb2lab(np.repeat(v[:, :, None], 3, axis=2))[:, :, 0]
    return v.astype(np.float32), lightness[None, None].astype(np.float32)


@pytest.fixture(scope="session")
def inception_1000(km, work):
    """Keras' InceptionResNetV2 saved weights-only, the layout of the published weights file."""
    model = km.inception(1000)
    km.randomize(model, seed=4, dense_scale=30.0)
    path = work / "inception_1000_weights.h5"
    model.save_weights(path)
    return model, path


@pytest.fixture(scope="session")
def inception_1001(km, work):
    """A 1001-class (TF-slim style) InceptionResNetV2 saved as a full model."""
    model = km.inception(1001)
    km.randomize(model, seed=5, dense_scale=3.0)  # logits of a few units, as trained ones
    path = work / "inception_1001.h5"
    model.save(path)
    return model, path


def fusion_case(km, work, decoder: str, embed: int, seed: int, keras_module=None):
    def build(size):
        return km.fusion(size, embed, decoder, keras_module=keras_module or km.keras)

    model = build((256, 256))
    km.randomize(model, seed=seed, first_conv_scale=0.02 if decoder == "wallner" else 1.0)
    path = work / f"fusion_{decoder}_{seed}.h5"
    model.save(path)
    return model, build, path


def inception_output(model, v: np.ndarray, twice: bool, logits: bool) -> np.ndarray:
    """What the source code feeds the fusion net: Keras' softmax scores or logits."""
    # preprocess_input maps [0, 255] to [-1, 1]; Wallner's code applies it to [0, 1] values.
    x = v / 127.5 - 1.0 if twice else v * 2.0 - 1.0
    x = np.repeat(x[None, :, :, None], 3, axis=3)
    dense = model.get_layer("predictions")
    saved = dense.activation
    if logits:
        dense.activation = lambda t: t
    try:
        return model(x, training=False).numpy()
    finally:
        dense.activation = saved


@pytest.mark.slow
def test_fusion_wallner_matches_keras(km, work, inception_1000):
    inception, inception_h5 = inception_1000
    model, build, h5 = fusion_case(km, work, "wallner", 1000, seed=6)
    assert model.count_params() == 6_541_202
    convert("fusion", str(h5), "--inception", str(inception_h5), "-o", str(work / "models"),
            "--id", "fw")  # preset wallner: softmax, preprocessed twice, raw L, ab 128
    sess = session(work / "models" / "fw.onnx", ("embedding_softmax",))
    rng = np.random.default_rng(13)
    v, l_embed = grey_image(rng)
    embedding = inception_output(inception, v, twice=True, logits=False)
    got = sess.run(["embedding_softmax"], {"L": np.zeros((1, 1, 256, 256), np.float32),
                                           "L_embed": l_embed})[0]
    assert embedding.max() > 0.05  # far from uniform, so the embedding matters
    report("fusion Wallner embedding (softmax)", float(np.abs(got - embedding).max()))
    assert np.abs(got - embedding).max() <= 1e-6

    def inputs_at(size):
        x = random_l(rng, size, 0.0, 1.0)
        return [x, embedding], {"L": nchw(x), "L_embed": l_embed}

    def keras_at(size):
        return model if size == (256, 256) else km.resized(model, build, size)

    check_against_keras(sess, keras_at, inputs_at, "fusion Wallner")
    meta = {p.key: p.value for p in onnx.load(str(work / "models" / "fw.onnx")).metadata_props}
    assert (meta["family"], meta["embedding"], meta["preprocess_twice"]) == (
        "fusion", "softmax", "true")
    entry = json.loads((work / "models" / "manifest.json").read_text())["models"]
    entry = next(e for e in entry if e["id"] == "fw")
    assert entry["input"]["embed_name"] == "L_embed" and entry["input"]["multiple"] == 8
    assert (entry["input"]["l_offset"], entry["input"]["l_divisor"],
            entry["output"]["ab_scale"]) == (0.0, 1.0, 128.0)


@pytest.mark.slow
def test_fusion_reference_matches_keras(km, work, inception_1001):
    inception, inception_h5 = inception_1001
    model, build, h5 = fusion_case(km, work, "reference", 1001, seed=7)
    assert model.count_params() == 6_574_050
    convert("fusion", str(h5), "--inception", str(inception_h5), "-o", str(work / "models"),
            "--id", "fr", "--preset", "reference")  # logits, once, L/50 - 1, ab 127
    sess = session(work / "models" / "fr.onnx", ("predictions",))
    rng = np.random.default_rng(14)
    v, l_embed = grey_image(rng)
    logits = inception_output(inception, v, twice=False, logits=True)
    got = sess.run(["predictions"], {"L": np.zeros((1, 1, 256, 256), np.float32),
                                     "L_embed": l_embed})[0]
    delta = float(np.abs(got - logits).max())
    report(f"fusion reference embedding (logits, range +-{np.abs(logits).max():.1f})", delta)
    assert delta <= TOLERANCE * max(1.0, float(np.abs(logits).max()))

    def inputs_at(size):
        x = random_l(rng, size, 50.0, 50.0)
        return [x, logits], {"L": nchw(x), "L_embed": l_embed}

    def keras_at(size):
        return model if size == (256, 256) else km.resized(model, build, size)

    check_against_keras(sess, keras_at, inputs_at, "fusion reference")


@pytest.mark.slow
def test_inception_weights_numbered_as_keras_2_0(km, work, inception_1000):
    """The published weights file was written by Keras 2.0, whose automatic layer names start
    at conv2d_1 (TF-Keras starts at conv2d): shift every number by one and convert again."""
    import h5py

    inception, inception_h5 = inception_1000
    shifted = work / "inception_1000_from_1.h5"
    shutil.copy(inception_h5, shifted)
    with h5py.File(shifted, "r+") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["layer_names"]]
        renamed = {}
        for prefix in ("conv2d", "batch_normalization"):
            auto = re.compile(rf"^{prefix}(?:_(\d+))?$")
            numbered = sorted((int(m.group(1) or 0), n) for n in names if (m := auto.match(n)))
            for number, name in reversed(numbered):  # highest first: no name is taken twice
                renamed[name] = f"{prefix}_{number + 1}"
                f.move(name, renamed[name])
        f.attrs["layer_names"] = np.array([renamed.get(n, n).encode() for n in names])
    _, _, h5 = fusion_case(km, work, "wallner", 1000, seed=11)
    convert("fusion", str(h5), "--inception", str(shifted), "-o", str(work / "models"),
            "--id", "f20")
    v, l_embed = grey_image(np.random.default_rng(17))
    got = session(work / "models" / "f20.onnx", ("embedding_softmax",)).run(
        ["embedding_softmax"], {"L": np.zeros((1, 1, 64, 64), np.float32), "L_embed": l_embed})[0]
    delta = float(np.abs(got - inception_output(inception, v, twice=True, logits=False)).max())
    report("Inception weights numbered from 1 (softmax)", delta)
    assert delta <= 1e-6


@pytest.mark.slow
def test_fusion_keras3_file_matches_keras(km, work, inception_1000):
    import keras  # Keras 3 stores inbound nodes as call arguments, not [name, node, index]

    inception, inception_h5 = inception_1000
    model, _, h5 = fusion_case(km, work, "wallner", 1000, seed=10, keras_module=keras)
    convert("fusion", str(h5), "--inception", str(inception_h5), "-o", str(work / "models"),
            "--id", "fk3")
    rng = np.random.default_rng(16)
    v, l_embed = grey_image(rng)
    embedding = inception_output(inception, v, twice=True, logits=False)
    x = random_l(rng, (256, 256), 0.0, 1.0)
    got = session(work / "models" / "fk3.onnx").run(["ab"], {"L": nchw(x), "L_embed": l_embed})
    delta = float(np.abs(got[0].transpose(0, 2, 3, 1) - model.predict([x, embedding],
                                                                       verbose=0)).max())
    report("fusion Keras 3 file 256x256", delta)
    assert delta <= TOLERANCE


@pytest.mark.slow
def test_fusion_embedding_size_mismatch_is_explained(km, work, inception_1000, capsys):
    _, inception_h5 = inception_1000
    _, _, h5 = fusion_case(km, work, "reference", 1001, seed=8)
    assert convert_models.main(["fusion", str(h5), "--inception", str(inception_h5),
                                "-o", str(work / "bad")]) == 1
    assert "1001" in capsys.readouterr().err
