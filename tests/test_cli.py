import hashlib
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from colorize_ai.cli import main
from colorize_ai.registry import list_models
from tiny_models import add_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    Image.fromarray(grey).save(folder / "astronaut.jpg", quality=90)
    Image.fromarray(data.chelsea()).save(folder / "cat.png")
    return folder


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
            if p.is_file()}


def test_colorize_a_folder_next_to_the_inputs(model_dir, photos, capsys):
    before = _digests(photos)
    assert main([str(photos)]) == 0
    out = capsys.readouterr().out
    assert "astronaut_tiny.png" in out and "CPUExecutionProvider" in out
    result = np.asarray(Image.open(photos / "astronaut_tiny.png"))
    assert result.shape == (512, 512, 3)
    assert np.ptp(result[..., 0].astype(int) - result[..., 2]) > 0
    assert {k: v for k, v in _digests(photos).items() if k in before} == before


def test_output_folder_format_and_skip_without_overwrite(model_dir, photos, tmp_path, capsys):
    out_dir = tmp_path / "out" / "deeper"
    assert main([str(photos / "cat.png"), "-o", str(out_dir), "--format", "jpg"]) == 0
    target = out_dir / "cat_tiny.jpg"
    first = target.read_bytes()
    assert main([str(photos / "cat.png"), "-o", str(out_dir), "--format", "jpg",
                 "--strength", "2"]) == 0
    assert "skipped" in capsys.readouterr().out
    assert target.read_bytes() == first
    assert main([str(photos / "cat.png"), "-o", str(out_dir), "--format", "jpg",
                 "--strength", "2", "--overwrite"]) == 0
    assert target.read_bytes() != first
    assert not list(out_dir.glob(".*part*"))


def test_all_models_writes_one_result_per_installed_model(model_dir, photos, tmp_path):
    add_model(model_dir, "tiny2", output={"ab_scale": 40.0})
    assert main([str(photos / "cat.png"), "--all-models", "-o", str(tmp_path / "o")]) == 0
    names = {p.name for p in (tmp_path / "o").iterdir()}
    assert {"cat_tiny.png", "cat_tiny2.png"} <= names  # and any shipped ones
    assert names == {f"cat_{s.id}.png" for s in list_models() if s.installed}


def test_earlier_results_in_a_folder_are_not_colorized_again(model_dir, photos):
    assert main([str(photos)]) == 0
    assert main([str(photos), "--overwrite"]) == 0
    assert not list(photos.glob("*_tiny_tiny*"))


def test_list_models(model_dir, capsys):
    assert main(["--list-models"]) == 0
    table = capsys.readouterr().out
    assert "tiny" in table and "yes (default)" in table and "CPU" in table
    assert "zhang-eccv16" in table and "python3 installer.py --model zhang" in table
    (line,) = [row for row in table.splitlines() if row.startswith("siggraph17 ")]
    assert " no " in line and line.endswith("install: python3 installer.py --model siggraph17")


def test_usage_errors_exit_2(model_dir, photos, capsys):
    assert main(["--model", "nope", str(photos)]) == 2
    assert "Unknown model 'nope'" in capsys.readouterr().err
    for argv in ([], ["--strength", "3", "x.jpg"], ["--device", "tpu", "x.jpg"],
                 ["--model", "tiny", "--all-models", "x.jpg"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2


def test_missing_model_file_is_one_clear_line(model_dir, photos, capsys):
    (model_dir / "tiny.onnx").unlink()
    assert main(["--model", "tiny", str(photos)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "install it with `python3 installer.py`" in err


def _bomb_png(path: Path) -> None:
    """A valid PNG header declaring 100000 x 100000 pixels, with no image data behind it."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def test_bad_inputs_each_get_one_line_and_the_batch_goes_on(model_dir, photos, tmp_path,
                                                            capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "text.jpg").write_text("this is not a picture\n")
    jpeg = (photos / "astronaut.jpg").read_bytes()
    (bad / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    _bomb_png(bad / "bomb.png")
    (bad / "folder.jpg").mkdir()
    empty_folder = tmp_path / "nothing-here"
    empty_folder.mkdir()
    (empty_folder / "notes.txt").write_text("no images")
    before = _digests(bad)
    inputs = [bad / n for n in ("empty.jpg", "text.jpg", "truncated.jpg", "bomb.png",
                                "folder.jpg")]
    argv = [str(p) for p in inputs] + [str(tmp_path / "missing.png"), str(empty_folder),
                                       str(photos / "cat.png"), "-o", str(tmp_path / "out")]
    assert main(argv) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 7, captured.err
    reasons = "\n".join(lines)
    for expected in ("empty.jpg: the file is empty", "text.jpg: not an image file",
                     "truncated.jpg: the image data is damaged or truncated",
                     "bomb.png: its declared size 100000 x 100000", "folder.jpg:",
                     "missing.png: no such file", "nothing-here: the folder has no images"):
        assert expected in reasons
    assert "Traceback" not in captured.err + captured.out
    assert (tmp_path / "out" / "cat_tiny.png").exists()  # the batch went on
    assert _digests(bad) == before


def test_16_bit_png_stays_16_bit_and_keeps_icc_and_exif(model_dir, tmp_path):
    rgb16 = (data.chelsea().astype(np.uint16) * 257)[:128, :160]
    source = tmp_path / "deep.png"
    cv2.imwrite(str(source), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    assert main([str(source)]) == 0
    result = cv2.imread(str(tmp_path / "deep_tiny.png"), cv2.IMREAD_UNCHANGED)
    assert result.dtype == np.uint16 and result.shape == (128, 160, 3)
    assert len(np.unique(result)) > 256  # more levels than 8 bits hold

    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "Test Camera Maker"
    jpg = tmp_path / "meta.jpg"
    Image.fromarray(data.chelsea()).save(jpg, icc_profile=icc, exif=exif.tobytes())
    assert main([str(jpg)]) == 0
    with Image.open(tmp_path / "meta_tiny.png") as out:
        assert out.info.get("icc_profile") == icc
        assert out.getexif()[0x010F] == "Test Camera Maker"
    # 16-bit with metadata: the chunks we add to OpenCV's PNG must be readable too.
    png16 = tmp_path / "meta16.png"
    from colorize_ai.imagefile import Photo, write_photo

    write_photo(png16, Photo(rgb16, exif.tobytes(), icc))
    with Image.open(png16) as out:
        assert out.info.get("icc_profile") == icc
        assert out.getexif()[0x010F] == "Test Camera Maker"
    assert np.array_equal(cv2.imread(str(png16), cv2.IMREAD_UNCHANGED)[..., ::-1], rgb16)


def test_16_bit_tiff_and_grey_16_bit_png(model_dir, tmp_path):
    grey16 = (cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "g.png"), grey16)
    cv2.imwrite(str(tmp_path / "t.tif"), cv2.cvtColor(grey16, cv2.COLOR_GRAY2BGR))
    assert main([str(tmp_path / "g.png"), str(tmp_path / "t.tif"), "--format", "tif"]) == 0
    for name in ("g_tiny.tif", "t_tiny.tif"):
        out = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)
        assert out.dtype == np.uint16 and out.shape == grey16.shape + (3,)


def test_module_entry_point_runs(model_dir, photos):
    run = subprocess.run([sys.executable, "-m", "colorize_ai", "--list-models"],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0 and "tiny" in run.stdout


def test_a_run_reads_each_manifest_once(model_dir, photos, tmp_path, monkeypatch):
    from colorize_ai import manifest

    add_model(model_dir, "second")
    reads: list[str] = []
    read_manifest = manifest.read_manifest

    def counting(folder, problems=None):
        reads.append(folder)
        return read_manifest(folder, problems)

    monkeypatch.setattr(manifest, "read_manifest", counting)
    assert main([str(photos / "cat.png"), "-o", str(tmp_path / "out"), "--all-models"]) == 0
    assert sorted(reads) == sorted(manifest.model_folders())
    assert {"cat_second.png", "cat_tiny.png"} <= {p.name for p in (tmp_path / "out").iterdir()}
