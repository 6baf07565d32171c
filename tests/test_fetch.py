"""`convert_models.py fetch zhang` against a local HTTP server (Range requests, dropped
connections, errors) serving the published prototxt and bin centres and a synthetic
caffemodel. Only the tests pass their own sizes and hashes (`sources`); the command line
always checks the pinned ones."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import caffe_synth

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from convert_models import main  # noqa: E402
from converters import fetch, zhang  # noqa: E402

CAFFEMODEL = "colorization_release_v2.caffemodel"


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files = files
        self.errors: dict[str, int] = {}  # name -> HTTP status to answer
        # name -> [bytes to send before dropping the connection, times left (-1: always)]
        self.drops: dict[str, list[int]] = {}
        self.requests: list[tuple[str, str | None]] = []
        # name -> (bytes per write, pause in s): a slow server, until `stop` is set
        self.trickle: dict[str, tuple[int, float]] = {}
        self.stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/files"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        folder, _, name = self.path.rpartition("/")
        srv = self.server
        srv.requests.append((name, self.headers.get("Range")))
        if folder != "/files":
            self.send_error(404)
            return
        if name in srv.errors:
            self.send_error(srv.errors[name])
            return
        if name not in srv.files:
            self.send_error(404)
            return
        data = srv.files[name]
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if name in srv.trickle:
            piece, pause = srv.trickle[name]
            for at in range(start, len(data), piece):
                if srv.stop.wait(pause):
                    return
                self.wfile.write(data[at : at + piece])
                self.wfile.flush()
            return
        drop = srv.drops.get(name)
        if drop and drop[1] != 0:
            drop[1] -= 1
            self.wfile.write(data[start : start + drop[0]])  # then close: a short body
            return
        self.wfile.write(data[start:])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def served_files(tmp_path_factory) -> dict[str, bytes]:
    caffe_synth.require(caffe_synth.SHARED_ZHANG)
    prototxt, caffemodel, hull, _ = caffe_synth.synthetic_zhang(
        tmp_path_factory.getbasetemp() / "zhang-synthetic"
    )
    return {path.name: path.read_bytes() for path in (prototxt, caffemodel, hull)}


def _sources(files: dict[str, bytes]) -> tuple[zhang.SourceFile, ...]:
    """The pinned list with the sizes and hashes of what the test server serves."""
    return tuple(
        replace(s, size=len(files[s.name]), sha256=hashlib.sha256(files[s.name]).hexdigest())
        for s in zhang.SOURCES
    )


def _serve(files: dict[str, bytes]):
    """A running Server of (a copy of) `files`, shut down afterwards."""
    srv = Server(dict(files))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def server(served_files):
    yield from _serve(served_files)


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "RETRY_PAUSE_S", 0.0)
    return tmp_path / "models", tmp_path / "downloads"


def _nothing_installed(dest: Path) -> bool:
    return not dest.exists() or not any(dest.iterdir())


def test_clean_download_installs_a_working_model(server, folders, capsys):
    dest, cache = folders
    # Each file's first address answers 404; its mirror has it.
    root = server.url.rsplit("/", 1)[0]
    sources = [
        replace(s, url=f"{root}/moved/{s.name}", mirrors=(f"{server.url}/{s.name}",))
        for s in _sources(server.files)
    ]
    target = fetch.fetch_zhang(dest, None, cache, sources=sources)
    assert target == dest / "zhang-eccv16.onnx"
    (entry,) = json.loads((dest / "manifest.json").read_text())["models"]
    assert entry["id"] == "zhang-eccv16"
    assert entry["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    assert sorted(p.name for p in dest.iterdir()) == ["manifest.json", "zhang-eccv16.onnx"]
    assert list(cache.iterdir()) == []  # the sources are removed once installed
    assert [name for name, _ in server.requests] == [s.name for s in zhang.SOURCES for _ in "12"]
    assert f"{CAFFEMODEL}: 100%" in capsys.readouterr().err  # progress on stderr
    from colorize_ai.model import load_model

    model = load_model("zhang-eccv16", device="cpu", folders=[dest])
    ab = model.predict_ab(np.full((64, 64), 60, np.float32))
    assert ab.shape == (16, 16, 2) and np.all(np.isfinite(ab))


def test_dropped_connection_resumes_with_a_range_request(server, folders):
    dest, cache = folders
    cut = len(server.files[CAFFEMODEL]) * 2 // 5
    server.drops[CAFFEMODEL] = [cut, 1]
    fetch.fetch_zhang(dest, server.url, cache, sources=_sources(server.files), quiet=True)
    assert (CAFFEMODEL, None) in server.requests
    assert (CAFFEMODEL, f"bytes={cut}-") in server.requests
    assert (dest / "zhang-eccv16.onnx").exists()


def test_download_cut_short_every_time_resumes_on_the_next_run(server, folders):
    dest, cache = folders
    step = len(server.files[CAFFEMODEL]) // 10
    server.drops[CAFFEMODEL] = [step, -1]
    cut = step * fetch.ATTEMPTS
    with pytest.raises(fetch.FetchError, match="cut short .* run the same command again"):
        fetch.fetch_zhang(dest, server.url, cache, sources=_sources(server.files), quiet=True)
    assert _nothing_installed(dest)
    assert (cache / f"{CAFFEMODEL}.part").stat().st_size == cut
    del server.drops[CAFFEMODEL]
    server.requests.clear()
    fetch.fetch_zhang(dest, server.url, cache, sources=_sources(server.files), quiet=True)
    # The verified prototxt was kept; the caffemodel continued where it stopped.
    assert server.requests == [(CAFFEMODEL, f"bytes={cut}-"), ("pts_in_hull.npy", None)]
    assert (dest / "zhang-eccv16.onnx").exists()


def test_wrong_size_is_rejected_by_the_command_line(server, folders, capsys):
    dest, cache = folders
    # The command line checks the published size and sha256; the synthetic caffemodel differs.
    argv = ["fetch", "zhang", "--base-url", server.url, "--dest", str(dest), "--cache", str(cache)]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1
    (message,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert f"{CAFFEMODEL} is {len(server.files[CAFFEMODEL])} bytes, not the published" in message
    assert _nothing_installed(dest)
    assert not (cache / CAFFEMODEL).exists() and not (cache / f"{CAFFEMODEL}.part").exists()


def test_wrong_hash_is_rejected_and_nothing_installed(server, folders):
    dest, cache = folders
    sources = _sources(server.files)
    tampered = bytearray(server.files[CAFFEMODEL])
    tampered[len(tampered) // 2] ^= 0xFF
    server.files[CAFFEMODEL] = bytes(tampered)
    with pytest.raises(fetch.FetchError, match=f"{CAFFEMODEL} from .* has sha256 .*deleted"):
        fetch.fetch_zhang(dest, server.url, cache, sources=sources, quiet=True)
    assert _nothing_installed(dest)
    assert not (cache / CAFFEMODEL).exists() and not (cache / f"{CAFFEMODEL}.part").exists()


def test_server_error_is_one_clear_message(server, folders, capsys):
    dest, cache = folders
    server.errors[CAFFEMODEL] = 500
    with pytest.raises(fetch.FetchError, match="answered 500 .*colorization_release_v2"):
        fetch.fetch_zhang(dest, server.url, cache, sources=_sources(server.files), quiet=True)
    assert _nothing_installed(dest)
    assert not (cache / f"{CAFFEMODEL}.part").exists()


def test_network_failure_is_one_clear_message(folders, capsys):
    dest, cache = folders
    closed = Server({})  # bound, then closed: nothing listens on its port
    url = closed.url
    closed.server_close()
    code = main(["fetch", "zhang", "--base-url", url, "--dest", str(dest), "--cache", str(cache)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: cannot reach ") and err.count("\n") == 1
    assert _nothing_installed(dest)


def test_converted_model_failing_its_check_is_not_installed(server, folders, tmp_path):
    dest, cache = folders
    # Bin centres far outside the ab gamut: the annealed mean leaves [-128, 128].
    wild = tmp_path / "pts_in_hull.npy"
    np.save(wild, np.load(caffe_synth.SHARED_ZHANG / "pts_in_hull.npy") * 10)
    server.files["pts_in_hull.npy"] = wild.read_bytes()
    with pytest.raises(fetch.FetchError, match="outside"):
        fetch.fetch_zhang(dest, server.url, cache, sources=_sources(server.files), quiet=True)
    assert _nothing_installed(dest)
    assert list(cache.iterdir()) == []


def test_default_destination_is_the_user_model_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert fetch.default_dest() == tmp_path / "colorize-ai" / "models"
    assert fetch.default_cache() == tmp_path / "colorize-ai" / "downloads"


@pytest.fixture
def slow_server():
    srv = Server({"slow.bin": bytes(range(256)) * 400})  # 102 kB
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.stop.set()
    srv.shutdown()
    srv.server_close()


def _download_within(seconds: float, url: str, part: Path, size: int) -> Exception | None:
    """Run download() in a thread: the exception it ended with, or a failure after `seconds`
    (a download that never ends must fail the test, not hang it)."""
    result: list[Exception | None] = []

    def target() -> None:
        try:
            fetch.download(url, part, size, fetch.Progress("slow.bin", size, None))
            result.append(None)
        except Exception as exc:  # the test looks at it
            result.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"the download of a slow server was still running after {seconds} s"
    return result[0]


def test_a_stalled_server_is_given_up(slow_server, tmp_path, monkeypatch):
    """A server sending a few bytes now and then (never long enough apart for the socket's
    timeout) used to keep the download running forever."""
    monkeypatch.setattr(fetch, "RETRY_PAUSE_S", 0.0)
    monkeypatch.setattr(fetch, "STALL_S", 0.3)
    monkeypatch.setattr(fetch, "STALL_BYTES", 1000)
    slow_server.trickle["slow.bin"] = (10, 0.05)  # 200 bytes/s
    part = tmp_path / "slow.bin.part"
    size = len(slow_server.files["slow.bin"])
    started = time.monotonic()
    error = _download_within(15, f"{slow_server.url}/slow.bin", part, size)
    assert isinstance(error, fetch.FetchError)
    assert str(error).startswith(f"the download of {slow_server.url}/slow.bin stalled (less "
                                 f"than 1.0 kB in 0.3 s)")
    assert str(error).endswith(f"{fetch.ATTEMPTS} times; run the same command again to "
                               f"resume it")
    assert time.monotonic() - started < 10
    # Each try resumed where the last stopped; what arrived stays for the next run.
    ranges = [r for _, r in slow_server.requests]
    assert len(ranges) == fetch.ATTEMPTS and ranges[0] is None
    offsets = [int(r.split("=")[1].rstrip("-")) for r in ranges[1:]]
    assert 0 < offsets[0] < offsets[1] < offsets[2] <= part.stat().st_size < size


def test_a_download_past_its_deadline_stops_and_can_be_resumed(slow_server, tmp_path,
                                                              monkeypatch):
    monkeypatch.setattr(fetch, "STALL_S", 0.3)
    monkeypatch.setattr(fetch, "STALL_BYTES", 1000)
    monkeypatch.setattr(fetch, "DEADLINE_S", 0.5)
    slow_server.trickle["slow.bin"] = (2000, 0.05)  # 40 kB/s: not stalled, but slow
    part = tmp_path / "slow.bin.part"
    size = len(slow_server.files["slow.bin"])
    error = _download_within(15, f"{slow_server.url}/slow.bin", part, size)
    assert isinstance(error, fetch.FetchError)
    assert str(error) == (f"the download of {slow_server.url}/slow.bin did not finish within "
                          f"0.5 s ({part.stat().st_size} of {size} bytes); run the same "
                          f"command again to resume it")
    assert len(slow_server.requests) == 1  # no retry after the deadline
    got = part.stat().st_size
    assert 0 < got < size
    del slow_server.trickle["slow.bin"]
    monkeypatch.setattr(fetch, "DEADLINE_S", 30.0)
    assert _download_within(15, f"{slow_server.url}/slow.bin", part, size) is None
    assert slow_server.requests[-1] == ("slow.bin", f"bytes={got}-")
    assert part.read_bytes() == slow_server.files["slow.bin"]
# ---------------------------------------------------------------------------------------------
# SIGGRAPH 2017: the prototxt is pinned (the shared copy is the published file); the caffemodel
# has no published size or checksum, so the command line's own checks apply to the synthetic one.

SG17_MODEL = "model.caffemodel"


@pytest.fixture(scope="session")
def sg17_files(tmp_path_factory) -> dict[str, bytes]:
    caffe_synth.require(caffe_synth.SHARED_SIGGRAPH17)
    prototxt, caffemodel, _ = caffe_synth.synthetic_siggraph17(
        tmp_path_factory.getbasetemp() / "sg17-synthetic"
    )
    return {path.name: path.read_bytes() for path in (prototxt, caffemodel)}


@pytest.fixture
def sg17_server(sg17_files):
    yield from _serve(sg17_files)


def _fetch_sg17(server: Server, dest: Path, cache: Path) -> int:
    return main(["fetch", "siggraph17", "--base-url", server.url, "--dest", str(dest),
                 "--cache", str(cache)])


@pytest.mark.slow
def test_siggraph17_installs_after_a_dropped_connection(sg17_server, folders, capsys):
    """Size unknown beforehand: the server's is taken, the download resumes with a Range
    request, the structural check passes, the model works with hints."""
    dest, cache = folders
    cut = len(sg17_server.files[SG17_MODEL]) // 3
    sg17_server.drops[SG17_MODEL] = [cut, 1]
    code = _fetch_sg17(sg17_server, dest, cache)
    assert code == 0, capsys.readouterr().err
    assert (SG17_MODEL, f"bytes={cut}-") in sg17_server.requests
    (entry,) = json.loads((dest / "manifest.json").read_text())["models"]
    assert entry["id"] == "siggraph17"
    assert entry["install"] == "python3 installer.py --model siggraph17"
    digest = hashlib.sha256(sg17_server.files[SG17_MODEL]).hexdigest()
    assert f"model.caffemodel (sha256 {digest})" in entry["provenance"]
    assert "publishes no checksum" in entry["provenance"]
    assert list(cache.iterdir()) == []
    from colorize_ai.families import HintCells
    from colorize_ai.model import load_model

    model = load_model("siggraph17", device="cpu", folders=[dest])
    mask = np.zeros((64, 64), np.float32)
    mask[30:34, 30:34] = 1
    hints = HintCells(np.dstack([mask * 40, mask * -20]), mask)
    plane = np.full((64, 64), 60, np.float32)
    ab = model.predict_ab(plane, hints)
    assert ab.shape == (64, 64, 2) and np.all(np.isfinite(ab))
    assert np.abs(ab - model.predict_ab(plane)).max() > 0.1


def test_siggraph17_wrong_scale_fails_the_structural_check(sg17_server, folders, capsys):
    dest, cache = folders
    data = bytearray(sg17_server.files[SG17_MODEL])
    at = bytes(data).rfind(np.float32(100.0).tobytes())  # pred_ab's blob, the last one
    data[at : at + 4] = np.float32(90.0).tobytes()
    sg17_server.files[SG17_MODEL] = bytes(data)
    code = _fetch_sg17(sg17_server, dest, cache)
    err = capsys.readouterr().err
    (message,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 1
    assert message == (f"error: {SG17_MODEL} from {sg17_server.url}/{SG17_MODEL} is not the "
                       f"published file (its 'pred_ab' scale is 90, not 100); it was deleted")
    assert _nothing_installed(dest)
    assert not (cache / SG17_MODEL).exists() and not (cache / f"{SG17_MODEL}.part").exists()


def test_siggraph17_implausible_size_is_refused(sg17_server, folders, capsys):
    dest, cache = folders
    sg17_server.files[SG17_MODEL] = b"\0" * 1000  # e.g. an error page
    code = _fetch_sg17(sg17_server, dest, cache)
    err = capsys.readouterr().err
    assert code == 1 and "model.caffemodel is 1000 bytes, not between" in err
    assert _nothing_installed(dest)


def test_siggraph17_offline_is_one_clear_message(folders, capsys):
    dest, cache = folders
    closed = Server({})
    url = closed.url
    closed.server_close()
    code = main(["fetch", "siggraph17", "--base-url", url, "--dest", str(dest),
                 "--cache", str(cache)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: cannot reach ") and err.count("\n") == 1
    assert _nothing_installed(dest)


@pytest.mark.slow
def test_siggraph17_pytorch_port_installs_and_is_pinned(folders, tmp_path, capsys):
    """The .pth is pinned (size and the sha256 whose first 8 hex digits name it); a synthetic
    one is refused by the command line and installed through the test hook."""
    from converters import siggraph17
    from sg17_torch import torch_reference

    (source,) = siggraph17.PTH_SOURCES
    assert source.name == f"siggraph17-{source.sha256[:8]}.pth"
    torch, reference = torch_reference()
    torch.save(reference.state_dict(), tmp_path / source.name)
    data = (tmp_path / source.name).read_bytes()
    dest, cache = folders
    for srv in _serve({source.name: data}):
        argv = ["fetch", "siggraph17-pytorch", "--base-url", srv.url, "--dest", str(dest),
                "--cache", str(cache)]
        assert main(argv) == 1
        assert f"is {len(data)} bytes, not the published {source.size}" in capsys.readouterr().err
        assert _nothing_installed(dest)
        served = replace(source, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        target = fetch.fetch_model("siggraph17-pytorch", dest, srv.url, cache, sources=[served],
                                   quiet=True)
    assert target == dest / "siggraph17-pytorch.onnx"
    (entry,) = json.loads((dest / "manifest.json").read_text())["models"]
    assert entry["install"] == "python3 installer.py --model siggraph17-pytorch"
    assert entry["output"]["ab_scale"] == 110 and entry["license"] == "BSD-2-Clause"
    from colorize_ai.model import load_model

    ab = load_model("siggraph17-pytorch", device="cpu", folders=[dest]).predict_ab(
        np.full((32, 40), 55, np.float32))
    assert ab.shape == (32, 40, 2) and np.all(np.isfinite(ab))
