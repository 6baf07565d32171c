"""python -m colorize_ai.worker: the engine process the GIMP front ends talk to.

One JSON request per line on standard input; JSON lines on standard output: progress lines,
then one response per request (protocol: docs/ARCHITECTURE.md). Tracebacks and everything
native libraries print go to the log file, never into a response's message.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np

from .errors import BadRequest, ColorizeError, OutOfMemory, is_out_of_memory
from .logs import log_to_file
from .model import load_model
from .options import BY_NAME, IMAGE, SESSION, check_values, defaults, split
from .pipeline import colorize
from .registry import list_models
from .session import runtime

log = logging.getLogger("colorize_ai.worker")

DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float32": np.float32}
# Requests carry paths and options, never pixels: anything longer is refused unread, and ids
# are echoed and logged only this long (a 200 MB id once grew the log by 400 MB).
MAX_REQUEST = 1 << 16
MAX_ID = 100

Emit = Callable[[dict], None]


def _field(request: dict, name: str, kind: type) -> Any:
    value = request.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"The request's '{name}' is missing or not a {kind.__name__}.")
    return value


def _read_pixels(request: dict, what: str = "input") -> np.ndarray:
    """The raw pixels a request (or one of its image options) names: input, width, height,
    channels, dtype."""
    width, height = _field(request, "width", int), _field(request, "height", int)
    channels = _field(request, "channels", int)
    dtype = DTYPES.get(request.get("dtype"))
    if dtype is None:
        raise BadRequest(f"The {what}'s dtype must be one of {', '.join(DTYPES)}.")
    if width < 1 or height < 1 or channels not in (1, 2, 3, 4):
        raise BadRequest(f"Bad {what} shape {width} x {height} x {channels}.")
    path = _field(request, "input", str)
    expected = width * height * channels * np.dtype(dtype).itemsize
    try:
        size = os.path.getsize(path)
    except OSError:
        raise BadRequest(f"The {what} buffer {path} cannot be read.") from None
    if size != expected:
        raise BadRequest(f"The {what} buffer holds {size} bytes; {width} x {height} x "
                         f"{channels} {request['dtype']} needs {expected}.")
    pixels = np.fromfile(path, dtype=dtype).reshape(height, width, channels)
    return pixels[..., 0] if channels == 1 else pixels


def _write_private(path: str, pixels: np.ndarray) -> None:
    """Write a new file (never an existing one, never through a link), 0600; a half-written
    file of ours is removed, nothing else ever is."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_BINARY", 0), 0o600)
    except FileExistsError:
        raise BadRequest(f"The output {path} already exists; the worker writes only new "
                         "files.") from None
    try:
        with os.fdopen(fd, "wb") as f:
            np.ascontiguousarray(pixels).tofile(f)
    except BaseException:
        os.unlink(path)
        raise


def _same_folder(request: dict, images: dict) -> None:
    """The output and every buffer must sit in the input's folder: the client's private
    request folder, so a request cannot read or write elsewhere."""
    folder = os.path.dirname(os.path.realpath(_field(request, "input", str)))
    paths = [_field(request, "output", str)] + [b.get("input") for b in images.values()]
    for path in paths:
        if not isinstance(path, str) or os.path.dirname(os.path.realpath(path)) != folder:
            raise BadRequest(f"The request's files must be in its input's folder {folder}.")


def colorize_request(request: dict, emit: Emit) -> dict:
    """Run one colorize request; the response for it (errors are raised)."""
    start = time.perf_counter()
    output = _field(request, "output", str)
    options = request.get("options") or {}
    if not isinstance(options, dict):
        raise BadRequest("The request's 'options' must be an object.")
    try:
        session, pipeline = split({**defaults(SESSION), **check_values(options)})
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    session["threads"] = session["threads"] or None
    model_id = request.get("model")
    if model_id is not None and not isinstance(model_id, str):
        raise BadRequest("The request's 'model' must be a model id.")

    images = request.get("images") or {}
    if not isinstance(images, dict) or any(
            name not in BY_NAME or BY_NAME[name].kind != IMAGE or not isinstance(buffer, dict)
            for name, buffer in images.items()):
        raise BadRequest("The request's 'images' must map image options to buffers.")
    _same_folder(request, images)
    pixels = _read_pixels(request)
    for name, buffer in images.items():
        pipeline[name] = _read_pixels(buffer, f"{name} image")
    t = time.perf_counter()
    model = load_model(model_id, **session)
    load_time = time.perf_counter() - t
    timings: dict = {}

    def progress(fraction: float, stage: str) -> None:
        emit({"id": _short(request.get("id")), "progress": round(fraction, 3), "stage": stage})

    result = colorize(pixels, model, progress=progress, timings=timings, **pipeline)
    try:
        _write_private(output, result)
    except (FileExistsError, IsADirectoryError, PermissionError) as exc:
        raise BadRequest(f"The result cannot be written to {output} ({exc.strerror}).") from None
    except OSError as exc:
        raise BadRequest(f"The result cannot be written to {output} ({exc.strerror}).") from None
    timings.update(load=load_time, total=time.perf_counter() - start)
    response = {"id": _short(request.get("id")), "ok": True, "output": output,
                "channels": result.shape[2], "model": model.spec.base_id,
                "model_name": model.name, "fast_copy": model.spec.is_variant,
                "precision": model.spec.precision, "provider": model.provider,
                "hints": pipeline.get("hints") is not None,
                "timings": {k: round(v, 4) for k, v in timings.items()}}
    if model.info.warning:
        response["warning"] = model.info.warning
    return response


def info_request(request: dict) -> dict:
    ort = runtime()
    return {"id": _short(request.get("id")), "ok": True, "providers": ort.get_available_providers(),
            "onnxruntime": ort.__version__,
            "models": [{"id": s.id, "name": s.name, "installed": s.installed,
                        "folder": str(s.folder), "install": s.install}
                       for s in list_models()]}


def _short(value: Any, limit: int = MAX_ID) -> Any:
    """A request's id (or a text) as echoed and logged: never more than `limit` characters."""
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "..."
    return value


def handle(line: str, emit: Emit, logfile: Path | None) -> dict:
    request: dict = {}
    try:
        if len(line) > MAX_REQUEST:
            raise BadRequest(f"The request is {len(line)} characters long; requests name their "
                             f"buffers and are never over {MAX_REQUEST}.")
        try:
            message = json.loads(line)
        except ValueError:
            raise BadRequest("The request is not valid JSON.") from None
        if not isinstance(message, dict):
            raise BadRequest("The request must be a JSON object.")
        request = message
        if request.get("command", "colorize") == "info":
            return info_request(request)
        if request.get("command", "colorize") != "colorize":
            raise BadRequest(f"Unknown command '{request['command']}'.")
        return colorize_request(request, emit)
    except Exception as exc:
        # Only _write_private removes a file, and only one it created itself.
        request_id = _short(request.get("id"))
        if isinstance(exc, ColorizeError):
            log.info("request %s failed: %s", request_id, _short(str(exc), 300))
            return {"id": request_id, "ok": False, "error": exc.kind, "message": str(exc)}
        if is_out_of_memory(exc):  # numpy, OpenCV or ONNX Runtime, each in its own words
            log.info("request %s ran out of memory", request_id, exc_info=True)
            return {"id": request_id, "ok": False, "error": OutOfMemory.kind,
                    "message": str(OutOfMemory())}
        log.exception("request %s crashed", request_id)
        where = f" Details are in {logfile}." if logfile else ""
        return {"id": request_id, "ok": False, "error": "internal",
                "message": f"The colorization engine failed unexpectedly "
                           f"({type(exc).__name__}).{where}"}


def serve(lines: TextIO, out: TextIO, logfile: Path | None) -> None:
    def emit(message: dict) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    for line in lines:
        if line.strip():
            emit(handle(line, emit, logfile))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m colorize_ai.worker", description=__doc__)
    parser.add_argument("--log", help="log file (default: the user's colorize-ai log folder)")
    args = parser.parse_args(argv)
    logfile = log_to_file("worker", args.log)
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    # Whatever Python code or native libraries print must not corrupt the protocol stream.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    if logfile:
        with open(logfile, "ab") as f:
            os.dup2(f.fileno(), sys.stderr.fileno())
    log.info("worker started (pid %d, python %s)", os.getpid(), sys.version.split()[0])
    serve(sys.stdin, protocol, logfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
