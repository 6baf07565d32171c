"""Where details go that a person should not have to read: tracebacks, provider decisions."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def log_dir() -> Path:
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "colorize-ai" / "logs"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Logs" / "colorize-ai"
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "colorize-ai"


def log_to_file(name: str, path: str | os.PathLike | None = None) -> Path | None:
    """Send the engine's log (DEBUG and up) to a file; None if no file can be written."""
    target = Path(path) if path else log_dir() / f"{name}.log"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(target, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    root = logging.getLogger("colorize_ai")
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    return target
