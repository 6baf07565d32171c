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
