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


# A log never grows past this: it is moved aside to NAME.log.1 (the one before that dropped).
MAX_LOG_BYTES = 5 << 20


def _rotate(target: Path) -> None:
    """At start, not while running: the worker also points native libraries' stderr at the
    log file, and a handler that renamed it mid-run would leave that output behind."""
    try:
        if target.stat().st_size > MAX_LOG_BYTES:
            os.replace(target, target.with_name(target.name + ".1"))
    except OSError:
        pass


def log_to_file(name: str, path: str | os.PathLike | None = None) -> Path | None:
    """Send the engine's log (DEBUG and up) to a file; None if no file can be written."""
    target = Path(path) if path else log_dir() / f"{name}.log"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _rotate(target)
        handler = logging.FileHandler(target, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    root = logging.getLogger("colorize_ai")
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    return target
