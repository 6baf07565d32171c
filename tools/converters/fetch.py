"""`fetch zhang|siggraph17`: download a model's published files, check, convert and install them.

Downloads go to a cache folder as NAME.part, resumed with HTTP Range requests (after a dropped
connection within a run, and on the next run); a file counts as downloaded only once its size
and sha256 equal the pinned ones (so a plain-http address is as safe as https), or, for a file
whose source publishes neither (SIGGRAPH 2017's caffemodel), once the server's size lies in the
range its architecture implies and the file passes the converter's structural check. A
download that stalls, or outlasts its deadline, stops with a message; the next run resumes.
The converted model is run on a built-in input before it is written, with its manifest entry,
into the user model folder. On any failure nothing is written there; only an interrupted
download's .part stays in the cache, to be resumed.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from toolbox import Progress, sha256_file, size_text

from . import siggraph17, zhang
from .common import ConversionError, SourceFile, save_model

ATTEMPTS = 4  # tries per file when the connection drops or stalls mid-way
# A connection that brings less than STALL_BYTES in STALL_S counts as stalled (a server can
# keep a socket's own timeout from ever firing by sending a byte now and then).
STALL_S = 60.0
STALL_BYTES = 64 * 1024
DEADLINE_S = 2 * 3600.0  # per file, all tries together; the next run resumes
CHUNK = 1 << 16
MAX_ABS_AB = 128.0  # ab a colour model can mean; annealed means stay inside the bin centres
RETRY_PAUSE_S = 1.0  # doubled after each dropped connection


class FetchError(ConversionError):
    """A download that failed or a file that is not the published one."""


class NotFound(FetchError):
    """A 404: the file may be at one of its mirrors."""


class Stalled(Exception):
    """Less than STALL_BYTES arrived in STALL_S: try again from where it stopped."""


class TooLate(FetchError):
    """The download outlasted DEADLINE_S; what arrived stays for the next run."""


def _engine_folders() -> Any:
    try:
        from colorize_ai import manifest  # the engine decides where users' models go
    except ImportError:
        raise FetchError(
            "the engine package colorize_ai is not installed here; pass --dest and --cache"
        ) from None
    return manifest


def default_dest() -> Path:
    return Path(_engine_folders().user_models_dir())


def default_cache() -> Path:
    return Path(_engine_folders().user_data_dir()) / "downloads"


def _body_span(response: Any, offset: int) -> tuple[int, int | None]:
    """(where the body starts in the file, the file's size if the server says it)."""
    length = response.headers.get("Content-Length")
    if response.status != 206:
        return 0, int(length) if length and length.isdigit() else None
    content_range = response.headers.get("Content-Range", "")  # "bytes START-END/TOTAL"
    try:
        span, total = content_range.split()[1].split("/")
        start = int(span.split("-")[0])
    except (IndexError, ValueError):
        start, total = -1, ""
    if start != offset:
        raise FetchError(f"the server resumed at byte {start}, not {offset}")
    return offset, int(total) if total.isdigit() else None


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:g} hours" if seconds >= 3600 else f"{seconds:g} s"


def _copy_body(response: Any, out: Any, done: int, size: int, url: str, deadline: float,
               progress: Progress) -> None:
    """Append the response's body to `out`; Stalled or TooLate when it comes too slowly."""
    window_start, window_done = time.monotonic(), done
    # read1: one read from the socket, so that the checks below run while bytes trickle in.
    while block := response.read1(CHUNK):
        done += len(block)
        if done > size:
            raise FetchError(f"{url} is larger than the published {size} bytes")
        out.write(block)
        progress.update(done)
        now = time.monotonic()
        if now > deadline:
            out.flush()
            raise TooLate(
                f"the download of {url} did not finish within {_duration(DEADLINE_S)} ({done} "
                f"of {size} bytes); run the same command again to resume it"
            )
        if now - window_start >= STALL_S:
            if done - window_done < STALL_BYTES:
                raise Stalled
            window_start, window_done = now, done


def _announced(url: str, total: int | None, bounds: tuple[int, int]) -> int:
    """The size of a file whose size is not published: the server's, if it is plausible."""
    if total is None:
        raise FetchError(f"{url} does not say how large it is, and no size is published to "
                         f"check it against")
    if not bounds[0] <= total <= bounds[1]:
        raise FetchError(f"{url} is {total} bytes, not between {bounds[0]} and {bounds[1]} as "
                         f"the published network's weights must be")
    return total


def download(url: str, part: Path, size: int, progress: Progress,
             bounds: tuple[int, int] = (0, 0)) -> None:
    """Download url into `part`, appending to what an earlier try left there. `size` 0: not
    published; the server's is taken if it lies within `bounds`."""
    deadline = time.monotonic() + DEADLINE_S
    failure = "was cut short"
    for attempt in range(1, ATTEMPTS + 1):
        have = part.stat().st_size if part.exists() else 0
        if size and have == size:
            return
        if size and have > size:
            part.unlink(missing_ok=True)
            have = 0
        request = urllib.request.Request(url, headers={"User-Agent": "colorize-ai-fetch/1"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(request, timeout=STALL_S) as response:
                start, total = _body_span(response, have)
                if not size:
                    size = progress.total = _announced(url, total, bounds)
                if total is not None and total != size:
                    raise FetchError(f"{url} is {total} bytes, not the published {size}")
                with open(part, "r+b" if start else "wb") as out:
                    out.seek(start)
                    out.truncate()
                    _copy_body(response, out, start, size, url, deadline, progress)
        except TooLate:
            raise
        except FetchError:
            part.unlink(missing_ok=True)
            raise
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # our partial file is longer than the server's: not resumable
                part.unlink(missing_ok=True)
            error = NotFound if exc.code == 404 else FetchError
            raise error(f"the server answered {exc.code} {exc.reason} for {url}") from None
        except urllib.error.URLError as exc:
            raise FetchError(f"cannot reach {url}: {exc.reason}") from None
        except (Stalled, socket.timeout, TimeoutError):
            failure = f"stalled (less than {size_text(STALL_BYTES)} in {_duration(STALL_S)})"
        except (http.client.IncompleteRead, ConnectionError):
            failure = "was cut short"  # the connection dropped mid-way: resume from what arrived
        except OSError as exc:
            raise FetchError(f"cannot download {url}: {exc}") from None
        if size and part.exists() and part.stat().st_size == size:
            progress.update(size, final=True)
            return
        if attempt < ATTEMPTS:
            time.sleep(RETRY_PAUSE_S * 2 ** (attempt - 1))
    got = part.stat().st_size if part.exists() else 0
    if got == 0 and part.exists():
        part.unlink(missing_ok=True)
    raise FetchError(
        f"the download of {url} {failure} ({got} of {size} bytes) {ATTEMPTS} times; run the "
        f"same command again to resume it"
    )


def _check_unpinned(path: Path, check: Callable[[Path], None] | None, origin: str) -> None:
    """The structural check of a file without a published sha256; deletes it if it fails."""
    try:
        if check is None:
            raise ConversionError("nothing to check it against")
        check(path)
    except ConversionError as exc:
        path.unlink(missing_ok=True)
        raise FetchError(f"{origin} is not the published file ({exc}); it was deleted") from None


def fetch_file(
    source: SourceFile, urls: list[str], cache: Path, stream: TextIO | None,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """The verified file `source` in `cache`, downloaded (or resumed) from the first of `urls`
    that has it, if it is not there yet. `check`: the structural check of a file whose sha256
    is not published."""
    final = cache / source.name
    if final.exists() and source.sha256:
        if final.stat().st_size == source.size and sha256_file(final) == source.sha256:
            return final
    elif final.exists():
        _check_unpinned(final, check, str(final))
        return final
    part = cache / f"{source.name}.part"
    for i, url in enumerate(urls):
        try:
            bar = Progress(source.name, source.size, stream, in_bytes=True)
            download(url, part, source.size, bar, (source.min_size, source.max_size))
            break
        except NotFound:
            if i == len(urls) - 1:
                raise
    if source.sha256:
        digest = sha256_file(part)
        if digest != source.sha256:
            part.unlink(missing_ok=True)
            raise FetchError(
                f"{source.name} from {url} has sha256 {digest}, not the published "
                f"{source.sha256}; it was deleted"
            )
    else:
        _check_unpinned(part, check, f"{source.name} from {url}")
    os.replace(part, final)
    return final


def _feeds(model: Any, height: int, width: int) -> dict[str, np.ndarray]:
    """A built-in input: "L" (L - 50) smooth waves with L in [5, 95]; every other input (hints,
    mask) 0 but for one hint square of a warm colour in the middle."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    lightness = 50 + 45 * np.sin(x / 9.0) * np.cos(y / 13.0)
    feeds = {"L": (lightness - 50.0)[None, None].astype(np.float32)}
    for tensor in model.graph.input[1:]:
        channels = tensor.type.tensor_type.shape.dim[1].dim_value
        value = np.zeros((1, channels, height, width), np.float32)
        value[:, :, height // 2 : height // 2 + 2, width // 2 : width // 2 + 2] = (
            30.0 if channels == 2 else 1.0)
        feeds[tensor.name] = value
    return feeds


def check_converted(model: Any, downscale: int = 4) -> None:
    """Run the converted model on a built-in input at two sizes: shapes, finite, ab range.
    `downscale`: the output's size is the input's divided by this."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    sizes = ((224, 224), (64, 96))
    try:
        session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        outputs = [session.run(["ab"], _feeds(model, *size))[0] for size in sizes]
    except Exception as exc:  # ONNX Runtime raises its own exception types
        raise FetchError(f"the converted model does not run in ONNX Runtime: {exc}") from None
    for (height, width), ab in zip(sizes, outputs):
        if ab.shape != (1, 2, height // downscale, width // downscale):
            raise FetchError(
                f"the converted model gave ab of shape {ab.shape} for {height}x{width}"
            )
        if not np.all(np.isfinite(ab)) or np.abs(ab).max() > MAX_ABS_AB:
            raise FetchError("the converted model gave ab values outside [-128, 128]")


@dataclass(frozen=True)
class Fetchable:
    """A model `fetch` installs: its published files, and how they become the model."""

    model_id: str
    sources: tuple[SourceFile, ...]
    convert: Callable[[list[Path], float | None], Any]  # (files, temperature) -> model
    manifest_entry: Callable[[Any], dict[str, Any]]
    check: Callable[[Path], None] | None = None  # structural check of unpinned files
    downscale: int = 1  # the output's size is the input's divided by this


def _no_temperature(temperature: float | None) -> None:
    if temperature is not None:
        raise FetchError("--temperature is for zhang only: siggraph17 predicts ab directly")


def _convert_siggraph17(files: list[Path], temperature: float | None) -> Any:
    _no_temperature(temperature)
    return siggraph17.convert(*files)


def _convert_pth(files: list[Path], temperature: float | None) -> Any:
    from . import siggraph17_torch

    _no_temperature(temperature)
    return siggraph17_torch.convert(*files)


MODELS = {
    "zhang": Fetchable(zhang.MODEL_ID, zhang.SOURCES,
                       lambda files, t: zhang.convert(*files, temperature=t),
                       zhang.manifest_entry, downscale=4),
    "siggraph17": Fetchable(siggraph17.MODEL_ID, siggraph17.SOURCES, _convert_siggraph17,
                            siggraph17.manifest_entry, siggraph17.check_caffemodel),
    "siggraph17-pytorch": Fetchable(
        siggraph17.PTH_MODEL_ID, siggraph17.PTH_SOURCES, _convert_pth,
        lambda model: siggraph17.manifest_entry(model, siggraph17.PTH_MODEL_ID)),
}


def fetch_zhang(
    dest: str | os.PathLike | None = None,
    base_url: str | None = None,
    cache: str | os.PathLike | None = None,
    temperature: float | None = None,
    sources: Iterable[SourceFile] = zhang.SOURCES,
    quiet: bool = False,
) -> Path:
    """Download, check, convert and install the Zhang model; returns the installed file."""
    return fetch_model("zhang", dest, base_url, cache, temperature, sources, quiet)


def fetch_model(
    name: str,
    dest: str | os.PathLike | None = None,
    base_url: str | None = None,
    cache: str | os.PathLike | None = None,
    temperature: float | None = None,
    sources: Iterable[SourceFile] | None = None,
    quiet: bool = False,
) -> Path:
    """Download, check, convert and install the model `name` of MODELS; returns the installed
    file. `sources` (names, sizes, sha256) is the pinned list; only tests pass another one.
    """
    spec = MODELS[name]
    sources = spec.sources if sources is None else sources
    dest_dir = Path(dest) if dest is not None else default_dest()
    cache_dir = Path(cache) if cache is not None else default_cache()
    cache_dir.mkdir(parents=True, exist_ok=True)
    stream = None if quiet else sys.stderr
    files = []
    for source in sources:
        if base_url:
            urls = [f"{base_url.rstrip('/')}/{source.name}"]
        else:
            urls = [source.url, *source.mirrors]
        files.append(fetch_file(source, urls, cache_dir, stream, spec.check))
    try:
        model = spec.convert(files, temperature)
        check_converted(model, spec.downscale)
        return save_model(model, dest_dir, spec.manifest_entry(model))
    finally:
        # Verified downloads are kept only to spare a re-download after a failed download;
        # once conversion ran (well or not) they are of no further use.
        for path in files:
            path.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    try:
        target = fetch_model(args.model, args.dest, args.base_url, args.cache, args.temperature)
    except OSError as exc:
        raise FetchError(f"cannot write the model: {exc}") from None
    print(f"installed {target} ('{MODELS[args.model].model_id}')")
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "fetch",
        help="download, convert and install a published model",
        description="Download the published files of a model, check them (sha256, or the "
        "network's structure where the source publishes no checksum), convert them and "
        "install the result into the user model folder.",
    )
    p.add_argument("model", choices=sorted(MODELS), help="which model")
    p.add_argument("--base-url", help="download all files from BASE_URL/<file name> instead")
    p.add_argument("--dest", help="model folder to install into (default: the user model folder)")
    p.add_argument("--cache", help="folder for the downloads (default: <user data>/downloads)")
    p.add_argument("--temperature", type=float, default=None, help="as for `zhang`")
    p.set_defaults(run=run)
