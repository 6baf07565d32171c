"""The cached GIMP roots' bookkeeping (tests/gimp/rootfs.py), without building one."""

from __future__ import annotations

from pathlib import Path

import rootfs


def fake_root(path: Path, python: str, stamp: str = "", wheels: str = "") -> Path:
    (path / "usr/bin").mkdir(parents=True)
    (path / "usr/bin/python3").symlink_to(python)
    for file, text in ((rootfs.STAMP_FILE, stamp), (rootfs.WHEEL_DIR + "/STAMP", wheels)):
        if text:
            (path / file).parent.mkdir(parents=True, exist_ok=True)
            (path / file).write_text(text + "\n")
    return path


def test_wheels_are_for_the_roots_own_python(tmp_path):
    assert rootfs.root_python(fake_root(tmp_path / "t", "python3.13")) == "3.13"
    assert rootfs.root_python(fake_root(tmp_path / "s", "/usr/bin/python3.14")) == "3.14"


def test_each_release_accepts_only_its_own_complete_root(tmp_path):
    sid = fake_root(tmp_path / "sid", "python3.14", rootfs.SID.root_stamp, rootfs.WHEEL_STAMP)
    assert rootfs.is_ready(rootfs.SID, sid)
    assert not rootfs.is_ready(rootfs.TRIXIE, sid)
    half = fake_root(tmp_path / "half", "python3.13", rootfs.TRIXIE.root_stamp)
    assert not rootfs.is_ready(rootfs.TRIXIE, half)  # no wheels yet


def test_the_roots_have_their_own_cache_folders_and_programs(monkeypatch):
    monkeypatch.delenv(rootfs.SID.variable, raising=False)
    assert rootfs.SID.default_root != rootfs.TRIXIE.default_root
    monkeypatch.setenv(rootfs.SID.variable, "/somewhere/else")
    assert rootfs.SID.default_root == Path("/somewhere/else")
    assert [r.console for r in rootfs.RELEASES.values()] == ["gimp-console-3.0",
                                                               "gimp-console-3.2"]
