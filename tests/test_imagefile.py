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
