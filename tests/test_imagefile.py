"""Reading and writing photo files: orientation, lying headers, memory (issue #12)."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import data

from colorize_ai.errors import BadInput
from colorize_ai.imagefile import Photo, read_photo, write_photo

REPO = Path(__file__).resolve().parents[1]


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Maker"
    return exif.tobytes()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_pixels_come_as_viewers_show_them(tmp_path, orientation):
    stored = data.astronaut()[:60, :90]
    path = tmp_path / "o.png"
    Image.fromarray(stored).save(path, exif=_exif(orientation))
    photo = read_photo(path)
    with Image.open(path) as im:
        shown = np.asarray(ImageOps.exif_transpose(im))
    assert np.array_equal(photo.pixels, shown)
    kept = Image.Exif()
    kept.load(photo.exif)
    assert kept.get(0x0112) == 1 and kept[0x010F] == "Maker"


def test_16_bit_photo_is_turned_too_and_written_the_same_way_up(tmp_path):
    stored = (data.astronaut()[:40, :70].astype(np.uint16) * 257) + 3
    path = tmp_path / "deep.png"
    write_photo(path, Photo(stored, _exif(8)))
    photo = read_photo(path)
    assert photo.pixels.dtype == np.uint16
    assert np.array_equal(photo.pixels, np.rot90(stored))  # 8: turned anticlockwise
    write_photo(tmp_path / "again.png", photo)
    again = read_photo(tmp_path / "again.png")
    assert np.array_equal(again.pixels, photo.pixels)  # orientation 1 now: no second turn


def _lying_jpeg(path: Path, width: int, height: int) -> None:
    """A small real JPEG whose frame header is edited to declare width x height."""
    Image.fromarray(data.camera()[:16, :16]).save(path, quality=90)
    raw = bytearray(path.read_bytes())
    sof = raw.index(b"\xff\xc0")
    raw[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(raw))


def test_jpeg_data_far_too_short_for_its_declared_size_is_refused(tmp_path):
    path = tmp_path / "liar.jpg"
    _lying_jpeg(path, 12000, 20000)
    with pytest.raises(BadInput, match="declares 12000 x 20000 pixels, but the file holds only"):
        read_photo(path)


def test_a_plain_but_honest_jpeg_is_accepted(tmp_path):
    path = tmp_path / "flat.jpg"
    Image.fromarray(np.full((2000, 3000), 128, np.uint8)).save(path, quality=75)
    assert read_photo(path).pixels.shape == (2000, 3000)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_16_bit_png_peaks_near_its_input_and_result_arrays(model_dir, tmp_path):
    """Reading, colorizing and writing a 16-bit RGB photo holds its input and result arrays
    and a bounded amount more; whole copies at each step (the old reader and writer) fail."""
    rgb16 = cv2.resize(data.astronaut(), (4000, 4000)).astype(np.uint16) * 257
    rgb16 += np.random.default_rng(0).integers(0, 200, rgb16.shape, dtype=np.uint16)
    source = tmp_path / "deep.png"
    cv2.imwrite(str(source), rgb16)
    run = subprocess.run([sys.executable, str(REPO / "tools" / "memory_peak.py"), str(source),
                          "-o", str(tmp_path / "out")], capture_output=True, text=True,
                         check=False)
    figures = json.loads(run.stdout.splitlines()[-1])
    assert figures["exit"] == 0, run.stderr
    assert figures["result_mb"] == 96
    grown = figures["peak_mb"] - figures["before_mb"]
    assert grown <= 2 * figures["result_mb"] + 250, figures


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_writer_round_trips_every_layout(tmp_path, monkeypatch, dtype, channels):
    from colorize_ai import imagefile

    monkeypatch.setattr(imagefile, "BAND_BYTES", 1000)  # many bands of a few rows
    rng = np.random.default_rng(channels)
    shape = (37, 53) if channels == 1 else (37, 53, channels)
    pixels = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    write_photo(tmp_path / "x.png", Photo(pixels))
    back = cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_UNCHANGED)
    if channels >= 3:
        back = back[..., [2, 1, 0, 3][:channels]]
    elif channels == 2:  # OpenCV reads grey+alpha as BGRA
        back = back[..., [0, 3]]
    assert back.dtype == dtype and np.array_equal(back, pixels)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_webp_keeps_colours_alpha_exif_and_icc(tmp_path, channels):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = _exif(1)
    rng = np.random.default_rng(channels)
    shape = (48, 64) if channels == 1 else (48, 64, channels)
    pixels = np.full(shape, 90, np.uint8)
    if channels >= 3:
        pixels[..., 0] = 220  # red: a swapped red and blue would show
    if channels in (2, 4):
        pixels[..., -1] = rng.integers(0, 256, (48, 64), dtype=np.uint8) // 64 * 64
    kept = pixels.copy()
    write_photo(tmp_path / "x.webp", Photo(pixels, exif, icc))
    assert np.array_equal(pixels, kept)  # the caller's pixels are given back as they were
    with Image.open(tmp_path / "x.webp") as im:
        back = np.asarray(im.convert("RGBA"))
        assert im.info.get("icc_profile") == icc
        assert im.getexif().get(0x0112) == 1
    grey = pixels if channels <= 2 else pixels[..., :3]
    if channels in (1, 2):
        grey = pixels[..., 0] if channels == 2 else pixels
        assert abs(int(back[..., :3].mean()) - int(grey.mean())) <= 2
    else:
        assert np.abs(back[..., :3].astype(int) - grey).mean() < 3
    if channels in (2, 4):
        assert np.abs(back[..., 3].astype(int) - pixels[..., -1]).max() <= 2


def test_webp_without_metadata_is_the_encoders_own_file(tmp_path):
    write_photo(tmp_path / "x.webp", Photo(np.zeros((16, 16, 3), np.uint8)))
    head = (tmp_path / "x.webp").read_bytes()
    assert head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8 "


def test_webp_refuses_sides_over_its_limit():
    from colorize_ai.webpfile import write_webp

    with pytest.raises(BadInput, match="at most 16383 pixels a side"):
        write_webp(None, np.zeros((2, 16400), np.uint8), 95, None, None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_webp_writer_adds_less_than_a_copy_of_the_photo(tmp_path):
    """Pillow's WebP writer held its own copy of the pixels and libwebp an ARGB one (4 bytes a
    pixel) beside the YUV planes; the encoder we call makes only the YUV planes."""
    script = f"""
import sys, json
sys.path.insert(0, {str(REPO / "plugin")!r})
import numpy as np
from colorize_ai.imagefile import Photo, write_photo
def peak(field="VmHWM"):
    with open("/proc/self/status") as f:
        return int(next(x for x in f if x.startswith(field)).split()[1]) / 1024
from skimage import data
import cv2
pixels = cv2.resize(data.astronaut(), (4000, 4000))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the peak so far is forgotten
before = peak("VmRSS")
write_photo({str(tmp_path / "big.webp")!r}, Photo(pixels))
print(json.dumps({{"before": before, "peak": peak()}}))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    figures = json.loads(run.stdout)
    assert figures["peak"] - figures["before"] < 48, figures  # the photo is 48 MB (Pillow: 159)
