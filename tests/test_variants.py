"""Fast variants (int8 for the CPU, fp16 for CUDA): how the registry, the CLI and the worker
choose between a model and its variants."""

from __future__ import annotations

import json

import numpy as np
import pytest

from colorize_ai import manifest
from colorize_ai.cli import list_models_table, main
from colorize_ai.errors import BadRequest, ModelMissing
from colorize_ai.model import load_model
from colorize_ai.pipeline import colorize
from colorize_ai.registry import Catalogue, get_spec, list_models
from colorize_ai.worker import handle
from tiny_models import add_model, tiny_graph

GOOD = {"mean_de00": 0.3, "p99_de00": 1.5, "max_de00": 4.0, "photos": 3, "pixels": 100}
POOR = {"mean_de00": 1.4, "p99_de00": 6.0, "max_de00": 20.0, "photos": 3, "pixels": 100}


def _variant(folder, model_id, device="cpu", fidelity=GOOD, stride=2):
    precision = "int8" if device == "cpu" else "fp16"
    # A different graph than the base model's, so the result shows which file ran.
    add_model(folder, model_id, tiny_graph(stride=stride), name=f"Tiny base ({precision}, fast)",
              variant_of="base", variant="fast", precision=precision, device=device,
              fidelity=fidelity)


@pytest.fixture
def models(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    add_model(folder, "base", default=True)
    monkeypatch.setenv("COLORIZE_AI_MODELS", str(folder))
    return folder


def _pick(folder, variant, device="cpu"):
    catalogue = Catalogue.read([folder])
    return catalogue.choose(catalogue.spec("base"), variant, device).id


def test_auto_takes_a_faithful_variant_for_the_device(models):
    _variant(models, "base-int8")
    _variant(models, "base-fp16", device="cuda", stride=1)
    assert _pick(models, "auto") == "base-int8"
    assert _pick(models, "auto", device="cuda") == "base-fp16"
    assert _pick(models, "exact") == "base"
    assert _pick(models, "fast") == "base-int8"


def test_auto_keeps_the_exact_model_when_the_variant_is_not_faithful(models):
    _variant(models, "base-int8", fidelity=POOR)
    assert _pick(models, "auto") == "base"
    assert _pick(models, "fast") == "base-int8"  # asked for by name: runs anyway


def test_unmeasured_or_uninstalled_variants_are_not_used_by_auto(models):
    _variant(models, "base-int8", fidelity={})
    assert _pick(models, "auto") == "base"
    _variant(models, "base-int8")
    (models / "base-int8.onnx").unlink()
    assert _pick(models, "auto") == "base"
    with pytest.raises(ModelMissing, match="no fast variant for the CPU"):
        _pick(models, "fast")


def test_fast_without_a_variant_for_the_device(models):
    _variant(models, "base-fp16", device="cuda")
    with pytest.raises(ModelMissing, match="quantize int8 --model base"):
        _pick(models, "fast")
    with pytest.raises(BadRequest, match="Unknown variant 'quick'"):
        _pick(models, "quick")


def test_variants_are_not_models_of_their_own(models):
    _variant(models, "base-int8")
    assert [s.id for s in list_models([models])] == ["base"]
    assert [s.id for s in list_models([models], variants=True)] == ["base", "base-int8"]
    assert [e["id"] for e in manifest.list_entries([str(models)])] == ["base"]
    # even marked default, a variant is never the default model
    add_model(models, "base", default=False)
    _variant(models, "base-int8")
    data = json.loads((models / "manifest.json").read_text())
    data["models"][-1]["default"] = True
    (models / "manifest.json").write_text(json.dumps(data))
    assert manifest.default_entry(manifest.list_entries([str(models)], True))["id"] == "base"
    assert get_spec("base-int8", [models]).variant_of == "base"  # still reachable by id


def test_load_model_runs_the_chosen_file(models):
    _variant(models, "base-int8")
    photo = np.random.default_rng(0).integers(0, 255, (40, 56), np.uint8)
    exact = load_model("base", device="cpu", variant="exact")
    fast = load_model("base", device="cpu", variant="auto")
    assert (exact.spec.id, fast.spec.id, fast.spec.base_id) == ("base", "base-int8", "base")
    assert not np.array_equal(colorize(photo, exact), colorize(photo, fast))
    assert np.array_equal(colorize(photo, fast),
                          colorize(photo, load_model("base-int8", device="cpu")))


def test_cli_variant_option_keeps_the_output_name(models, tmp_path, capsys):
    _variant(models, "base-int8")
    import cv2

    photo = tmp_path / "cat.png"
    cv2.imwrite(str(photo), np.random.default_rng(1).integers(0, 255, (40, 56), np.uint8))
    out = tmp_path / "out"
    assert main([str(photo), "-o", str(out), "-m", "base"]) == 0
    assert "(base int8, CPUExecutionProvider" in capsys.readouterr().out
    fast = cv2.imread(str(out / "cat_base.png"))
    assert main([str(photo), "-o", str(out), "-m", "base", "--variant", "exact",
                 "--overwrite"]) == 0
    assert "(base, CPUExecutionProvider" in capsys.readouterr().out
    assert not np.array_equal(fast, cv2.imread(str(out / "cat_base.png")))
    table = list_models_table("cpu")
    assert "  base-int8" in table and "mean ΔE00 0.30, p99 1.50; used by auto" in table
    with pytest.raises(SystemExit) as usage:
        main([str(photo), "-m", "base", "--variant", "quick"])
    assert usage.value.code == 2


def test_worker_reports_the_variant(models, tmp_path):
    _variant(models, "base-int8")
    pixels = np.random.default_rng(2).integers(0, 255, (24, 32, 3), np.uint8)
    source = tmp_path / "in.raw"
    pixels.tofile(source)
    responses = {}
    for variant in ("exact", "auto"):
        request = {"id": variant, "model": "base",
                   "input": str(source), "output": str(tmp_path / f"{variant}.raw"),
                   "width": 32, "height": 24, "channels": 3, "dtype": "uint8",
                   "options": {"device": "cpu", "variant": variant}}
        responses[variant] = handle(json.dumps(request), lambda m: None, None)
    assert responses["exact"]["fast_copy"] is False
    assert (responses["auto"]["model"], responses["auto"]["fast_copy"],
            responses["auto"]["precision"]) == ("base", True, "int8")
    from colorize_ai.client import layer_name

    assert layer_name(responses["exact"]) == "Colorized (Tiny base)"
    assert layer_name(responses["auto"]) == "Colorized (Tiny base, int8)"
    bad = dict(request, options={"variant": "quick"})
    message = handle(json.dumps(bad), lambda m: None, None)["message"]
    assert message == "Precision must be one of auto, exact, fast, not 'quick'."


def test_device_plan_follows_the_providers(monkeypatch):
    from colorize_ai import session
    from colorize_ai.errors import DeviceError

    class Runtime:
        providers = ["CPUExecutionProvider"]

        def get_available_providers(self):
            return self.providers

    monkeypatch.setattr(session, "runtime", Runtime)
    assert [session.plan_device(d).target for d in ("auto", "cuda", "cpu")] == ["cpu"] * 3
    Runtime.providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    targets = [session.plan_device(d).target for d in ("auto", "cuda", "cpu")]
    assert targets == ["cuda", "cuda", "cpu"]
    with pytest.raises(DeviceError, match="Unknown device 'tpu'"):
        session.plan_device("tpu")


def test_one_default_variant_policy_everywhere(models):
    """load_model's default is the option's (the CLI's, the worker's and the dialog's)."""
    import inspect

    from colorize_ai.options import BY_NAME

    assert inspect.signature(load_model).parameters["variant"].default == BY_NAME["variant"].default
    _variant(models, "base-int8")
    assert load_model("base", device="cpu").spec.id == "base-int8"  # as `colorize-ai -m base`


def test_a_model_always_knows_its_base(models, tmp_path):
    _variant(models, "base-int8")
    exact = load_model("base", device="cpu", variant="exact")
    assert exact.base is exact.spec
    assert load_model("base", device="cpu").base.id == "base"
    assert load_model("base-int8", device="cpu").base.id == "base"  # asked for by its own id
    alone = tmp_path / "alone"  # a variant whose model is in no folder searched
    add_model(alone, "orphan-int8", variant_of="gone", variant="fast", precision="int8",
              device="cpu", fidelity=GOOD)
    orphan = load_model("orphan-int8", device="cpu", folders=[alone])
    assert orphan.base is orphan.spec and orphan.name == "Tiny orphan-int8"


def test_one_manifest_read_and_one_device_check_per_load(models, tmp_path, monkeypatch):
    """A load reads each folder's manifest once (the model, its variant and the variant's
    model all come from one catalogue) and checks the device once."""
    from colorize_ai import session

    _variant(models, "base-int8")
    other = tmp_path / "other"
    add_model(other, "elsewhere")
    reads: dict[str, int] = {}
    read_manifest = manifest.read_manifest

    def counting(folder, problems=None):
        reads[folder] = reads.get(folder, 0) + 1
        return read_manifest(folder, problems)

    providers = session._providers
    plans = []

    def counting_providers(device, available):
        plans.append(device)
        return providers(device, available)

    monkeypatch.setattr(manifest, "read_manifest", counting)
    monkeypatch.setattr(session, "_providers", counting_providers)
    session._CACHE.clear()
    folders = [models, other]
    for model_id, variant in (("base", "auto"), ("base", "fast"), ("base-int8", "auto"),
                              ("base", "exact"), (None, "auto")):
        reads.clear()
        plans.clear()
        load_model(model_id, device="cpu", folders=folders, variant=variant)
        assert reads == {str(models): 1, str(other): 1}, (model_id, variant)
        assert plans == ["cpu"], (model_id, variant)


def test_auto_falls_back_to_the_exact_model_when_cuda_does_not_start(models, monkeypatch):
    import warnings

    import onnxruntime as ort

    from colorize_ai import session

    _variant(models, "base-fp16", device="cuda", stride=1)
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    real = ort.InferenceSession

    def cuda_fails(path, sess_options=None, providers=None):
        with warnings.catch_warnings():
            return real(path, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", cuda_fails)
    session._CACHE.clear()
    loaded = load_model("base", device="auto")
    assert (loaded.spec.id, loaded.base.id, loaded.provider) == ("base", "base",
                                                                 "CPUExecutionProvider")
    assert load_model("base", device="auto", variant="fast").spec.id == "base-fp16"  # as asked
    session._CACHE.clear()


def test_an_unusable_family_elsewhere_does_not_stop_choosing_a_variant(models):
    _variant(models, "base-int8")
    add_model(models, "odd", family="pix2pix")  # some other model the engine cannot run
    assert load_model("base", device="cpu").spec.id == "base-int8"
