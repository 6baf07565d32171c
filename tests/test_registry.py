import json
import sys
import warnings

import numpy as np
import pytest
from onnx import TensorProto, helper

from colorize_ai import manifest
from colorize_ai import model as model_module
from colorize_ai.errors import DeviceError, ModelCorrupt, ModelMissing, ModelUnknown
from colorize_ai.model import load_model
from colorize_ai.registry import get_spec, list_models
from tiny_models import add_model, tiny_graph


def test_search_order_env_then_user_then_repo(tmp_path, monkeypatch):
    env_dir, user_dir = tmp_path / "env", tmp_path / "data" / "colorize-ai" / "models"
    add_model(env_dir, "shared-id", name="from env")
    add_model(user_dir, "shared-id", name="from user")
    add_model(user_dir, "user-only")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("COLORIZE_AI_MODELS", str(env_dir))
    assert manifest.model_folders()[:2] == [str(env_dir), str(user_dir)]
    assert manifest.model_folders()[2] == manifest.REPO_MODELS
    specs = {s.id: s for s in list_models()}
    assert specs["shared-id"].name == "from env"
    assert specs["user-only"].installed
    monkeypatch.delenv("COLORIZE_AI_MODELS")
    assert get_spec("shared-id").name == "from user"


def test_user_data_folder_per_platform(monkeypatch, tmp_path):
    monkeypatch.setattr(manifest.sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert manifest.user_models_dir() == str(tmp_path / "Local" / "colorize-ai" / "models")
    monkeypatch.setattr(manifest.sys, "platform", "darwin")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert manifest.user_models_dir() == str(
        tmp_path / "Library" / "Application Support" / "colorize-ai" / "models")


def test_an_installed_entry_wins_over_an_earlier_catalogue_entry(tmp_path):
    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    (catalogue / "manifest.json").write_text(json.dumps({"format": 1, "models": [
        {"id": "m", "name": "M", "family": "zhang", "file": "m.onnx",
         "install": "python3 installer.py --model m"}]}))
    assert not get_spec("m", [catalogue]).installed
    add_model(tmp_path / "installed", "m", family="zhang")
    assert get_spec("m", [catalogue, tmp_path / "installed"]).installed


@pytest.mark.parametrize("model_id,family,licence,name", [
    ("zhang-eccv16", "zhang", "BSD-2-Clause", "zhang"),
    ("siggraph17", "siggraph17", "MIT", "siggraph17"),
    ("siggraph17-pytorch", "siggraph17", "BSD-2-Clause", "siggraph17-pytorch"),
])
def test_repo_catalogue_lists_published_models_as_not_installed(model_id, family, licence, name):
    spec = get_spec(model_id, [manifest.REPO_MODELS])
    assert spec.family == family and spec.license == licence
    if not spec.installed:
        with pytest.raises(ModelMissing, match=f"`python3 installer.py --model {name}`"):
            load_model(spec)


def test_default_model(tmp_path):
    add_model(tmp_path, "a")
    add_model(tmp_path, "b", default=True)
    assert get_spec(None, [tmp_path]).id == "b"
    assert get_spec("default", [tmp_path]).id == "b"
    with pytest.raises(ModelMissing, match="No model is installed"):
        get_spec(None, [tmp_path / "empty"])


def test_unknown_model_names_the_known_ones(model_dir):
    with pytest.raises(ModelUnknown, match="'nope'.*tiny"):
        get_spec("nope")


def test_missing_file_names_model_and_install_command(model_dir):
    (model_dir / "tiny.onnx").unlink()
    with pytest.raises(ModelMissing, match=r"'tiny'.*python3 installer.py"):
        load_model("tiny")


def test_altered_file_is_refused_before_onnx_runtime_sees_it(model_dir, monkeypatch):
    path = model_dir / "tiny.onnx"
    path.write_bytes(path.read_bytes() + b"\0")
    monkeypatch.setattr(model_module, "create_session", None)  # must not be reached
    with pytest.raises(ModelCorrupt, match="damaged or altered"):
        load_model("tiny")


def test_not_onnx(tmp_path):
    add_model(tmp_path, "junk", b"this is not a protobuf at all")
    with pytest.raises(ModelCorrupt, match="not a model ONNX Runtime can load"):
        load_model("junk", device="cpu", folders=[tmp_path])


def test_unexpected_inputs_and_outputs(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "H", "W"])
    graph = helper.make_graph([helper.make_node("Squeeze", ["x"], ["y"],)], "g", [x], [y])
    wrong = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    wrong.ir_version = 8
    add_model(tmp_path, "wrong", wrong)
    with pytest.raises(ModelCorrupt, match="no input 'L'.*no output 'ab'"):
        load_model("wrong", device="cpu", folders=[tmp_path])


def test_family_in_metadata_must_match_the_manifest(tmp_path):
    add_model(tmp_path, "liar", tiny_graph(family="zhang"), family="baseline")
    with pytest.raises(ModelCorrupt, match="family 'zhang'"):
        load_model("liar", device="cpu", folders=[tmp_path])


def test_damaged_manifest(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelCorrupt, match="damaged"):
        list_models([tmp_path])


def test_unknown_family(tmp_path):
    add_model(tmp_path, "odd", family="pix2pix")
    with pytest.raises(ModelCorrupt, match="unknown family 'pix2pix'"):
        list_models([tmp_path])


def test_cpu_session_reports_its_provider_and_is_cached(model_dir):
    first = load_model("tiny", device="cpu")
    again = load_model("tiny", device="cpu")
    assert first.provider == "CPUExecutionProvider"
    assert first.info is again.info
    assert load_model("tiny", device="cpu", threads=1).info is not first.info


def test_cuda_without_a_cuda_build_warns_and_uses_the_cpu(model_dir, monkeypatch):
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    loaded = load_model("tiny", device="cuda")
    assert loaded.provider == "CPUExecutionProvider"
    assert "no CUDA execution provider" in loaded.info.warning
    with pytest.raises(DeviceError, match="CUDA was requested"):
        load_model("tiny", device="cuda", strict_device=True, threads=3)


def test_cuda_that_fails_to_start_is_reported(model_dir, monkeypatch):
    import onnxruntime as ort

    # A CUDA build on a machine where CUDA cannot start: ORT falls back to the CPU quietly.
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    real = ort.InferenceSession

    def fake_session(path, sess_options=None, providers=None):
        assert providers[0][0] == "CUDAExecutionProvider"
        with warnings.catch_warnings():
            return real(path, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "InferenceSession", fake_session)
    loaded = load_model("tiny", device="cuda", threads=2)
    assert loaded.provider == "CPUExecutionProvider"
    assert "failed to start" in loaded.info.warning
    auto = load_model("tiny", device="auto", threads=2)
    assert auto.provider == "CPUExecutionProvider" and auto.info.warning is None
    with pytest.raises(DeviceError, match="failed to start"):
        load_model("tiny", device="cuda", strict_device=True, threads=2)


def test_unknown_device(model_dir):
    with pytest.raises(DeviceError, match="Unknown device"):
        load_model("tiny", device="tpu")


def test_predict_ab_scales_by_the_manifest(tmp_path):
    add_model(tmp_path, "s1", output={"ab_scale": 1.0})
    add_model(tmp_path, "s100", output={"ab_scale": 100.0})
    plane = np.full((8, 8), 70.0, np.float32)
    a = load_model("s1", device="cpu", folders=[tmp_path]).predict_ab(plane)
    b = load_model("s100", device="cpu", folders=[tmp_path]).predict_ab(plane)
    assert a.shape == (2, 2, 2)
    np.testing.assert_allclose(b, 100 * a, rtol=1e-5)


def test_missing_onnx_runtime_is_a_clear_error(model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(DeviceError, match="ONNX Runtime is not installed"):
        load_model("tiny", device="cpu", threads=5)


def test_spec_fields_missing_or_null_take_their_defaults(tmp_path):
    add_model(tmp_path, "sparse", precision=None, license=None, description=None, install="",
              source_urls=None, fidelity=None)
    spec = get_spec("sparse", [tmp_path])
    assert (spec.precision, spec.license, spec.description) == ("fp32", "", "")
    assert spec.install == "python3 installer.py"
    assert (spec.source_urls, spec.fidelity) == ((), {})
