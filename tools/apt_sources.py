"""The Debian mirror this machine's apt already uses, for tools that fetch from other suites.

Read from apt's own configuration (deb822 `.sources` files or one-line `sources.list`), so the
tools follow whatever mirror the machine is set up with instead of naming one themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

APT = Path("/etc/apt")


def _deb822(text: str) -> list[tuple[str, list[str]]]:
    """(URI, suites) of each deb stanza of a .sources file."""
    found = []
    for stanza in text.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ")):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.split()
        if "deb" in fields.get("types", []) and fields.get("uris"):
            found.extend((uri, fields.get("suites", [])) for uri in fields["uris"])
    return found


def _one_line(text: str) -> list[tuple[str, list[str]]]:
    found = []
    for line in text.splitlines():
        words = [w for w in line.split("#", 1)[0].split() if not w.startswith("[")]
        if len(words) >= 3 and words[0] == "deb":
            found.append((words[1], [words[2]]))
    return found


def debian_mirror(apt: Path = APT) -> str:
    """The URI apt uses for Debian's main archive (not the security one); $DEBIAN_MIRROR wins."""
    if os.environ.get("DEBIAN_MIRROR"):
        return os.environ["DEBIAN_MIRROR"].rstrip("/")
    sources = []
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        sources += _deb822(path.read_text(errors="replace"))
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if path.is_file():
            sources += _one_line(path.read_text(errors="replace"))
    for uri, suites in sources:
        if not any(s.endswith("-security") for s in suites) and "security" not in uri:
            return uri.rstrip("/")
    raise RuntimeError(f"no Debian archive is configured in {apt}/sources.list(.d); set "
                       "DEBIAN_MIRROR to the mirror's URI")
