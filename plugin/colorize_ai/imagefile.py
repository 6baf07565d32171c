"""Reading and writing photos: 8- and 16-bit, EXIF and ICC kept, bad files refused clearly.

Memory: a photo is held once as decoded pixels; everything else works in bands of rows.
Reading takes 8-bit pixels from Pillow a band at a time and lets OpenCV read 16-bit files
itself; writing streams PNGs (our own writer) and 16-bit TIFFs (OpenCV) to the file. Reading,
colorizing and writing a photo so peaks at about its input and result arrays plus a few
hundred MB (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import BadInput, OutputError

MAX_MEGAPIXELS = 250.0  # refuse larger declared sizes before decoding (decompression bombs)
EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".jp2", ".ppm",
              ".pgm", ".pnm"}
FORMATS = {"png": ".png", "jpg": ".jpg", "tif": ".tif", "webp": ".webp"}
JPEG_QUALITY = 95
JPEG_MAX_EXIF = 65533  # bytes in one JPEG marker segment, "Exif\0\0" included
# Huffman-coded JPEG spends at least a bit on each 8x8 block's DC term: a file with fewer
# than pixels / 512 bytes is not the picture its header declares (we allow 8x less).
JPEG_MIN_PIXELS_PER_BYTE = 4096
BAND_BYTES = 1 << 23  # rows handled at once when reordering or writing pixels
ORIENTATION = 0x0112

# read_photo checks the declared size itself, before decoding, against a limit the user
# can change; Pillow's fixed check would only warn or refuse first.
Image.MAX_IMAGE_PIXELS = None


@dataclass
class Photo:
    pixels: np.ndarray  # H x W, H x W x 2 (grey+alpha), x 3 or x 4; uint8 or uint16
    exif: bytes | None = None
    icc: bytes | None = None  # kept only when it describes RGB, as the output is colour
    notes: list[str] = field(default_factory=list)  # what the user should know about the file


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


def _bands(pixels: np.ndarray) -> list[tuple[int, int]]:
    height = pixels.shape[0]
    rows = max(1, BAND_BYTES // max(1, pixels[:1].nbytes))
    return [(y0, min(height, y0 + rows)) for y0 in range(0, height, rows)]


def swap_red_blue(pixels: np.ndarray) -> None:
    """RGB(A) <-> BGR(A) in place, a band at a time (no copy of the whole photo)."""
    if pixels.ndim == 3 and pixels.shape[2] >= 3:
        for y0, y1 in _bands(pixels):
            band = pixels[y0:y1]
            band[..., [0, 2]] = band[..., [2, 0]]


def _opencv_can_open(path: str) -> bool:
    """OpenCV's file functions take narrow paths: any name on POSIX, ASCII on Windows."""
    return os.name != "nt" or path.isascii()


def _decode_16bit(path: Path) -> np.ndarray:
    # Pillow reduces 16-bit RGB to 8 bits; OpenCV keeps all 16. From the file when OpenCV can
    # open it, which spares a copy of the file's bytes.
    if _opencv_can_open(str(path)):
        pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    else:
        pixels = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16:
        raise BadInput("the 16-bit image data is damaged or truncated")
    swap_red_blue(pixels)
    return pixels


def _as_array(im: Image.Image) -> np.ndarray:
    """np.asarray(im) of an 8-bit L, LA, RGB or RGBA image a band of rows at a time: Pillow's
    own conversion holds two whole copies of the pixels as bytes on the way."""
    im.load()
    width, height = im.size
    bands = len(im.getbands())
    out = np.empty((height, width) if bands == 1 else (height, width, bands), np.uint8)
    rows = max(1, BAND_BYTES // (width * bands))
    for y0 in range(0, height, rows):
        out[y0:y0 + rows] = np.asarray(im.crop((0, y0, width, min(height, y0 + rows))))
    return out


def _decode_8bit(im: Image.Image) -> np.ndarray:
    if im.mode in ("L", "LA", "RGB", "RGBA"):
        return _as_array(im)
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(im).astype(np.uint16)
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


def _check_data_size(im: Image.Image, path: Path) -> None:
    """Refuse a JPEG whose data is far too short for the size its header declares (decoding
    it would give a huge picture of garbage; cut files are refused by the decoders)."""
    width, height = im.size
    size = path.stat().st_size
    if im.format in ("JPEG", "MPO") and size * JPEG_MIN_PIXELS_PER_BYTE < width * height:
        raise BadInput(f"its header declares {width} x {height} pixels, but the file holds only "
                       f"{size / 1024:.0f} KB: it is damaged or not the picture it claims to be")


# EXIF orientation -> how the stored pixels turn into what viewers show (TIFF tag 274).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: a.swapaxes(0, 1)[:, ::-1],
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: a.swapaxes(0, 1)[::-1],
}


def _reset_orientation(exif: bytes) -> bytes:
    """`exif` with IFD0's Orientation set to 1 (normal), every other byte as it was: rewriting
    it through Pillow could lose maker notes."""
    start = 6 if exif.startswith(b"Exif\x00\x00") else 0
    order = {b"II": "<", b"MM": ">"}.get(exif[start:start + 2])
    if order is None or len(exif) < start + 8:
        return exif
    ifd = start + struct.unpack(order + "I", exif[start + 4:start + 8])[0]
    if len(exif) < ifd + 2:
        return exif
    (count,) = struct.unpack(order + "H", exif[ifd:ifd + 2])
    for entry in range(ifd + 2, min(len(exif) - 11, ifd + 2 + 12 * count), 12):
        tag, kind = struct.unpack(order + "HH", exif[entry:entry + 4])
        if tag == ORIENTATION and kind == 3:  # a SHORT, stored in the entry itself
            return exif[:entry + 8] + struct.pack(order + "H", 1) + exif[entry + 10:]
    return exif


def _orientation(im: Image.Image) -> int:
    if im.format == "PNG" and "exif" not in im.info:
        return 1  # Pillow would decode the whole image to look for an eXIf after the pixels
    try:
        value = im.getexif().get(ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError, struct.error):
        return 1  # unreadable EXIF: the pixels as stored
    return value if value in _ORIENT else 1


def read_photo(path: str | os.PathLike, max_megapixels: float = MAX_MEGAPIXELS) -> Photo:
    """Decode a photo file; BadInput with the reason for anything that is not a usable image.

    The pixels come turned as viewers show them (EXIF orientation applied, the tag reset to
    normal in the EXIF kept for the result)."""
    path = Path(path)
    notes = []
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
            _check_data_size(im, path)
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and im.format != "MPO":  # MPO: a camera JPEG and its previews
                what = "pages" if im.format == "TIFF" else "frames"
                notes.append(f"it has {frames} {what}; only the first is colorized")
            exif = im.info.get("exif") or None
            icc = im.info.get("icc_profile") or None
            orientation = _orientation(im)
            pixels = _decode_16bit(path) if _is_16bit(im, path) else _decode_8bit(im)
            im.close()  # frees Pillow's copy of the pixels now, not when `im` goes
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
    if orientation != 1:
        pixels = np.ascontiguousarray(_ORIENT[orientation](pixels))
        exif = _reset_orientation(exif) if exif else exif
    return Photo(pixels=pixels, exif=exif, icc=icc, notes=notes)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _write_png(f: BinaryIO, pixels: np.ndarray, exif: bytes | None, icc: bytes | None) -> None:
    """A PNG of 8- or 16-bit pixels, streamed a band of rows at a time: each row "Up"-filtered,
    deflated with run-length matching (measured: smaller and faster than OpenCV's PNG)."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    depth = 16 if pixels.dtype == np.uint16 else 8
    height, width = pixels.shape[:2]
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type,
                                            0, 0, 0)))
    if icc:
        f.write(_png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc)))
    if exif:
        f.write(_png_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    row_bytes = width * channels * depth // 8
    previous = np.zeros(row_bytes, np.uint8)
    for y0, y1 in _bands(pixels):
        band = pixels[y0:y1].astype(">u2") if depth == 16 else pixels[y0:y1]
        rows = np.ascontiguousarray(band).view(np.uint8).reshape(y1 - y0, row_bytes)
        lines = np.empty((y1 - y0, row_bytes + 1), np.uint8)
        lines[:, 0] = 2  # filter type Up: each byte minus the one above it
        np.subtract(rows[1:], rows[:-1], out=lines[1:, 1:])
        np.subtract(rows[0], previous, out=lines[0, 1:])
        previous = rows[-1].copy()
        data = deflate.compress(lines)
        if data:
            f.write(_png_chunk(b"IDAT", data))
    f.write(_png_chunk(b"IDAT", deflate.flush()))
    f.write(_png_chunk(b"IEND", b""))


def _write_tiff16(f: BinaryIO, tmp: str, pixels: np.ndarray) -> None:
    """A 16-bit TIFF through OpenCV, red and blue swapped in place for it and back after."""
    if not pixels.flags.writeable:
        pixels = pixels.copy()
    swap_red_blue(pixels)
    try:
        if _opencv_can_open(tmp):
            f.close()
            ok = cv2.imwrite(tmp, pixels)
        else:
            ok, buf = cv2.imencode(".tif", pixels)
            if ok:
                f.write(buf)
    finally:
        swap_red_blue(pixels)
    if not ok:
        raise BadInput("OpenCV could not encode the 16-bit TIFF")


def _convert(pixels: np.ndarray, dtype: type, scale: Callable[[np.ndarray], np.ndarray]
             ) -> np.ndarray:
    """`scale(pixels)` rounded to `dtype`, a band at a time (no float copy of the photo)."""
    out = np.empty(pixels.shape, dtype)
    for y0, y1 in _bands(pixels):
        out[y0:y1] = np.rint(scale(pixels[y0:y1]))
    return out


def fit_to_format(photo: Photo, suffix: str) -> tuple[Photo, list[str]]:
    """`photo` as the format named by `suffix` can hold it, and a note for each thing lost."""
    notes = []
    if suffix.lower() in (".jpg", ".jpeg"):
        if photo.pixels.ndim == 3 and photo.pixels.shape[2] in (2, 4):
            notes.append("JPEG has no transparency: the alpha channel is dropped (use --format "
                         "png, tif or webp to keep it)")
        exif = photo.exif or b""
        length = len(exif) + (0 if exif.startswith(b"Exif\x00\x00") else 6)
        if exif and length > JPEG_MAX_EXIF:
            notes.append(f"its EXIF data ({length // 1024} KB) is too long for a JPEG file and "
                         "is left out (use --format png or tif to keep it)")
            photo = Photo(photo.pixels, None, photo.icc, photo.notes)
    return photo, notes


def _save(f: BinaryIO, tmp: str, photo: Photo, suffix: str, consume: bool = False) -> None:
    """Write `photo` to the open file `f` (at path `tmp`) in the format its suffix names.
    consume: the caller needs the pixels no more; Pillow's encoders (JPEG, WebP) get them as
    Pillow's own copy, and ours is let go before they make theirs."""
    pixels = photo.pixels
    suffix = suffix.lower()
    if pixels.dtype == np.float32:
        pixels = _convert(pixels, np.uint16, lambda band: np.clip(band, 0, 1) * 65535)
    if suffix == ".png" and pixels.dtype in (np.uint8, np.uint16):
        return _write_png(f, pixels, photo.exif, photo.icc)
    if pixels.dtype == np.uint16 and suffix in (".tif", ".tiff"):
        return _write_tiff16(f, tmp, pixels)
    if pixels.dtype == np.uint16:  # JPEG and WebP hold 8 bits
        pixels = _convert(pixels, np.uint8, lambda band: band / np.float32(257))
    if suffix == ".webp":
        from .webpfile import write_webp  # imported here: it uses swap_red_blue from this module

        return write_webp(f, pixels, JPEG_QUALITY, photo.exif, photo.icc)
    im = Image.fromarray(pixels)
    if consume:  # Pillow has its own copy now: ours can go before the encoder's buffers
        photo.pixels = pixels = None
    if suffix in (".jpg", ".jpeg") and im.mode == "RGBA":
        im = im.convert("RGB")  # JPEG has no alpha
    options: dict = {}
    if photo.exif:
        options["exif"] = photo.exif
    if photo.icc:
        options["icc_profile"] = photo.icc
    if suffix in (".jpg", ".jpeg"):
        options["quality"] = JPEG_QUALITY
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}[suffix]
    im.save(f, format=fmt, **options)


def write_photo(path: str | os.PathLike, photo: Photo, overwrite: bool = False,
                consume: bool = False) -> None:
    """Write atomically: a temporary file beside the target, then a rename. Without
    `overwrite` an existing file is never replaced (FileExistsError). OutputError when the
    folder cannot be written. consume: `photo.pixels` may be let go while writing."""
    path = Path(path)
    try:
        # Ends in the format's suffix: OpenCV picks its writer by the name.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                   suffix=f".part{path.suffix}")
    except OSError as exc:
        raise OutputError(f"cannot write to the output folder {path.parent} "
                          f"({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            _save(f, tmp, photo, path.suffix, consume)
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
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, FileExistsError):
            raise OutputError(f"cannot write {path.name} in the output folder {path.parent} "
                              f"({exc.strerror or exc})") from exc
        raise
