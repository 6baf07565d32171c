"""ONNX Runtime's telemetry stays off in every session the engine creates: its official
builds otherwise write a device id under ~/.cache/Microsoft (which --uninstall cannot know is
ours) and send usage events."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tiny_models import add_model

REPO = Path(__file__).resolve().parents[1]


def test_the_converters_switch_telemetry_off(monkeypatch, tmp_path):
    """`convert_models.py fetch zhang` (run by the installer's --model) checks the converted
    model in ONNX Runtime, which it imports only then: the setting must be in place first."""
    monkeypatch.syspath_prepend(str(REPO / "tools"))
    from convert_models import main

    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "0")  # restored after the test
    # Nothing listens on port 9 of 127.0.0.1: the command fails at once, after its set-up.
    assert main(["fetch", "zhang", "--base-url", "http://127.0.0.1:9/none", "--dest",
                 str(tmp_path / "models"), "--cache", str(tmp_path / "cache")]) == 1
    assert os.environ.get("ORT_DISABLE_TELEMETRY") == "1"


def test_sessions_leave_no_telemetry_device_id(tmp_path):
    add_model(tmp_path / "models", "tiny")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "ORT_DISABLE_TELEMETRY", "ORT_RUNNING_UNIT_TESTS",
                        "XDG_CACHE_HOME")}  # each of these would hide the problem
    env.update(HOME=str(home), PYTHONPATH=os.pathsep.join(
        [str(REPO / "plugin"), env.get("PYTHONPATH", "")]))
    code = ("import sys; from colorize_ai.session import create_session; "
            "print(create_session(sys.argv[1], 'cpu').provider)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "models" / "tiny.onnx")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "CPUExecutionProvider"
    assert [str(p.relative_to(home)) for p in home.rglob("*")] == []
