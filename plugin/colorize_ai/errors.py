"""Errors the engine reports to people: each has a kind (for the worker protocol) and one
readable sentence (for the CLI and GIMP's message box)."""


class ColorizeError(Exception):
    kind = "internal"


class BadRequest(ColorizeError):
    kind = "bad-request"


class ModelUnknown(ColorizeError):
    kind = "model-unknown"


class ModelMissing(ColorizeError):
    kind = "model-missing"


class ModelCorrupt(ColorizeError):
    kind = "model-corrupt"


class DeviceError(ColorizeError):
    kind = "device"


class BadInput(ColorizeError):
    kind = "bad-input"


class OutputError(ColorizeError):
    """The place a result goes cannot be written (for the worker: its request's fault)."""
    kind = "bad-request"


class OutOfMemory(ColorizeError):
    kind = "bad-input"

    def __init__(self, advice: str = "scale the image down or close other programs") -> None:
        super().__init__("Not enough memory: the photo is too large for the memory available; "
                         f"{advice}.")


# How NumPy, OpenCV and ONNX Runtime (CPU arena, CUDA) say that an allocation failed.
_OUT_OF_MEMORY_TEXT = ("failed to allocate", "insufficient memory", "out of memory",
                       "bad_alloc", "bfcarena", "cudaerrormemoryallocation",
                       "unable to allocate")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) is a failed memory allocation."""
    for error in (exc, exc.__cause__):
        if isinstance(error, MemoryError):
            return True
        if error is not None and any(t in str(error).lower() for t in _OUT_OF_MEMORY_TEXT):
            return True
    return False
