"""tools/train.py: the architectures, Zhang et al.'s class loss, training, resuming and export."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is in the `train` extra")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import train  # noqa: E402
from converters.common import get_metadata  # noqa: E402

BINS = REPO.parent / "shared" / "fixtures" / "zhang-eccv16" / "pts_in_hull.npy"
needs_bins = pytest.mark.skipif(not BINS.exists(),
                                reason=f"{BINS} is missing (../shared beside the repo)")


def test_baseline_is_the_documented_architecture():
    net = train.build("baseline")
    assert sum(p.numel() for p in net.parameters()) == 231_682
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64, 128, 64, 32, 2]
    out = net(torch.zeros(1, 1, 64, 96))
    assert out.shape == (1, 2, 64, 96)


def test_classes_net_predicts_313_bins_at_a_quarter_size():
    out = train.build("classes", width=8)(torch.zeros(2, 1, 64, 96))
    assert out.shape == (2, 313, 16, 24)


@needs_bins
def test_soft_encoding_spreads_over_five_nearest_bins():
    bins = torch.from_numpy(train.load_bins(BINS))
    ab = torch.stack([bins[10], bins[200]], 1).reshape(1, 2, 2, 1)
    target, nearest = train.soft_encode(ab, bins)
    assert target.shape == (1, 313, 2, 1)
    assert torch.allclose(target.sum(1), torch.ones(1, 2, 1))
    assert ((target > 0).sum(1) == 5).all()
    assert nearest.flatten().tolist() == [10, 200]
    assert target[0, 10, 0, 0] == target[0, :, 0, 0].max()


@needs_bins
def test_rebalancing_favours_rare_colours_with_unit_expectation():
    bins = train.load_bins(BINS)
    rng = np.random.default_rng(0)
    greyish = [np.clip(rng.normal(128, 20, (64, 64, 3)), 0, 255).astype(np.uint8)
               for _ in range(3)]
    prior = train.colour_prior(greyish, bins)
    assert prior.shape == (313,) and abs(prior.sum() - 1) < 1e-6
    weights = train.rebalance_weights(prior)
    assert abs((prior * weights).sum() - 1) < 1e-5
    common, rare = prior.argmax(), prior.argmin()
    assert weights[rare] > weights[common]


def write_photos(folder: Path, count: int, seed: int) -> None:
    import cv2

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        img = rng.integers(0, 255, (1, 1, 3)) * np.ones((96, 128, 1))
        img[40:, :, :] = rng.integers(0, 255, 3)
        img += rng.normal(0, 8, img.shape)
        cv2.imwrite(str(folder / f"{i}.jpg"), np.clip(img, 0, 255).astype(np.uint8))


@pytest.fixture
def tiny_data(tmp_path):
    write_photos(tmp_path / "data" / "train", 3, 0)
    write_photos(tmp_path / "data" / "val", 1, 1)
    return tmp_path


def run_args(root: Path, arch: str, steps: int, *extra: str) -> list[str]:
    return ["train", "--id", f"tiny-{arch}", "--arch", arch, "--width", "8",
            "--data", str(root / "data"), "--runs", str(root / "runs"), "--bins", str(BINS),
            "--steps", str(steps), "--crop", "32", "--batch", "2", "--val-size", "32",
            "--threads", "1", *extra]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["baseline", pytest.param("classes", marks=needs_bins)])
def test_train_resume_export_and_onnx_matches_torch(tiny_data, arch):
    root = tiny_data
    assert train.main(run_args(root, arch, 2)) == 0
    assert train.main(run_args(root, arch, 4, "--resume")) == 0
    ckpt = torch.load(root / "runs" / f"tiny-{arch}" / "last.pt", weights_only=False)
    assert ckpt["state"]["step"] == 4
    assert len(ckpt["state"]["log"]) >= 2
    assert (root / "runs" / f"tiny-{arch}" / "best.pt").exists()

    models = root / "models"
    assert train.main(["export", "--id", f"tiny-{arch}", "--runs", str(root / "runs"),
                       "--out", str(models), "--name", "Tiny", "--description", "test"]) == 0
    entry = json.loads((models / "manifest.json").read_text())["models"][0]
    assert entry["id"] == f"tiny-{arch}" and entry["size_bytes"] > 0
    assert entry["output"]["decoding"] == ("tanh" if arch == "baseline" else "annealed-mean")

    net = train.build(arch, 8)
    net.load_state_dict(ckpt["model"])
    bins = ckpt["extra"]["bins"].numpy() if arch == "classes" else None
    module = train.export_module(arch, net, bins)
    session = ort.InferenceSession(str(models / entry["file"]),
                                   providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).uniform(-1, 1, (1, 1, 40, 72)).astype(np.float32)
    (got,) = session.run(["ab"], {"L": x})
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-3 * max(1.0, np.abs(want).max()))
    if arch == "classes":
        assert got.shape == (1, 2, 10, 18)
        assert np.abs(got).max() <= np.abs(bins).max() + 1e-3

    # --init: a new run from these weights, its own step count, the earlier run in the recipe
    args = run_args(root, arch, 1, "--init", str(root / "runs" / f"tiny-{arch}" / "last.pt"))
    args[args.index("--id") + 1] = f"tiny-{arch}-2"
    assert train.main(args) == 0
    second = torch.load(root / "runs" / f"tiny-{arch}-2" / "last.pt", weights_only=False)
    assert second["state"]["step"] == 1 and second["state"]["init"]["steps"] == 4
    assert train.main(["export", "--id", f"tiny-{arch}-2", "--runs", str(root / "runs"),
                       "--out", str(models), "--name", "Tiny 2", "--description", "test"]) == 0
    entry = json.loads((models / "manifest.json").read_text())["models"][1]
    assert "starting from the weights of an earlier run (4 steps" in entry["provenance"]
    if arch == "baseline":  # --shrink: ab_scale times the validation least-squares factor
        assert train.main(["export", "--id", f"tiny-{arch}-2", "--runs", str(root / "runs"),
                           "--data", str(root / "data"), "--out", str(models), "--shrink",
                           "--name", "Tiny 2", "--description", "test"]) == 0
        entry = json.loads((models / "manifest.json").read_text())["models"][1]
        net.load_state_dict(second["model"])
        val = [train._centre(p, 32) for p in train.load_split(root / "data", "val")]
        factor = train.validation_shrink(net, val)
        assert entry["output"]["ab_scale"] == pytest.approx(128 * factor, abs=1e-3)
        assert 64 <= entry["output"]["ab_scale"] <= 128
        assert "validation pictures" in entry["provenance"]


@pytest.mark.slow
def test_hint_model_with_spread_input_trains_from_one_without_and_runs_in_the_engine(tiny_data):
    from colorize_ai.model import load_model
    from colorize_ai.pipeline import colorize

    root = tiny_data
    assert train.main(run_args(root, "hints", 2)) == 0
    args = run_args(root, "hints", 2, "--spread-input", "--init",
                    str(root / "runs" / "tiny-hints" / "last.pt"))
    args[args.index("--id") + 1] = "tiny-hints-spread"
    assert train.main(args) == 0
    ckpt = torch.load(root / "runs" / "tiny-hints-spread" / "last.pt", weights_only=False)
    assert ckpt["model"]["full.0.weight"].shape[1] == 6  # L, hint ab, mask, spread ab
    models = root / "models"
    assert train.main(["export", "--id", "tiny-hints-spread", "--runs", str(root / "runs"),
                       "--out", str(models), "--name", "Tiny", "--description", "test"]) == 0
    entry = json.loads((models / "manifest.json").read_text())["models"][0]
    assert entry["input"]["spread_name"] == "ab_spread"
    assert entry["output"]["spread_hints"] and entry["default_hints"]

    net = train.build("hints", 8, spread_input=True)
    net.load_state_dict(ckpt["model"])
    module = train.export_module("hints", net)
    rng = np.random.default_rng(4)
    feeds = {"L": rng.uniform(-1, 1, (1, 1, 40, 72)), "ab_hint": rng.uniform(-1, 1, (1, 2, 40, 72)),
             "mask": rng.integers(0, 2, (1, 1, 40, 72)),
             "ab_spread": rng.uniform(-1, 1, (1, 2, 40, 72))}
    feeds = {k: v.astype(np.float32) for k, v in feeds.items()}
    session = ort.InferenceSession(str(models / entry["file"]),
                                   providers=["CPUExecutionProvider"])
    (got,) = session.run(["ab"], feeds)
    with torch.no_grad():
        want = module(*(torch.from_numpy(v) for v in feeds.values())).numpy()
    np.testing.assert_allclose(got, want, atol=1e-3 * max(1.0, np.abs(want).max()))

    model = load_model("tiny-hints-spread", device="cpu", folders=[models])
    hints = np.zeros((48, 64, 4), np.uint8)
    hints[10:20, 10:20] = (200, 40, 40, 255)
    out = colorize(np.full((48, 64), 128, np.uint8), model, hints=hints)
    assert out[12:18, 12:18, 0].mean() > out[12:18, 12:18, 2].mean() + 40  # the hint is kept


@pytest.mark.slow
def test_baseline_learns_a_colour(tmp_path):
    """A few dozen steps on one flat-coloured picture: the loss must fall."""
    import cv2

    for split in ("train", "val"):
        (tmp_path / "data" / split).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "data" / split / "a.png"),
                    np.full((64, 64, 3), (40, 160, 220), np.uint8))
    args = run_args(tmp_path, "baseline", 40, "--lr", "0.003")
    assert train.main(args) == 0
    log = torch.load(tmp_path / "runs" / "tiny-baseline" / "last.pt",
                     weights_only=False)["state"]["log"]
    first = train._validate(train.build("baseline"), "baseline",
                            [cv2.imread(str(tmp_path / "data" / "val" / "a.png"))[..., ::-1]],
                            {})
    assert log[-1]["val_loss"] < 0.5 * first


def test_cosine_decay_runs_from_lr_to_a_twentieth():
    args = argparse.Namespace(lr=1e-3, decay="cosine")
    rates = [train.learning_rate(args, p) for p in (0.0, 0.5, 1.0, 1.5)]
    assert rates[0] == pytest.approx(1e-3) and rates[2] == pytest.approx(5e-5)
    assert rates[0] > rates[1] > rates[2] == rates[3]
    args.decay = "none"
    assert train.learning_rate(args, 0.9) == 1e-3


def test_validation_shrink_is_the_least_squares_factor():
    rng = np.random.default_rng(5)
    val = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    _, ab = train.batch_tensors(val)

    class Scaled(torch.nn.Module):  # predicts k times the true ab, whatever it sees
        def __init__(self, k: float) -> None:
            super().__init__()
            self.k = k

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return ab * self.k / train.AB_SCALE

    assert train.validation_shrink(Scaled(1.6), val) == pytest.approx(1 / 1.6, rel=1e-4)
    assert train.validation_shrink(Scaled(0.8), val) == 1.0  # never bolder than trained
    assert train.validation_shrink(Scaled(5.0), val) == 0.5


def test_prior_hint_net_starts_as_its_frozen_automatic_model():
    net = train.build("hints", 8, spread_input=True, prior=True)
    net.prior_scale.fill_(100.0 / train.HINT_AB_DIVISOR)
    x = torch.rand(2, 6, 32, 48) * 2 - 1
    with torch.no_grad():
        want = net.prior(x[:, :1]) * 100.0 / train.HINT_AB_DIVISOR
        assert torch.allclose(net(x), want, atol=1e-6)
    assert not any(p.requires_grad for p in net.prior.parameters())
    assert any(p.requires_grad for p in net.net.parameters())


def test_gradient_through_the_engines_spread_matches_differences():
    from hint_sim import training_hints

    rng = np.random.default_rng(0)
    x = torch.zeros(1, 4, 32, 32)
    x[0, 0] = torch.from_numpy(rng.uniform(-1, 1, (32, 32)).astype(np.float32))
    ab = (rng.standard_normal((32, 32, 2)) * 20).astype(np.float32)
    hint_ab, mask = training_hints(ab, np.random.default_rng(5))
    assert mask.sum() > 0
    x[0, 1:3] = torch.from_numpy(hint_ab.transpose(2, 0, 1) / train.HINT_AB_DIVISOR)
    x[0, 3] = torch.from_numpy(mask)
    torch.manual_seed(0)
    prediction = torch.randn(1, 2, 32, 32, requires_grad=True)
    weights, direction = torch.randn(1, 2, 32, 32), torch.randn(1, 2, 32, 32)
    (train.ThroughSpread.apply(prediction, x) * weights).sum().backward()
    step = 5.0  # the spread is linear: a large step keeps the solver's own error small
    ahead = train.ThroughSpread.apply(prediction.detach() + step * direction, x)
    behind = train.ThroughSpread.apply(prediction.detach() - step * direction, x)
    numeric = float(((ahead - behind) * weights).sum()) / (2 * step)
    analytic = float((prediction.grad * direction).sum())
    assert abs(numeric - analytic) <= 0.1 * abs(numeric)  # the solver stops at 1e-3
    hinted = torch.from_numpy(mask > 0)
    assert float(prediction.grad[0, :, hinted].abs().mean()) < 0.01 * float(
        prediction.grad[0, :, ~hinted].abs().mean())  # painted cells keep the hint colour


@pytest.mark.slow
@needs_bins
def test_auto_net_exports_both_heads_and_its_hint_variant_starts_as_it(tiny_data):
    """--arch auto: one U-Net trained on ab and on the colour classes; each head is its own
    ONNX model matching torch; --arch auto-hints from its weights (the hint inputs' weights
    zero) is the same network until trained, and runs in the engine with hints."""
    from colorize_ai.model import load_model
    from colorize_ai.pipeline import colorize

    root, models = tiny_data, tiny_data / "models"
    assert train.main(run_args(root, "auto", 2)) == 0
    ckpt = torch.load(root / "runs" / "tiny-auto" / "last.pt", weights_only=False)
    net = train.build("auto", 8)
    net.load_state_dict(ckpt["model"])
    x = np.random.default_rng(3).uniform(-1, 1, (1, 1, 48, 80)).astype(np.float32)
    for head, decoding, shape in (("ab", "tanh", (1, 2, 48, 80)),
                                  ("classes", "annealed-mean", (1, 2, 24, 40))):
        assert train.main(["export", "--id", f"tiny-auto-{head}", "--run", "tiny-auto",
                           "--runs", str(root / "runs"), "--out", str(models), "--head", head,
                           "--name", head, "--description", "test"]) == 0
        entry = json.loads((models / "manifest.json").read_text())["models"][-1]
        assert entry["output"]["decoding"] == decoding and entry["input"]["multiple"] == 16
        assert f"the {head} head" in entry["provenance"]
        session = ort.InferenceSession(str(models / entry["file"]),
                                       providers=["CPUExecutionProvider"])
        (got,) = session.run(["ab"], {"L": x})
        module = train.export_module("auto", net, ckpt["extra"]["bins"].numpy(), head=head)
        with torch.no_grad():
            want = module(torch.from_numpy(x)).numpy()
        assert got.shape == want.shape == shape
        np.testing.assert_allclose(got, want, atol=1e-3 * max(1.0, np.abs(want).max()))

    # --half-weights: float16 storage behind casts, float32 arithmetic, the same outputs.
    assert train.main(["export", "--id", "tiny-auto-half", "--run", "tiny-auto", "--runs",
                       str(root / "runs"), "--out", str(models), "--half-weights",
                       "--name", "half", "--description", "test"]) == 0
    entry = json.loads((models / "manifest.json").read_text())["models"][-1]
    assert "weights stored as float16" in entry["provenance"]
    half = onnx.load(str(models / entry["file"]))
    assert int(get_metadata(half, "weights_float16")) >= 10
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in half.graph.initializer)
    assert (models / entry["file"]).stat().st_size < 0.7 * (models / "tiny-auto-ab.onnx").stat(
        ).st_size
    (full,), (halved,) = (ort.InferenceSession(str(models / f), providers=[
        "CPUExecutionProvider"]).run(["ab"], {"L": x}) for f in ("tiny-auto-ab.onnx",
                                                                  entry["file"]))
    np.testing.assert_allclose(halved, full, atol=3e-3)
    assert not np.array_equal(halved, full)  # the weights were rounded

    args = run_args(root, "auto-hints", 1, "--lr", "0", "--init",
                    str(root / "runs" / "tiny-auto" / "last.pt"))
    assert train.main(args) == 0
    hinted = train.build("auto-hints", 8)
    hinted.load_state_dict(torch.load(root / "runs" / "tiny-auto-hints" / "last.pt",
                                      weights_only=False)["model"])
    assert hinted.full[0].weight.shape[1] == 4  # L, hint ab, mask
    hinted.eval(), net.eval()
    feeds = np.random.default_rng(4).uniform(-1, 1, (1, 4, 48, 80)).astype(np.float32)
    with torch.no_grad():  # lr 0: one step changes nothing but the batch statistics
        torch.testing.assert_close(hinted(torch.from_numpy(feeds)),
                                   net(torch.from_numpy(feeds[:, :1])), atol=0.05, rtol=0)
    assert train.main(["export", "--id", "tiny-auto-hints", "--runs", str(root / "runs"),
                       "--out", str(models), "--name", "Hints", "--description", "test"]) == 0
    entry = json.loads((models / "manifest.json").read_text())["models"][-1]
    assert entry["family"] == "siggraph17" and entry["output"]["decoding"] == "tanh"
    assert entry["output"]["spread_hints"] and entry["input"]["hint_divisor"] == 110.0
    # --init-lr-scale 0: what --init gave stays as trained, the widened first convolution (the
    # hint inputs) learns; the two learning rates survive --resume.
    start = torch.load(root / "runs" / "tiny-auto" / "last.pt", weights_only=False)["model"]
    for steps in (2, 3):
        extra = ("--resume",) if steps == 3 else ()
        assert train.main(run_args(root, "auto-hints", steps, "--id", "tiny-frozen", "--init",
                                   str(root / "runs" / "tiny-auto" / "last.pt"),
                                   "--init-lr-scale", "0", *extra)) == 0
        got = torch.load(root / "runs" / "tiny-frozen" / "last.pt", weights_only=False)
        assert got["state"]["step"] == steps
        # --freeze-norms is off: the batch statistics follow the new inputs.
        assert not torch.equal(got["model"]["full.2.running_mean"], start["full.2.running_mean"])
        params = dict(train.build("auto-hints", 8).named_parameters())
        for name in params:
            if name == "full.0.weight":
                assert not torch.equal(got["model"][name][:, :1], start[name])
            else:
                assert torch.equal(got["model"][name], start[name]), name
    # --freeze-norms: the batch normalisations keep the statistics --init gave.
    assert train.main(run_args(root, "auto-hints", 2, "--id", "tiny-norms", "--init",
                               str(root / "runs" / "tiny-auto" / "last.pt"),
                               "--freeze-norms")) == 0
    got = torch.load(root / "runs" / "tiny-norms" / "last.pt", weights_only=False)["model"]
    stats = [k for k in start if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(got[k], start[k]) for k in stats)
    assert not torch.equal(got["down2.0.weight"], start["down2.0.weight"])  # still learning
    model = load_model("tiny-auto-hints", device="cpu", folders=[models])
    hints = np.zeros((48, 64, 4), np.uint8)
    hints[10:20, 10:20] = (200, 40, 40, 255)
    out = colorize(np.full((48, 64), 128, np.uint8), model, hints=hints)
    assert out[12:18, 12:18, 0].mean() > out[12:18, 12:18, 2].mean() + 40  # the hint is kept


def test_a_run_started_with_init_resumes(tiny_data):
    """--init without --init-lr-scale gives one optimizer group, which --resume rebuilds."""
    root = tiny_data
    assert train.main(run_args(root, "auto", 1)) == 0
    init = str(root / "runs" / "tiny-auto" / "last.pt")
    for steps, extra in ((1, ()), (2, ("--resume",))):
        assert train.main(run_args(root, "auto-hints", steps, "--init", init, *extra)) == 0
    ckpt = torch.load(root / "runs" / "tiny-auto-hints" / "last.pt", weights_only=False)
    assert ckpt["state"]["step"] == 2


def test_worker_processes_make_the_batches_each_from_its_own_seed(tiny_data):
    root = tiny_data
    parsed = argparse.Namespace(crop=32, batch=2, arch="auto-hints", spread_input=False,
                                workers=2, device="cpu")
    pictures = train.load_split(root / "data", "train")
    source = train.batches(pictures, parsed, seed=5)
    (x1, ab1), (_, ab2) = next(source), next(source)
    assert x1.shape == (2, 4, 32, 32) and ab1.shape == (2, 2, 32, 32)  # L, hint ab, mask
    assert not torch.equal(ab1, ab2)  # the two workers' first batches: two seeds
    source.close()


@pytest.mark.slow
def test_a_run_with_workers_validates_as_often_as_asked_and_says_where_it_trained(tiny_data):
    root = tiny_data
    assert train.main(run_args(root, "baseline", 3, "--workers", "2",
                               "--checkpoint-seconds", "0")) == 0
    ckpt = torch.load(root / "runs" / "tiny-baseline" / "last.pt", weights_only=False)
    assert ckpt["state"]["step"] == 3 and ckpt["state"]["device"] == "CPU"
    assert [e["step"] for e in ckpt["state"]["log"]] == [1, 2, 3]
    assert train.main(["export", "--id", "tiny-baseline", "--runs", str(root / "runs"),
                       "--out", str(root / "models"), "--name", "Tiny",
                       "--description", "test"]) == 0
    entry = json.loads((root / "models" / "manifest.json").read_text())["models"][0]
    assert "3 steps / 0 minutes on the CPU on 3 photographs" in entry["provenance"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_a_clear_error(tiny_data, capsys):
    assert train.main(run_args(tiny_data, "baseline", 1, "--device", "cuda")) == 1
    assert "PyTorch sees no CUDA GPU here" in capsys.readouterr().err


def test_source_weights_set_each_pictures_chance_and_zero_leaves_a_source_out(tiny_data):
    root = tiny_data
    (root / "data" / "index.json").write_text(json.dumps(
        [{"file": f"train/{i}.jpg", "source": "clothes" if i == 0 else "photos"}
         for i in range(3)] + [{"file": "val/0.jpg", "source": "clothes"}]))
    files, chances = train.split_files(root / "data", "train", {"clothes": 3})
    assert [f.name for f in files] == ["0.jpg", "1.jpg", "2.jpg"]
    assert np.allclose(chances, [0.6, 0.2, 0.2])
    files, chances = train.split_files(root / "data", "train", {"clothes": 0})
    assert [f.name for f in files] == ["1.jpg", "2.jpg"] and np.allclose(chances, [0.5, 0.5])
    assert train.split_files(root / "data", "train")[1] is None
    with pytest.raises(train.TrainingError, match="leaves no picture"):
        train.split_files(root / "data", "val", {"clothes": 0})
    with pytest.raises(train.TrainingError, match="no picture"):
        train.split_files(root / "data", "train", {"shoes": 0})
    assert train.split_files(root / "data", "train", {"shoes": 0}, strict=False)[1] is not None
    with pytest.raises(train.TrainingError, match="NAME=WEIGHT"):
        train.source_weights(["clothes"])
    assert train.source_weights(["clothes=0.25", "photos=2"]) == {"clothes": 0.25, "photos": 2}

    parsed = argparse.Namespace(crop=32, batch=64, arch="baseline", workers=0, device="cpu")
    pictures = train.load_split(root / "data", "train")
    pictures[0][:] = 255  # the "clothes" picture: all white, so its crops are told apart
    x, _ = next(train.batches(pictures, parsed, 0, np.array([1.0, 0.0, 0.0])))
    assert torch.all(x > 0.99)  # L of white is 100: every crop from the one picture drawn
    x, _ = next(train.batches(pictures, parsed, 0, np.array([0.0, 0.5, 0.5])))
    assert torch.all(x.amax((1, 2, 3)) < 0.99)


@pytest.mark.slow
def test_a_run_with_a_source_weight_trains_and_exports(tiny_data):
    root = tiny_data
    (root / "data" / "index.json").write_text(json.dumps(
        [{"file": f"train/{i}.jpg", "source": "clothes" if i == 0 else "photos"}
         for i in range(3)] + [{"file": "val/0.jpg", "source": "photos"}]))
    assert train.main(run_args(root, "baseline", 2, "--source-weight", "clothes=0")) == 0
    assert train.main(["export", "--runs", str(root / "runs"), "--run", "tiny-baseline",
                       "--id", "tiny", "--shrink", "--data", str(root / "data"),
                       "--out", str(root / "models")]) == 0
    ckpt = torch.load(root / "runs" / "tiny-baseline" / "last.pt", weights_only=False)
    assert ckpt["state"]["pictures"] == 2
    (root / "data" / "index.json").unlink()  # another set, without that source: still exports
    other = json.dumps([{"file": "val/0.jpg", "source": "photos"}])
    (root / "data" / "index.json").write_text(other)
    assert train.main(["export", "--runs", str(root / "runs"), "--run", "tiny-baseline",
                       "--id", "tiny", "--shrink", "--data", str(root / "data"),
                       "--out", str(root / "models2")]) == 0
