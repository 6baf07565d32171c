"""The worker as the GIMP front ends use it: a subprocess driven through client.py."""

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from colorize_ai import client
from colorize_ai.model import load_model
from colorize_ai.pipeline import colorize
from tiny_models import add_model

PLUGIN = Path(__file__).resolve().parents[1] / "plugin"


TWO_BY_TWO = client.Raw(b"\0" * 12, 2, 2, 3, "uint8")


def _pixels(height=60, width=80, channels=4, dtype=np.uint8):
    rng = np.random.default_rng(3)
    return (rng.random((height, width, channels)) * np.iinfo(dtype).max).astype(dtype)


def _run(pixels, models, **kwargs):
    height, width, channels = pixels.shape
    raw = client.Raw(pixels.tobytes(), width, height, channels, str(pixels.dtype))
    return client.run_worker(sys.executable, raw, models, package_parent=str(PLUGIN), **kwargs)


@pytest.fixture
def watch_tmp(tmp_path, monkeypatch):
    """Point tempfile at a folder of our own to see what the client leaves behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(client.tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_result_equals_the_engine_in_process(model_dir, watch_tmp, dtype):
    pixels = _pixels(dtype=dtype)
    seen = []
    (response,) = _run(pixels, ["tiny"], options={"strength": 1.5}, progress=seen.append)
    assert response["ok"] and response["provider"] == "CPUExecutionProvider"
    assert response["model"] == "tiny" and response["channels"] == 4
    assert {"load", "model", "total"} <= set(response["timings"])
    result = np.frombuffer(response["pixels"], dtype).reshape(pixels.shape)
    expected = colorize(pixels, load_model("tiny", device="cpu"), strength=1.5)
    assert np.array_equal(result, expected)
    assert seen and seen[-1] == 1.0
    assert list(watch_tmp.iterdir()) == []


def test_several_models_in_one_run_and_an_error_among_them(model_dir, watch_tmp):
    add_model(model_dir, "other", output={"ab_scale": 20.0})
    responses = _run(_pixels(channels=3), ["tiny", "nope", "other"])
    assert [r["ok"] for r in responses] == [True, False, True]
    assert responses[1]["error"] == "model-unknown" and "nope" in responses[1]["message"]
    assert responses[0]["pixels"] != responses[2]["pixels"]
    assert list(watch_tmp.iterdir()) == []


def test_corrupt_model_is_an_error_response_not_a_crash(model_dir, watch_tmp):
    add_model(model_dir, "broken", b"\x08\x01garbage that is not a model")
    (response,) = _run(_pixels(), ["broken"])
    assert not response["ok"] and response["error"] == "model-corrupt"
    assert "Traceback" not in response["message"]
    assert list(watch_tmp.iterdir()) == []


def test_worker_crash_is_reported_and_cleaned_up(model_dir, watch_tmp, tmp_path):
    # A "python" that dies without answering, as a segfault in a native library would.
    fake = tmp_path / "crashing-python"
    fake.write_text("#!/bin/sh\ncat > /dev/null\nkill -SEGV $$\n")
    fake.chmod(0o755)
    pixels = _pixels()
    with pytest.raises(client.WorkerError) as info:
        client.run_worker(str(fake), client.Raw(pixels.tobytes(), 80, 60, 4, "uint8"),
                          ["tiny"])
    assert info.value.kind == "crash" and "stopped unexpectedly" in info.value.message
    assert list(watch_tmp.iterdir()) == []


def test_timeout(model_dir, watch_tmp, tmp_path):
    fake = tmp_path / "slow-python"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    with pytest.raises(client.WorkerError) as info:
        client.run_worker(str(fake), TWO_BY_TWO, ["tiny"], timeout=1)
    assert info.value.kind == "timeout"
    assert list(watch_tmp.iterdir()) == []


def test_missing_interpreter(watch_tmp):
    with pytest.raises(client.WorkerError, match="could not be started"):
        client.run_worker("/nonexistent/python", TWO_BY_TWO, ["tiny"])
    assert list(watch_tmp.iterdir()) == []


def test_buffers_are_private(model_dir, tmp_path, monkeypatch):
    modes = {}
    real = client._exchange

    def spy(python, requests, *args):
        folder = Path(requests[0]["input"]).parent
        modes["folder"] = stat.S_IMODE(folder.stat().st_mode)
        modes["input"] = stat.S_IMODE(Path(requests[0]["input"]).stat().st_mode)
        responses = real(python, requests, *args)
        modes["output"] = stat.S_IMODE(Path(responses[0]["output"]).stat().st_mode)
        return responses

    monkeypatch.setattr(client, "_exchange", spy)
    _run(_pixels(), ["tiny"])
    assert modes == {"folder": 0o700, "input": 0o600, "output": 0o600}


def test_concurrent_runs_do_not_collide(model_dir):
    results = {}

    def one(seed):
        pixels = _pixels(channels=3) // (seed + 1)
        (response,) = _run(pixels, ["tiny"])
        results[seed] = (pixels, response)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    model = load_model("tiny", device="cpu")
    for pixels, response in results.values():
        got = np.frombuffer(response["pixels"], np.uint8).reshape(pixels.shape)
        assert np.array_equal(got, colorize(pixels, model))


def _raw_worker(lines, tmp_path):
    log = tmp_path / "worker.log"
    env = dict(os.environ, PYTHONPATH=str(PLUGIN))
    run = subprocess.run([sys.executable, "-m", "colorize_ai.worker", "--log", str(log)],
                         input="\n".join(lines) + "\n", capture_output=True, text=True,
                         env=env, check=True, timeout=120)
    return [json.loads(line) for line in run.stdout.splitlines()], log


def test_malformed_requests_get_readable_errors(model_dir, tmp_path):
    source = tmp_path / "in.raw"
    source.write_bytes(b"\0" * 10)
    base = {"model": "tiny", "input": str(source), "width": 2, "height": 2, "channels": 3,
            "dtype": "uint8", "output": str(tmp_path / "out.raw")}
    lines = ["{not json", "[1, 2]", json.dumps({**base, "width": "2"}),
             json.dumps(base), json.dumps({**base, "dtype": "int64"}),
             json.dumps({**base, "command": "dance"}),
             json.dumps({**base, "options": {"colour": 3}}),
             json.dumps({**base, "width": 5, "height": 2, "channels": 1,
                         "options": {"strength": 9}})]
    responses, log = _raw_worker(lines, tmp_path)
    assert [r["ok"] for r in responses] == [False] * len(lines)
    kinds = [r["error"] for r in responses]
    assert kinds == ["bad-request"] * 7 + ["bad-request"]
    messages = [r["message"] for r in responses]
    assert "not valid JSON" in messages[0] and "10 bytes" in messages[3]
    assert "Unknown command" in messages[5] and "colour" in messages[6]
    assert "Strength must be between 0 and 2" in messages[7]
    assert not (tmp_path / "out.raw").exists()
    assert "worker started" in log.read_text()


def test_info_request_lists_providers_and_models(model_dir, tmp_path):
    (response,), _ = _raw_worker([json.dumps({"id": "i", "command": "info"})], tmp_path)
    assert response["ok"] and "CPUExecutionProvider" in response["providers"]
    assert {"id": "tiny", "installed": True} .items() <= {
        k: v for k, v in response["models"][0].items() if k in ("id", "installed")}.items()


def _request(tmp_path, **fields) -> dict:
    pixels = _pixels(height=8, width=8, channels=3)
    source = tmp_path / "input.raw"
    pixels.tofile(source)
    base = {"id": "r", "model": "tiny", "input": str(source), "width": 8, "height": 8,
            "channels": 3, "dtype": "uint8", "output": str(tmp_path / "output.raw")}
    return {**base, **fields}


def test_a_failed_request_never_deletes_the_file_named_as_output(model_dir, tmp_path):
    from colorize_ai.worker import handle

    keep = tmp_path / "output.raw"
    keep.write_bytes(b"the user's file")
    for bad in ({"options": {"strength": 9}}, {"model": "nope"}, {}):
        response = handle(json.dumps(_request(tmp_path, **bad)), lambda m: None, None)
        assert not response["ok"]
        assert keep.read_bytes() == b"the user's file"


def test_the_worker_writes_no_file_through_a_link(model_dir, tmp_path):
    from colorize_ai.worker import handle

    target = tmp_path / "elsewhere.txt"
    target.write_text("precious")
    (tmp_path / "output.raw").symlink_to(target)
    response = handle(json.dumps(_request(tmp_path)), lambda m: None, None)
    assert not response["ok"] and response["error"] == "bad-request"
    assert target.read_text() == "precious" and (tmp_path / "output.raw").is_symlink()


def test_files_outside_the_request_folder_are_refused(model_dir, tmp_path):
    from colorize_ai.worker import handle

    other = tmp_path / "other"
    other.mkdir()
    for fields in ({"output": str(other / "out.raw")},
                   {"images": {"hints": {"input": str(other / "h.raw"), "width": 8,
                                         "height": 8, "channels": 4, "dtype": "uint8"}}}):
        response = handle(json.dumps(_request(tmp_path, **fields)), lambda m: None, None)
        assert not response["ok"] and "must be in its input's folder" in response["message"]
    assert list(other.iterdir()) == []


def test_huge_ids_and_lines_are_capped_in_responses_and_the_log(model_dir, tmp_path):
    from colorize_ai.logs import log_to_file
    from colorize_ai.worker import MAX_ID, MAX_REQUEST, handle

    log = log_to_file("worker", tmp_path / "w.log")
    response = handle(json.dumps(_request(tmp_path, id="x" * 50_000, model="nope")),
                      lambda m: None, log)
    assert len(response["id"]) == MAX_ID + 3 and not response["ok"]
    huge = handle(json.dumps({"id": "y", "pad": "z" * MAX_REQUEST}), lambda m: None, log)
    assert not huge["ok"] and "never over" in huge["message"]
    assert log.stat().st_size < 10_000


def test_a_log_over_its_limit_is_moved_aside_at_start(tmp_path, monkeypatch):
    from colorize_ai import logs

    monkeypatch.setattr(logs, "MAX_LOG_BYTES", 1000)
    path = tmp_path / "worker.log"
    path.write_bytes(b"old line\n" * 200)
    assert logs.log_to_file("worker", path) == path
    assert path.stat().st_size == 0 and (tmp_path / "worker.log.1").stat().st_size == 1800
