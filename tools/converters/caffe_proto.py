"""Read Caffe network files without Caffe: prototxt (protobuf text format) and caffemodel (binary).

Both become `Message` trees keyed by field name. The binary reader knows only the part of
caffe.proto that inference needs (field numbers below); other fields are skipped. `net_layers`
turns either file into a list of `Layer`s, accepting the current `layer` field and the legacy
V1 `layers` field (enum layer types, legacy 4-D blob dimensions).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class CaffeFormatError(ValueError):
    """A file that is not a readable Caffe prototxt or caffemodel."""


class Message:
    """One protobuf message: field name -> list of values (numbers, strings or Messages)."""

    def __init__(self) -> None:
        self.fields: dict[str, list[Any]] = {}

    def add(self, name: str, value: Any) -> None:
        self.fields.setdefault(name, []).append(value)

    def all(self, name: str) -> list[Any]:
        return self.fields.get(name, [])

    def get(self, name: str, default: Any = None) -> Any:
        values = self.fields.get(name)
        return values[-1] if values else default

    def sub(self, name: str) -> Message:
        """The sub-message `name`, or an empty one (all defaults) when it is absent."""
        value = self.get(name)
        return value if isinstance(value, Message) else Message()

    def __contains__(self, name: str) -> bool:
        return name in self.fields


# ---------------------------------------------------------------------------------------------
# Text format (prototxt)

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*
    |(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    |(?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)[fF]?
        |[-+]?(?:inf|infinity|nan)\b)
    |(?P<ident>[A-Za-z_][\w.]*)
    |(?P<punct>[{}<>:\[\],;])""",
    re.VERBOSE | re.IGNORECASE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def _tokens(text: str) -> list[tuple[str, Any, int]]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            raise CaffeFormatError(f"unexpected character {text[pos]!r} on line {line}")
        kind = m.lastgroup
        if kind is not None:
            line = text.count("\n", 0, pos) + 1
            out.append((kind, m.group(kind), line))
        pos = m.end()
    return out


def _number(token: str) -> int | float:
    token = token.rstrip("fF") if not token.lower().endswith("inf") else token
    if re.fullmatch(r"[-+]?\d+", token):
        return int(token)
    return float(token)


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def parse_text(text: str) -> Message:
    """Parse protobuf text format. Scalars stay as written: numbers, strings, identifiers."""
    tokens = _tokens(text)
    pos = 0

    def expect_name() -> tuple[str, int]:
        kind, value, line = tokens[pos]
        if kind != "ident":
            raise CaffeFormatError(f"expected a field name on line {line}, found {value!r}")
        return value, line

    def scalar(kind: str, value: str, line: int) -> Any:
        if kind == "string":
            return _unquote(value)
        if kind == "number":
            return _number(value)
        if kind == "ident":
            lowered = value.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            if lowered in ("inf", "infinity", "nan"):
                return float(lowered)
            return value  # an enum name
        raise CaffeFormatError(f"expected a value on line {line}, found {value!r}")

    def message(closing: str | None) -> Message:
        nonlocal pos
        msg = Message()
        while True:
            if pos >= len(tokens):
                if closing is None:
                    return msg
                raise CaffeFormatError("unexpected end of file: a '}' is missing")
            kind, value, line = tokens[pos]
            if kind == "punct" and value == closing:
                pos += 1
                return msg
            if kind == "punct" and value in ",;":
                pos += 1
                continue
            name, line = expect_name()
            pos += 1
            if pos < len(tokens) and tokens[pos][1] == ":":
                pos += 1
            if pos >= len(tokens):
                raise CaffeFormatError(f"field {name!r} on line {line} has no value")
            kind, value, line = tokens[pos]
            if kind == "punct" and value in "{<":
                pos += 1
                msg.add(name, message("}" if value == "{" else ">"))
            elif kind == "punct" and value == "[":
                pos += 1
                while tokens[pos][1] != "]":
                    if tokens[pos][1] == ",":
                        pos += 1
                        continue
                    msg.add(name, scalar(*tokens[pos]))
                    pos += 1
                pos += 1
            else:
                msg.add(name, scalar(kind, value, line))
                pos += 1

    return message(None)


# ---------------------------------------------------------------------------------------------
# Binary format (caffemodel)

# (message, field number) -> (name, kind); kind is a message name or one of
# "string", "int", "float", "double", "bool".
_SCHEMA: dict[str, dict[int, tuple[str, str]]] = {
    "NetParameter": {
        1: ("name", "string"),
        3: ("input", "string"),
        4: ("input_dim", "int"),
        8: ("input_shape", "BlobShape"),
        100: ("layer", "LayerParameter"),
        2: ("layers", "V1LayerParameter"),
    },
    "LayerParameter": {
        1: ("name", "string"),
        2: ("type", "string"),
        3: ("bottom", "string"),
        4: ("top", "string"),
        7: ("blobs", "BlobProto"),
        8: ("include", "NetStateRule"),
        9: ("exclude", "NetStateRule"),
        10: ("phase", "int"),
        106: ("convolution_param", "ConvolutionParameter"),
        123: ("relu_param", "ReLUParameter"),
        125: ("softmax_param", "SoftmaxParameter"),
        139: ("batch_norm_param", "BatchNormParameter"),
        142: ("scale_param", "ScaleParameter"),
        143: ("input_param", "InputParameter"),
    },
    "V1LayerParameter": {
        2: ("bottom", "string"),
        3: ("top", "string"),
        4: ("name", "string"),
        5: ("type", "int"),
        6: ("blobs", "BlobProto"),
        10: ("convolution_param", "ConvolutionParameter"),
        30: ("relu_param", "ReLUParameter"),
        32: ("include", "NetStateRule"),
        33: ("exclude", "NetStateRule"),
        39: ("softmax_param", "SoftmaxParameter"),
    },
    "BlobProto": {
        1: ("num", "int"),
        2: ("channels", "int"),
        3: ("height", "int"),
        4: ("width", "int"),
        5: ("data", "float"),
        7: ("shape", "BlobShape"),
        8: ("double_data", "double"),
    },
    "BlobShape": {1: ("dim", "int")},
    "NetStateRule": {1: ("phase", "int")},
    "ConvolutionParameter": {
        1: ("num_output", "int"),
        2: ("bias_term", "bool"),
        3: ("pad", "int"),
        4: ("kernel_size", "int"),
        5: ("group", "int"),
        6: ("stride", "int"),
        9: ("pad_h", "int"),
        10: ("pad_w", "int"),
        11: ("kernel_h", "int"),
        12: ("kernel_w", "int"),
        13: ("stride_h", "int"),
        14: ("stride_w", "int"),
        16: ("axis", "int"),
        18: ("dilation", "int"),
    },
    "ReLUParameter": {1: ("negative_slope", "float")},
    "SoftmaxParameter": {2: ("axis", "int")},
    "BatchNormParameter": {1: ("use_global_stats", "bool"), 3: ("eps", "float")},
    "ScaleParameter": {
        1: ("axis", "int"),
        2: ("num_axes", "int"),
        3: ("filler", "FillerParameter"),
        4: ("bias_term", "bool"),
    },
    "InputParameter": {1: ("shape", "BlobShape")},
    "FillerParameter": {1: ("type", "string"), 2: ("value", "float")},
}

_PACKED_DTYPES = {"float": "<f4", "double": "<f8"}
# Wire types each kind may come in (repeated numbers may be packed, wire type 2).
_WIRE_TYPES = {
    "int": (0, 2),
    "bool": (0, 2),
    "float": (5, 2),
    "double": (1, 2),
    "string": (2,),
    "message": (2,),
}


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CaffeFormatError("truncated varint: the file is cut short or not a caffemodel")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CaffeFormatError("varint longer than 64 bits: not a caffemodel")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _parse_binary(buf: memoryview, kind: str) -> Message:
    schema = _SCHEMA[kind]
    msg = Message()
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        name, fkind = schema.get(number, (None, None))
        if (
            name is not None
            and wire not in _WIRE_TYPES[fkind if fkind in _WIRE_TYPES else "message"]
        ):
            raise CaffeFormatError(f"field {name!r} of {kind} has the wrong wire type {wire}")
        if wire == 0:
            value, pos = _varint(buf, pos)
            if name is not None:
                msg.add(name, bool(value) if fkind == "bool" else _signed(value))
        elif wire == 1:
            if pos + 8 > end:
                raise CaffeFormatError("truncated 64-bit field: the file is cut short")
            if name is not None:
                msg.add(name, struct.unpack_from("<d", buf, pos)[0])
            pos += 8
        elif wire == 5:
            if pos + 4 > end:
                raise CaffeFormatError("truncated 32-bit field: the file is cut short")
            if name is not None:
                msg.add(name, struct.unpack_from("<f", buf, pos)[0])
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise CaffeFormatError("a field runs past the end of the file: it is cut short")
            chunk = buf[pos : pos + length]
            pos += length
            if name is None:
                continue
            if fkind == "string":
                msg.add(name, bytes(chunk).decode("utf-8", errors="replace"))
            elif fkind in _PACKED_DTYPES:
                dtype = np.dtype(_PACKED_DTYPES[fkind])
                if length % dtype.itemsize:
                    raise CaffeFormatError(f"packed field {name!r} has a partial number")
                msg.add(name, np.frombuffer(chunk, dtype=dtype))
            elif fkind in ("int", "bool"):
                sub = 0
                while sub < length:
                    value, sub = _varint(chunk, sub)
                    msg.add(name, bool(value) if fkind == "bool" else _signed(value))
            else:
                msg.add(name, _parse_binary(chunk, fkind))
        else:
            raise CaffeFormatError(f"unsupported protobuf wire type {wire}: not a caffemodel")
    return msg


def parse_binary(data: bytes | memoryview, kind: str = "NetParameter") -> Message:
    """Parse a binary protobuf message of the given caffe.proto type (default NetParameter)."""
    return _parse_binary(memoryview(data), kind)


# ---------------------------------------------------------------------------------------------
# Layers, whichever format they came from

# V1LayerParameter.LayerType, by number, as the layer type names of the current format.
V1_TYPES = {
    0: "None", 1: "Accuracy", 2: "BNLL", 3: "Concat", 4: "Convolution", 5: "Data",
    6: "Dropout", 7: "EuclideanLoss", 8: "Flatten", 9: "HDF5Data", 10: "HDF5Output",
    11: "Im2col", 12: "ImageData", 13: "InfogainLoss", 14: "InnerProduct", 15: "LRN",
    16: "MultinomialLogisticLoss", 17: "Pooling", 18: "ReLU", 19: "Sigmoid", 20: "Softmax",
    21: "SoftmaxWithLoss", 22: "Split", 23: "TanH", 24: "WindowData", 25: "Eltwise",
    26: "Power", 27: "SigmoidCrossEntropyLoss", 28: "HingeLoss", 29: "MemoryData",
    30: "ArgMax", 31: "Threshold", 32: "DummyData", 33: "Slice", 34: "MVN", 35: "AbsVal",
    36: "Silence", 37: "ContrastiveLoss", 38: "Exp", 39: "Deconvolution",
}  # fmt: skip
_V1_NAMES = {
    "NONE": 0, "ACCURACY": 1, "BNLL": 2, "CONCAT": 3, "CONVOLUTION": 4, "DATA": 5,
    "DROPOUT": 6, "EUCLIDEAN_LOSS": 7, "FLATTEN": 8, "HDF5_DATA": 9, "HDF5_OUTPUT": 10,
    "IM2COL": 11, "IMAGE_DATA": 12, "INFOGAIN_LOSS": 13, "INNER_PRODUCT": 14, "LRN": 15,
    "MULTINOMIAL_LOGISTIC_LOSS": 16, "POOLING": 17, "RELU": 18, "SIGMOID": 19, "SOFTMAX": 20,
    "SOFTMAX_LOSS": 21, "SPLIT": 22, "TANH": 23, "WINDOW_DATA": 24, "ELTWISE": 25,
    "POWER": 26, "SIGMOID_CROSS_ENTROPY_LOSS": 27, "HINGE_LOSS": 28, "MEMORY_DATA": 29,
    "ARGMAX": 30, "THRESHOLD": 31, "DUMMY_DATA": 32, "SLICE": 33, "MVN": 34, "ABSVAL": 35,
    "SILENCE": 36, "CONTRASTIVE_LOSS": 37, "EXP": 38, "DECONVOLUTION": 39,
}  # fmt: skip
_PHASES = {"TRAIN": 0, "TEST": 1}


@dataclass
class Layer:
    name: str
    type: str
    bottom: list[str]
    top: list[str]
    params: Message
    blobs: list[np.ndarray] = field(default_factory=list)


def blob_array(blob: Message) -> np.ndarray:
    """A BlobProto as a float32 array of its shape (or legacy num, channels, height, width)."""
    if "double_data" in blob and "data" not in blob:
        data = np.concatenate(
            [np.atleast_1d(np.asarray(d, np.float64)) for d in blob.all("double_data")]
        )
    else:
        parts = [np.atleast_1d(np.asarray(d, np.float32)) for d in blob.all("data")]
        data = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if "shape" in blob:
        shape = tuple(int(d) for d in blob.sub("shape").all("dim"))
    else:
        legacy = [int(blob.get(k, 0)) for k in ("num", "channels", "height", "width")]
        shape = tuple(legacy) if any(legacy) else (data.size,)
        # Legacy blobs often pad vectors as 1x1x1xN; keep the element count, drop the padding.
        if int(np.prod(shape)) == data.size and len(shape) == 4 and shape[:3] == (1, 1, 1):
            shape = (shape[3],)
    if int(np.prod(shape)) != data.size:
        raise CaffeFormatError(f"blob of shape {shape} holds {data.size} numbers")
    return data.astype(np.float32).reshape(shape)


def _layer_type(value: Any) -> str:
    if isinstance(value, int):
        return V1_TYPES.get(value, f"V1 layer type {value}")
    if isinstance(value, str) and value in _V1_NAMES:
        return V1_TYPES[_V1_NAMES[value]]
    return str(value)


def _in_test_phase(layer: Message) -> bool:
    """Whether a layer's include/exclude rules keep it in the TEST phase (deploy)."""

    def phase(rule: Message) -> int | None:
        value = rule.get("phase")
        return _PHASES.get(value, value) if isinstance(value, str) else value

    includes = layer.all("include")
    if includes:
        return any(phase(r) in (None, 1) for r in includes)
    return not any(phase(r) == 1 for r in layer.all("exclude"))


def net_layers(net: Message, with_blobs: bool = True, test_only: bool = True) -> list[Layer]:
    """The layers of a NetParameter (current `layer` or legacy V1 `layers`), in order;
    with `test_only`, those its include/exclude rules keep in the TEST (deploy) phase."""
    layers = []
    for raw in net.all("layer") + net.all("layers"):
        if test_only and not _in_test_phase(raw):
            continue
        layers.append(
            Layer(
                name=str(raw.get("name", "")),
                type=_layer_type(raw.get("type", "")),
                bottom=[str(b) for b in raw.all("bottom")],
                top=[str(t) for t in raw.all("top")],
                params=raw,
                blobs=[blob_array(b) for b in raw.all("blobs")] if with_blobs else [],
            )
        )
    return layers


def read_prototxt(path: str) -> Message:
    with open(path, encoding="utf-8") as f:
        return parse_text(f.read())


def read_caffemodel(path: str) -> Message:
    with open(path, "rb") as f:
        data = f.read()
    return parse_binary(data)
