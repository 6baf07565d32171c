"""Read a PyTorch state dict (a .pth of torch.save: the zip format, or the legacy one of torch
before 1.6) as numpy arrays, without torch.

Only what a state dict holds is unpickled: an OrderedDict of tensors, each rebuilt from its
storage (dtype, offset, size, stride). Any other class in the pickle is refused, so a .pth
cannot run code here.
"""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np

from .common import ConversionError

_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
    "BoolStorage": "?",
}  # fmt: skip
MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # the legacy format's first pickle
PROTOCOL_VERSION = 1001


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    """A storage whose data may arrive after the pickle (legacy format)."""

    def __init__(self, dtype: np.dtype, data: np.ndarray | None = None) -> None:
        self.dtype, self.data = dtype, data


class _Tensor:
    """A tensor to rebuild once every storage has its data."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self) -> np.ndarray:
        data = self.storage.data
        count = int(np.prod(self.size)) if self.size else 1
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
        if data is None or (count and last > data.size):
            raise ConversionError("a tensor runs past the end of its storage: the file is cut "
                                  "short or damaged")
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], shape=tuple(self.size),
            strides=tuple(s * item for s in self.stride))
        return np.array(view)


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any
                    ) -> _Tensor:
    return _Tensor(storage, offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: _Tensor, *_: Any) -> _Tensor:
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, storage: Any) -> None:
        super().__init__(file)
        self.storage = storage  # persistent id -> _Storage

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise ConversionError(f"the file holds a {module}.{name}, which a state dict does not")

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] not in ("storage", b"storage"):
            raise ConversionError("the file refers to something other than tensor data")
        return self.storage(pid)


def _zip_state(path: str) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
        if pkl is None:
            raise ConversionError("a zip file without data.pkl is not a torch.save file")
        prefix = pkl[: -len("data.pkl")]
        cache: dict[str, _Storage] = {}

        def storage(pid: tuple) -> _Storage:
            kind, key = pid[1], str(pid[2])
            if key not in cache:
                raw = archive.read(f"{prefix}data/{key}")
                cache[key] = _Storage(kind.dtype, np.frombuffer(raw, kind.dtype))
            return cache[key]

        with archive.open(pkl) as f:
            return _Unpickler(f, storage).load()


def _legacy_state(f: BinaryIO) -> Any:
    plain = _Unpickler(f, lambda pid: None)
    if plain.load() != MAGIC_NUMBER or _Unpickler(f, None).load() != PROTOCOL_VERSION:
        raise ConversionError("not a torch.save file (no zip archive, no legacy header)")
    _Unpickler(f, None).load()  # system information
    storages: dict[str, _Storage] = {}

    def storage(pid: tuple) -> _Storage:
        kind, key = pid[1], str(pid[2])
        storages.setdefault(key, _Storage(kind.dtype))
        if len(pid) > 5 and pid[5] is not None:
            raise ConversionError("storage views (torch before 0.4) are not supported")
        return storages[key]

    state = _Unpickler(f, storage).load()
    for key in _Unpickler(f, None).load():
        s = storages[str(key)]
        head = f.read(8)
        if len(head) < 8:
            raise ConversionError("the file is cut short: tensor data is missing")
        (count,) = struct.unpack("<q", head)
        raw = f.read(count * s.dtype.itemsize)
        if len(raw) < count * s.dtype.itemsize:
            raise ConversionError("the file is cut short: tensor data is missing")
        s.data = np.frombuffer(raw, s.dtype)
    return state


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of a state dict file by name, as numpy arrays."""
    try:
        if zipfile.is_zipfile(path):
            state = _zip_state(str(path))
        else:
            with open(path, "rb") as f:
                state = _legacy_state(f)
    except OSError as exc:
        raise ConversionError(f"cannot read {path}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ConversionError(f"{path} is not a readable torch.save file: {exc}") from None
    if not isinstance(state, dict):
        raise ConversionError(f"{path} does not hold a state dict")
    return {str(k): v.array() for k, v in state.items() if isinstance(v, _Tensor)}
