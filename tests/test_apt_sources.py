"""tools/apt_sources.py: the Debian mirror is read from apt's own configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from apt_sources import debian_mirror  # noqa: E402


@pytest.fixture(autouse=True)
def no_override(monkeypatch):
    monkeypatch.delenv("DEBIAN_MIRROR", raising=False)


def test_deb822_sources_skip_the_security_archive(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n")
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"


def test_one_line_sources_and_the_override(tmp_path, monkeypatch):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# deb http://old.example/debian buster main\n"
        "deb [signed-by=/k.gpg] http://one.example/debian bookworm main\n")
    assert debian_mirror(tmp_path) == "http://one.example/debian"
    monkeypatch.setenv("DEBIAN_MIRROR", "http://env.example/debian/")
    assert debian_mirror(tmp_path) == "http://env.example/debian"


def test_no_archive_configured_says_what_to_set(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    with pytest.raises(RuntimeError, match="set DEBIAN_MIRROR"):
        debian_mirror(tmp_path)
