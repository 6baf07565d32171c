"""Shared fixtures: every test runs with its own user folders, so nothing a person installed
(or an earlier test wrote) is seen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS / "gimp"))

import rootfs  # noqa: E402

from tiny_models import add_model  # noqa: E402


@pytest.fixture(autouse=True)
def _private_user_folders(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.delenv("COLORIZE_AI_MODELS", raising=False)


@pytest.fixture
def model_dir(tmp_path, monkeypatch) -> Path:
    """A models folder with one tiny baseline-family model, 'tiny', made the default."""
    folder = tmp_path / "models"
    add_model(folder, "tiny", default=True)
    monkeypatch.setenv("COLORIZE_AI_MODELS", str(folder))
    return folder


@pytest.fixture
def shared_fixtures() -> Path:
    path = SHARED / "fixtures"
    if not path.is_dir():
        pytest.skip(f"../shared/fixtures is not beside the checkout ({path}); these tests need "
                    "the published Zhang files it holds")
    return path


@pytest.fixture(scope="session", params=sorted(rootfs.RELEASES), ids=lambda v: "gimp" + v)
def gimp_release(request) -> rootfs.Release:
    """Each tested GIMP in turn (3.0 from Debian trixie, 3.2 from sid), its root built or reused:
    a test that uses this, directly or through a fixture such as test_gimp3_e2e's e2e, runs in
    every version."""
    release = rootfs.RELEASES[request.param]
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("the real-GIMP tests need Linux and root (debootstrap, chroot, mount)")
    try:
        rootfs.ensure_rootfs(release)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
        pytest.skip(f"the {release.name} could not be built ({error}); building it needs the "
                    "Debian mirror and the package index")
    return release
