"""Reading and writing photos: 8- and 16-bit, EXIF and ICC kept, bad files refused clearly."""

from __future__ import annotations

import io
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import BadInput

MAX_MEGAPIXELS = 250.0  # refuse larger declared sizes before decoding (decompression bombs)
EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".jp2", ".ppm",
              ".pgm", ".pnm"}
FORMATS = {"png": ".png", "jpg": ".jpg", "tif": ".tif", "webp": ".webp"}
JPEG_QUALITY = 95

# read_photo checks the declared size itself, before decoding, against a limit the user
# can change; Pillow's fixed check would only warn or refuse first.
Image.MAX_IMAGE_PIXELS = None


@dataclass
class Photo:
    pixels: np.ndarray  # H x W, H x W x 2 (grey+alpha), x 3 or x 4; uint8 or uint16
    exif: bytes | None = None
    icc: bytes | None = None  # kept only when it describes RGB, as the output is colour


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as f:
        head = f.read(25)
    return head[24] if len(head) == 25 else 8


def _is_16bit(im: Image.Image, path: Path) -> bool:
    if im.mode.startswith("I;16"):
        return True
    if im.format == "PNG":
        return _png_bit_depth(path) == 16
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))
        return max(bits if isinstance(bits, tuple) else (bits,)) == 16
    return False


def _decode_16bit(path: Path) -> np.ndarray:
    # Pillow reduces 16-bit RGB to 8 bits; OpenCV keeps all 16.
    data = np.fromfile(path, np.uint8)
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16:
        raise BadInput("the 16-bit image data is damaged or truncated")
    if pixels.ndim == 3:
        code = cv2.COLOR_BGRA2RGBA if pixels.shape[2] == 4 else cv2.COLOR_BGR2RGB
        pixels = cv2.cvtColor(pixels, code)
    return pixels


def _decode_8bit(im: Image.Image) -> np.ndarray:
    if im.mode in ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L"):
        arr = np.asarray(im)
        return arr.astype(np.uint16) if im.mode.startswith("I;16") else arr
    if im.mode == "I":
        return np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
    if im.mode == "F":
        return np.clip(np.asarray(im), 0, 1).astype(np.float32)
    has_alpha = im.mode in ("PA", "RGBa", "La") or "transparency" in im.info
    if im.mode in ("1", "L") or (im.mode in ("P", "PA") and not has_alpha
                                 and _palette_is_grey(im)):
        return np.asarray(im.convert("L"))
    return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))


def _palette_is_grey(im: Image.Image) -> bool:
    pal = np.asarray(im.convert("RGB"))
    return bool((pal[..., 0] == pal[..., 1]).all() and (pal[..., 1] == pal[..., 2]).all())


def read_photo(path: str | os.PathLike, max_megapixels: float = MAX_MEGAPIXELS) -> Photo:
    """Decode a photo file; BadInput with the reason for anything that is not a usable image."""
    path = Path(path)
    try:
        if path.is_dir():
            raise BadInput("it is a folder, not an image file")
        if path.stat().st_size == 0:
            raise BadInput("the file is empty (0 bytes)")
        with Image.open(path) as im:
            width, height = im.size
            if width * height > max_megapixels * 1e6:
                raise BadInput(f"its declared size {width} x {height} "
                               f"({width * height / 1e6:.0f} megapixels) is over the "
                               f"{max_megapixels:g}-megapixel limit")
            exif = im.info.get("exif") or None
            icc = im.info.get("icc_profile") or None
            pixels = _decode_16bit(path) if _is_16bit(im, path) else _decode_8bit(im)
    except BadInput:
        raise
    except FileNotFoundError:
        raise BadInput("no such file") from None
    except PermissionError:
        raise BadInput("permission denied: the file cannot be read") from None
    except UnidentifiedImageError:
        raise BadInput("not an image file, or in a format that cannot be read") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt image data
        raise BadInput(f"the image data is damaged or truncated ({exc})") from None
    if icc is not None and icc[16:20] != b"RGB ":
        icc = None  # a grey or CMYK profile cannot describe the RGB result
    return Photo(pixels=pixels, exif=exif, icc=icc)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _encode_png16(pixels: np.ndarray, exif: bytes | None, icc: bytes | None) -> bytes:
    """A 16-bit PNG (OpenCV) with the iCCP and eXIf chunks Pillow would have written."""
    code = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, buf = cv2.imencode(".png", cv2.cvtColor(pixels, code))
    if not ok:
        raise BadInput("OpenCV could not encode the 16-bit PNG")
    png = buf.tobytes()
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc))
    if exif:
        extra += _png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif)
    ihdr_end = 8 + 8 + 13 + 4  # signature, then the IHDR chunk
    return png[:ihdr_end] + extra + png[ihdr_end:]


def encode_photo(photo: Photo, suffix: str) -> bytes:
    """The file bytes for `photo` in the format its suffix names."""
    pixels = photo.pixels
    suffix = suffix.lower()
    if pixels.dtype == np.float32:
        pixels = np.rint(np.clip(pixels, 0, 1) * 65535).astype(np.uint16)
    if pixels.dtype == np.uint16 and suffix == ".png":
        return _encode_png16(pixels, photo.exif, photo.icc)
    if pixels.dtype == np.uint16 and suffix in (".tif", ".tiff"):
        code = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
        ok, buf = cv2.imencode(".tif", cv2.cvtColor(pixels, code))
        if not ok:
            raise BadInput("OpenCV could not encode the 16-bit TIFF")
        return buf.tobytes()
    if pixels.dtype == np.uint16:  # JPEG and WebP hold 8 bits
        pixels = np.rint(pixels / 257.0).astype(np.uint8)
    im = Image.fromarray(pixels)
    if suffix in (".jpg", ".jpeg") and im.mode == "RGBA":
        im = im.convert("RGB")  # JPEG has no alpha
    options: dict = {}
    if photo.exif:
        options["exif"] = photo.exif
    if photo.icc:
        options["icc_profile"] = photo.icc
    if suffix in (".jpg", ".jpeg", ".webp"):
        options["quality"] = JPEG_QUALITY
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF",
           ".webp": "WEBP"}[suffix]
    out = io.BytesIO()
    im.save(out, format=fmt, **options)
    return out.getvalue()


def write_photo(path: str | os.PathLike, photo: Photo, overwrite: bool = False) -> None:
    """Write atomically: a temporary file beside the target, then a rename. Without
    `overwrite` an existing file is never replaced (FileExistsError)."""
    path = Path(path)
    data = encode_photo(photo, path.suffix)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a photo is an ordinary file
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # fails if the target exists, unlike a rename
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links
            if path.exists():
                raise FileExistsError(str(path)) from None
            os.replace(tmp, path)
        else:
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
