"""Models that lie: manifests with wrong types, files swapped after their check, outputs that
are not numbers or not of the promised shape (issue #12)."""

import json
import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from colorize_ai import manifest, session, worker
from colorize_ai.cli import main
from colorize_ai.errors import ModelCorrupt
from colorize_ai.model import load_model
from colorize_ai.pipeline import colorize
from colorize_ai.registry import get_spec, list_models
from tiny_models import add_model, tiny_graph

PHOTO = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) % 251).astype(np.uint8)


def _bad_entries(folder):
    """A models folder with one good model and four entries of the wrong types."""
    add_model(folder, "good")
    path = folder / "manifest.json"
    listing = json.loads(path.read_text())
    good = listing["models"][0]
    listing["models"] += [5, dict(good, id="filed", file=5),
                          dict(good, id="huge", size_bytes="huge"),
                          dict(good, id="sized", input={"size": "big"}),
                          dict(good, id="../escape"), dict(good, id="a/b")]
    path.write_text(json.dumps(listing))


def test_wrong_types_in_a_manifest_leave_the_good_models_usable(tmp_path, monkeypatch, capsys):
    _bad_entries(tmp_path / "models")
    monkeypatch.setenv("COLORIZE_AI_MODELS", str(tmp_path / "models"))
    problems = []
    entries = manifest.list_entries([str(tmp_path / "models")], problems=problems)
    assert [e["id"] for e in entries] == ["good"]
    assert "good" in [e["id"] for e in manifest.list_entries()]  # what the front ends read
    text = "\n".join(sentence for _, sentence in problems)
    for named in ("number 2", "'filed'", "'file'", "'huge'", "'size_bytes'", "'sized'",
                  "'input.size'", '"../escape"', '"a/b"'):
        assert named in text
    assert [s.id for s in list_models([tmp_path / "models"])] == ["good"]

    photo = tmp_path / "p.png"
    from PIL import Image

    Image.fromarray(PHOTO).save(photo)
    assert main([str(photo), "-m", "good"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: Model") == 6 and "Traceback" not in err
    assert main([str(photo), "-m", "huge"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == (f"error: Model 'huge' in {tmp_path / 'models' / 'manifest.json'} cannot "
                       "be used: its 'size_bytes' has the wrong type (\"huge\"); fix or "
                       "reinstall it.")


def test_worker_info_with_a_bad_manifest_entry(tmp_path, monkeypatch):
    _bad_entries(tmp_path / "models")
    monkeypatch.setenv("COLORIZE_AI_MODELS", str(tmp_path / "models"))
    response = worker.handle(json.dumps({"id": "1", "command": "info"}), lambda m: None, None)
    ids = [m["id"] for m in response["models"]]
    assert response["ok"] and "good" in ids and "huge" not in ids


def test_a_model_id_cannot_name_a_path(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    add_model(folder, "../../escape")
    monkeypatch.setenv("COLORIZE_AI_MODELS", str(folder))
    assert "../../escape" not in [s.id for s in list_models()]
    source = tmp_path / "in" / "p.png"
    source.parent.mkdir()
    from PIL import Image

    Image.fromarray(PHOTO).save(source)
    out = tmp_path / "in" / "out"
    assert main([str(source), "-o", str(out), "-m", "../../escape"]) == 1
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["p.png"]


def _graph_with_tail(nodes, inits=(), out_shape=(1, 2, "h", "w")):
    """tiny_graph's input and pooling, then `nodes` from "pooled" to "ab"."""
    graph = helper.make_graph(
        [helper.make_node("AveragePool", ["L"], ["pooled"], kernel_shape=[4, 4],
                          strides=[4, 4])] + list(nodes), "tail",
        [helper.make_tensor_value_info("L", TensorProto.FLOAT, [1, 1, "H", "W"])],
        [helper.make_tensor_value_info("ab", TensorProto.FLOAT, list(out_shape))], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def test_nan_output_is_refused_naming_the_model(tmp_path):
    weights = numpy_helper.from_array(np.ones((2, 1, 1, 1), np.float32), "w")
    minus = numpy_helper.from_array(np.array(-1.0, np.float32), "minus")
    nan = _graph_with_tail([helper.make_node("Conv", ["pooled", "w"], ["c"]),
                            helper.make_node("Abs", ["c"], ["a"]),
                            helper.make_node("Mul", ["a", "minus"], ["n"]),
                            helper.make_node("Add", ["n", "minus"], ["k"]),
                            helper.make_node("Sqrt", ["k"], ["ab"])], [weights, minus])
    add_model(tmp_path, "nan", nan)
    model = load_model("nan", device="cpu", folders=[tmp_path])
    with pytest.raises(ModelCorrupt, match="Model 'nan' .* invalid numbers"):
        colorize(PHOTO, model)


def test_output_of_the_wrong_shape_is_refused_naming_the_model(tmp_path):
    three = numpy_helper.from_array(np.ones((3, 1, 1, 1), np.float32), "w")
    add_model(tmp_path, "three", _graph_with_tail([helper.make_node("Conv", ["pooled", "w"],
                                                                    ["ab"])], [three]))
    model = load_model("three", device="cpu", folders=[tmp_path])
    with pytest.raises(ModelCorrupt, match=r"Model 'three' gave an output of shape \[1, 3, "):
        colorize(PHOTO, model)


def _scaled(factor: float) -> bytes:
    """tiny_graph with its weights times `factor`: the same size, other colours."""
    model = tiny_graph()
    for init in model.graph.initializer:
        if init.name == "w":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * factor, "w"))
    return model.SerializeToString()


def test_a_file_swapped_after_its_check_never_runs(tmp_path, monkeypatch):
    add_model(tmp_path, "m", _scaled(1.0))
    expected = load_model("m", device="cpu", folders=[tmp_path]).predict_ab(
        np.full((64, 64), 60, np.float32))
    session._CACHE.clear()
    real = session.runtime().InferenceSession

    def swap_first(model, **kwargs):  # the file changes between the check and the load
        (tmp_path / "m.onnx").write_bytes(_scaled(3.0))
        return real(model, **kwargs)

    monkeypatch.setattr(session.runtime(), "InferenceSession", swap_first)
    got = load_model("m", device="cpu", folders=[tmp_path]).predict_ab(
        np.full((64, 64), 60, np.float32))
    assert np.array_equal(got, expected)


def test_a_same_size_swap_is_seen_by_a_long_lived_process(tmp_path):
    add_model(tmp_path, "m", _scaled(1.0))
    load_model("m", device="cpu", folders=[tmp_path])
    path = tmp_path / "m.onnx"
    stat = path.stat()
    other = _scaled(3.0)
    assert len(other) == stat.st_size
    path.write_bytes(other)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time
    with pytest.raises(ModelCorrupt, match="damaged or altered"):
        load_model("m", device="cpu", folders=[tmp_path])


def test_a_model_with_external_data_is_refused(tmp_path, monkeypatch):
    onnx.save_model(tiny_graph(), str(tmp_path / "ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.data", size_threshold=0)
    add_model(tmp_path, "ext", (tmp_path / "ext.onnx").read_bytes())
    monkeypatch.chdir(tmp_path)  # where ONNX Runtime looks for the data of bytes
    with pytest.raises(ModelCorrupt, match="external data"):
        load_model("ext", device="cpu", folders=[tmp_path])


def test_worker_says_out_of_memory_in_one_sentence(model_dir, monkeypatch):
    def fail(request, emit):
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : bfc_arena.cc:359 "
                           "AllocateRawInternal Failed to allocate memory for requested buffer")

    monkeypatch.setattr(worker, "colorize_request", fail)
    response = worker.handle(json.dumps({"id": "7", "model": "tiny"}), lambda m: None, None)
    assert response["error"] == "bad-input"
    assert "too large for the memory available" in response["message"]


def test_quantize_without_onnx_names_the_extra(tmp_path, monkeypatch, capsys):
    import convert_models

    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the convert extra were missing
    add_model(tmp_path, "m")
    code = convert_models.main(["quantize", "fp16", "--model", "m", "--models",
                                str(tmp_path), "--test", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "`convert` extra" in err and "Traceback" not in err


def test_get_spec_still_finds_good_models_next_to_bad_ones(tmp_path):
    _bad_entries(tmp_path)
    assert get_spec("good", [tmp_path]).id == "good"
