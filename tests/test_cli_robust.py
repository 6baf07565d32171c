"""colorize-ai on awkward inputs and outputs: nothing lost, nothing written where it should not
be, every failure one clear line (issue #12)."""

import os
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from colorize_ai import cli, imagefile
from colorize_ai.cli import main


def _grey(path: Path, size: int = 96, **options) -> None:
    grey = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY), (size, size))
    Image.fromarray(grey).save(path, **options)


@pytest.fixture
def sigterm_restored():
    """main() installs a SIGTERM handler; give pytest its own back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def test_same_stem_in_two_formats_gives_two_results(model_dir, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _grey(folder / "photo.bmp")
    Image.open(folder / "photo.bmp").rotate(90).save(folder / "photo.webp", lossless=True)
    out = tmp_path / "out"
    argv = [str(folder / "photo.bmp"), str(folder / "photo.webp"), "-o", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    results = sorted(p.name for p in out.iterdir())
    assert results == ["photo.bmp_tiny.png", "photo.webp_tiny.png"]
    assert err.count("same name") == 2
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(argv + ["--overwrite"]) == 0  # neither replaces the other
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert first["photo.bmp_tiny.png"] != first["photo.webp_tiny.png"]


def test_two_folders_with_the_same_file_name_into_one_output(model_dir, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        _grey(tmp_path / name / "photo.png", size=64 if name == "a" else 80)
    out = tmp_path / "out"
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "a" / "photo.png"),
                 "-o", str(out)]) == 0
    sizes = sorted(Image.open(p).size for p in out.iterdir())
    assert sizes == [(64, 64), (80, 80)]  # the file named twice ran once


def test_a_result_never_replaces_another_input(model_dir, tmp_path, capsys):
    _grey(tmp_path / "photo.png")
    _grey(tmp_path / "photo_tiny.png", size=64)  # an input named like photo.png's result
    before = (tmp_path / "photo_tiny.png").read_bytes()
    assert main([str(tmp_path / "photo.png"), str(tmp_path / "photo_tiny.png"),
                 "--overwrite"]) == 1
    assert "the result would replace the input" in capsys.readouterr().err
    assert (tmp_path / "photo_tiny.png").read_bytes() == before
    assert (tmp_path / "photo_tiny_tiny.png").exists()  # the other input still ran


def test_read_only_output_folder_is_named(model_dir, tmp_path, monkeypatch, capsys):
    source = tmp_path / "one.png"
    _grey(source)
    out = tmp_path / "out"
    out.mkdir()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(imagefile.tempfile, "mkstemp", refuse)  # as in a read-only folder
    assert main([str(source), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"output folder {out} (Permission denied)" in err
    assert f"{source}: Permission denied" not in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_for_real(model_dir, tmp_path, capsys):
    source = tmp_path / "one.png"
    _grey(source)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert main([str(source), "-o", str(out)]) == 1
    finally:
        out.chmod(0o755)
    assert f"output folder {out}" in capsys.readouterr().err


@pytest.mark.parametrize("failure", [
    MemoryError(),
    cv2.error("OpenCV(4.14.0) alloc.cpp:73: error: (-4:Insufficient memory) Failed to "
              "allocate 3600000000 bytes in function 'OutOfMemoryError'"),
    RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned "
                 "while running Conv node. Name:'conv' Status Message: bfc_arena.cc:359 "
                 "AllocateRawInternal Failed to allocate memory for requested buffer of size "
                 "123456789"),
])
def test_out_of_memory_is_one_sentence(model_dir, tmp_path, monkeypatch, capsys, failure):
    source = tmp_path / "big.png"
    _grey(source)

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(cli, "colorize", fail)
    assert main([str(source)]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "too large for the memory available" in lines[0] and "--max-megapixels" in lines[0]
    assert "internal error" not in err and "bfc_arena" not in err and "alloc.cpp" not in err


def _interrupt_writes(monkeypatch, then):
    """Make the result file take some bytes, then call `then` (an interruption)."""
    fdopen = os.fdopen

    class Interrupted:
        def __init__(self, f):
            self.f = f

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(bytes(data)[:100])
            self.f.flush()
            then()

    monkeypatch.setattr(imagefile.os, "fdopen", lambda *a, **k: Interrupted(fdopen(*a, **k)))


def test_ctrl_c_exits_130_quietly_and_removes_the_partial_file(model_dir, tmp_path, monkeypatch,
                                                               capsys, sigterm_restored):
    for name in ("a", "b"):
        _grey(tmp_path / f"{name}.png")
    out = tmp_path / "out"

    def ctrl_c():
        raise KeyboardInterrupt

    _interrupt_writes(monkeypatch, ctrl_c)
    assert main([str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(out)]) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err.strip().endswith("interrupted")
    assert list(out.iterdir()) == []  # neither a result nor a .part file


def test_sigterm_during_a_write_removes_the_partial_file(model_dir, tmp_path, monkeypatch,
                                                         capsys, sigterm_restored):
    _grey(tmp_path / "a.png")
    out = tmp_path / "out"
    _interrupt_writes(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGTERM))
    assert main([str(tmp_path / "a.png"), "-o", str(out)]) == 128 + signal.SIGTERM
    assert list(out.iterdir()) == []
    assert "interrupted" in capsys.readouterr().err


def _tree(root: Path) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    _grey(root / "top.png")
    _grey(root / "sub" / "middle.png")
    _grey(root / "sub" / "deeper" / "bottom.jpg")
    _grey(root / ".hidden" / "secret.png")


def test_subfolders_are_counted_without_recursive(model_dir, tmp_path, capsys):
    _tree(tmp_path / "in")
    assert main([str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["top_tiny.png"]
    assert "1 subfolder(s) skipped; use --recursive" in capsys.readouterr().err


def test_recursive_mirrors_the_folders_under_the_output(model_dir, tmp_path):
    _tree(tmp_path / "in")
    out = tmp_path / "in" / "results"  # inside the input: must not be colorized again
    for _ in range(2):
        assert main([str(tmp_path / "in"), "--recursive", "-o", str(out), "--overwrite"]) == 0
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert found == ["sub/deeper/bottom_tiny.png", "sub/middle_tiny.png", "top_tiny.png"]


def test_output_option_takes_a_folder(model_dir, tmp_path, capsys):
    _grey(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("mine")
    for target in (tmp_path / "notes.txt", tmp_path / "out" / "result.png"):
        with pytest.raises(SystemExit) as exit_info:
            main([str(tmp_path / "a.png"), "-o", str(target)])
        assert exit_info.value.code == 2
        assert "-o takes a folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_jpeg_output_of_a_transparent_photo_warns(model_dir, tmp_path, capsys):
    rgba = np.dstack([cv2.resize(data.astronaut(), (64, 64)), np.full((64, 64), 128, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    assert main([str(tmp_path / "clear.png"), "--format", "jpg"]) == 0
    assert "alpha channel is dropped" in capsys.readouterr().err
    assert Image.open(tmp_path / "clear_tiny.jpg").mode == "RGB"


def test_long_exif_is_left_out_of_a_jpeg_with_a_warning(model_dir, tmp_path, capsys):
    exif = Image.Exif()
    exif[0x010F] = "Maker"
    exif[0x9286] = "x" * 70_000  # UserComment: more than one JPEG segment holds
    _grey(tmp_path / "long.png", exif=exif.tobytes())
    assert main([str(tmp_path / "long.png"), "--format", "jpg"]) == 0
    err = capsys.readouterr().err
    assert "EXIF data" in err and "too long for a JPEG" in err and "internal" not in err
    assert Image.open(tmp_path / "long_tiny.jpg").size == (96, 96)
    assert main([str(tmp_path / "long.png")]) == 0  # PNG keeps it
    assert Image.open(tmp_path / "long_tiny.png").getexif()[0x9286] == "x" * 70_000


def test_only_the_first_frame_is_used_and_that_is_said(model_dir, tmp_path, capsys):
    frames = [Image.fromarray(np.full((32, 48), v, np.uint8)) for v in (40, 200, 90)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    assert main([str(tmp_path / "anim.gif"), str(tmp_path / "pages.tif")]) == 0
    err = capsys.readouterr().err
    assert "anim.gif: it has 3 frames; only the first is colorized" in err
    assert "pages.tif: it has 3 pages; only the first is colorized" in err


def test_exif_orientation_is_applied_and_reset(model_dir, tmp_path):
    stored = cv2.resize(data.astronaut(), (120, 80))  # landscape as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # viewers turn it 90 degrees clockwise: portrait
    exif[0x010F] = "Maker"
    Image.fromarray(stored).save(tmp_path / "turned.jpg", exif=exif.tobytes(), quality=95)
    assert main([str(tmp_path / "turned.jpg"), "--format", "jpg"]) == 0
    with Image.open(tmp_path / "turned_tiny.jpg") as result:
        assert result.size == (80, 120)  # portrait, as the viewers showed the input
        assert result.getexif().get(0x0112, 1) == 1 and result.getexif()[0x010F] == "Maker"
        pixels = np.asarray(result.convert("L"), np.float32)
    grey = cv2.cvtColor(stored, cv2.COLOR_RGB2GRAY).astype(np.float32)
    clockwise, anticlockwise = (np.corrcoef(pixels.ravel(), np.rot90(grey, k).ravel())[0, 1]
                                for k in (-1, 1))
    assert clockwise > 0.9 > anticlockwise  # the same picture, the same way up
