"""WebP writing through OpenCV's encoder, with the photo's EXIF and ICC profile added to the
RIFF container here.

Pillow's WebP writer goes through libwebp's animation encoder, which copies the picture to
ARGB (4 bytes a pixel) before making the YUV planes: at 100 MP that is 400 MB more than
needed. OpenCV calls the simple encoder, which converts our pixels straight to YUV. It writes
no metadata, so the chunks are added as the WebP container specification lays them out
(https://developers.google.com/speed/webp/docs/riff_container): a VP8X header whose flags
say what follows, ICCP before the image data, EXIF after it.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import cv2
import numpy as np

from .errors import BadInput
from .imagefile import swap_red_blue

MAX_SIDE = 16383  # the format's limit
ICC_FLAG, ALPHA_FLAG, EXIF_FLAG = 0x20, 0x10, 0x08
EXIF_HEADER = b"Exif\x00\x00"  # the JPEG APP1 prefix; a WebP EXIF chunk starts at the TIFF header


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(fourcc, payload) of each chunk of a RIFF WEBP file."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise BadInput("the WebP encoder returned no WebP data")
    chunks, at = [], 12
    while at + 8 <= len(data):
        kind, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        chunks.append((kind, data[at + 8:at + 8 + size]))
        at += 8 + size + (size & 1)
    return chunks


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def _vp8x(flags: int, width: int, height: int) -> bytes:
    sides = struct.pack("<I", width - 1)[:3] + struct.pack("<I", height - 1)[:3]
    return _chunk(b"VP8X", bytes([flags, 0, 0, 0]) + sides)


def with_metadata(encoded: bytes, width: int, height: int, exif: bytes | None,
                  icc: bytes | None) -> list[bytes]:
    """The parts of a WebP file: `encoded` (a still WebP) with the EXIF and ICC chunks added."""
    if not exif and not icc:
        return [encoded]
    chunks = [c for c in _chunks(encoded) if c[0] != b"VP8X"]
    flags = (ICC_FLAG if icc else 0) | (EXIF_FLAG if exif else 0)
    if any(kind == b"ALPH" for kind, _ in chunks) or any(
            kind == b"VP8L" and payload[4] & 0x10 for kind, payload in chunks):
        flags |= ALPHA_FLAG  # lossless data says it has alpha in bit 28 of its header
    parts = [_vp8x(flags, width, height)]
    if icc:
        parts.append(_chunk(b"ICCP", icc))
    parts += [_chunk(kind, payload) for kind, payload in chunks]
    if exif:
        parts.append(_chunk(b"EXIF", exif[len(EXIF_HEADER):] if exif.startswith(EXIF_HEADER)
                            else exif))
    body = sum(len(p) for p in parts) + 4
    return [b"RIFF" + struct.pack("<I", body) + b"WEBP", *parts]


def write_webp(f: BinaryIO, pixels: np.ndarray, quality: int, exif: bytes | None,
               icc: bytes | None) -> None:
    """8-bit grey, grey + alpha, RGB or RGBA `pixels` as a lossy WebP. RGB(A) pixels are
    turned into OpenCV's BGR(A) order in place for the encoder and back afterwards."""
    height, width = pixels.shape[:2]
    if max(height, width) > MAX_SIDE:
        raise BadInput(f"WebP holds at most {MAX_SIDE} pixels a side; this photo is "
                       f"{width} x {height} (use --format png, tif or jpg)")
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels == 2:  # grey + alpha: OpenCV encodes 1, 3 or 4 channels
        grey_alpha, pixels = pixels, np.empty((height, width, 4), np.uint8)
        pixels[..., :3] = grey_alpha[..., :1]
        pixels[..., 3] = grey_alpha[..., 1]
    swap = channels in (3, 4)
    if swap:
        if not pixels.flags.writeable:
            pixels = pixels.copy()
        swap_red_blue(pixels)
    try:
        ok, encoded = cv2.imencode(".webp", pixels, [cv2.IMWRITE_WEBP_QUALITY, quality])
    finally:
        if swap:
            swap_red_blue(pixels)
    if not ok:
        raise BadInput("OpenCV could not encode the WebP image")
    for part in with_metadata(encoded.tobytes(), width, height, exif, icc):
        f.write(part)
