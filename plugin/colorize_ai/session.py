"""The one place that creates ONNX Runtime sessions, and reports the provider really used."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import DeviceError, ModelCorrupt, OutOfMemory, is_out_of_memory
from .options import BY_NAME, INSTALL

log = logging.getLogger(__name__)

DEVICES = BY_NAME["device"].values
DEFAULT_DEVICE = BY_NAME["device"].default
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
THREADS_PER_CORE = 4


@dataclass
class SessionInfo:
    session: object  # onnxruntime.InferenceSession
    provider: str  # the provider that really runs the model
    warning: str | None = None  # why the requested device is not the one in use


_CACHE: dict[tuple, SessionInfo] = {}


def runtime():
    """The onnxruntime module, or DeviceError saying how to install it."""
    # Read when onnxruntime is imported: without it, official builds write a device id
    # under ~/.cache/Microsoft and send usage events (see ONNX Runtime's docs/Privacy.md).
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    try:
        import onnxruntime
    except ImportError:
        raise DeviceError("ONNX Runtime is not installed in this Python environment; install "
                          "it with `pip install onnxruntime` (or onnxruntime-gpu for CUDA), or "
                          f"run `{INSTALL}`.") from None
    onnxruntime.disable_telemetry_events()  # Windows builds' events go through the OS instead
    return onnxruntime


def _providers(device: str, available: list[str]) -> tuple[list, str | None]:
    """Providers to ask for, and a warning when the wanted device cannot even be asked for."""
    if device == "cpu":
        return [CPU], None
    if CUDA in available:
        return [(CUDA, {}), CPU], None
    if device == "cuda":
        return [CPU], ("CUDA was requested, but this ONNX Runtime build has no CUDA execution "
                       "provider (install the `gpu` extra: onnxruntime-gpu instead of "
                       "onnxruntime); running on the CPU.")
    return [CPU], None


@dataclass(frozen=True)
class DevicePlan:
    """A device option, checked, and the providers a session for it will ask for."""

    device: str  # "auto", "cuda" or "cpu", as asked
    providers: tuple  # for ONNX Runtime, in order of preference
    warning: str | None  # why the device asked for cannot even be asked for

    @property
    def target(self) -> str:
        """"cuda" or "cpu": where sessions will be asked to run (CUDA may still fail to
        start; create_session says so)."""
        return "cpu" if self.providers[0] == CPU else "cuda"


def plan_device(device: str) -> DevicePlan:
    """The plan for a device option; DeviceError for an unknown one."""
    if device not in DEVICES:
        raise DeviceError(f"Unknown device '{device}' (choose one of {', '.join(DEVICES)}).")
    providers, warning = _providers(device, runtime().get_available_providers())
    return DevicePlan(device, tuple(providers), warning)


def describe_device(device: str) -> str:
    """Where a model would run, in words (CUDA may still fail to start)."""
    return "CUDA (if it starts)" if plan_device(device).target == "cuda" else "CPU"


def max_threads() -> int:
    """More threads than this only wait for cores (5000 hung for minutes)."""
    return THREADS_PER_CORE * (os.cpu_count() or 1)


def _check_threads(threads: int | None) -> None:
    if threads and not 0 < threads <= max_threads():
        raise DeviceError(f"{threads} threads are more than this machine's {os.cpu_count()} "
                          f"cores can use (at most {max_threads()}; 0 lets ONNX Runtime "
                          "choose).")


def _load(ort: object, path: Path, data: bytes | None, options: object, providers: list
          ) -> object:
    """The session, from `data` when given: external data (weights in other files, which no
    checksum covers) is then looked for in an empty folder, so such a model is refused."""
    if data is None:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    nowhere = tempfile.mkdtemp(prefix="colorize-ai-no-external-data-")
    try:
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", nowhere)
        return ort.InferenceSession(data, sess_options=options, providers=providers)
    except Exception as exc:
        text = str(exc)
        if "external data" in text.lower() or "model_path must not be empty" in text:
            raise ModelCorrupt(f"{path} keeps weights in separate files (ONNX external data), "
                               "which its sha256 does not cover; save the model as one file "
                               "(onnx.save with save_as_external_data=False).") from exc
        raise
    finally:
        shutil.rmtree(nowhere, ignore_errors=True)


def create_session(path: str | os.PathLike, device: str | DevicePlan = DEFAULT_DEVICE,
                   threads: int | None = None, strict_device: bool = False,
                   data: bytes | None = None, digest: str | None = None) -> SessionInfo:
    """An InferenceSession for `path` on `device` ("auto", "cuda" or "cpu", or a plan_device
    already made), cached per process.

    With `data` (the file's checked bytes, `digest` their sha256) the session is made from
    those bytes and cached by their digest; else from the file, cached by its size and time.
    With device "cuda" and no working CUDA provider: a warning and the CPU, or DeviceError when
    `strict_device` is set. "auto" uses CUDA when it really starts, else the CPU, quietly.
    """
    plan = device if isinstance(device, DevicePlan) else plan_device(device)
    device = plan.device
    _check_threads(threads)
    path = Path(path)
    if data is not None:
        key: tuple = (digest or hashlib.sha256(data).hexdigest(), device, threads, strict_device)
    else:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, device, threads,
               strict_device)
    if key in _CACHE:
        return _CACHE[key]

    ort = runtime()
    providers, warning = list(plan.providers), plan.warning
    if warning and strict_device:
        raise DeviceError(warning.replace("; running on the CPU.", "."))
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = _load(ort, path, data, options, providers)
    except ModelCorrupt:
        raise
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types
        if is_out_of_memory(exc):
            raise OutOfMemory("the model does not fit in the memory available; close other "
                              "programs, or run on the CPU if the GPU ran out") from exc
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelCorrupt(f"{path} is not a model ONNX Runtime can load ({first_line}).") from exc

    active = session.get_providers()[0]
    asked_cuda = len(providers) > 1  # CUDA first, CPU as fallback
    if asked_cuda and active != CUDA:
        reason = ("the CUDA execution provider is installed but failed to start (missing CUDA "
                  "or cuDNN libraries, or no usable GPU; ONNX Runtime's log above says which)")
        if device == "cuda":
            if strict_device:
                raise DeviceError(f"CUDA was requested, but {reason}.")
            warning = f"CUDA was requested, but {reason}; running on the CPU."
        else:
            log.info("auto device: %s; using the CPU", reason)
    info = SessionInfo(session=session, provider=active, warning=warning)
    if warning:
        log.warning(warning)
    _CACHE[key] = info
    return info
