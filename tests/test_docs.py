"""The documentation a person follows: commands that run on their machine, and pages that
exist. (Debian and Ubuntu have no `python`; the development machine's /work paths mean nothing
elsewhere.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEXT = (".md", ".py", ".json", ".toml", ".sh", ".txt")


def tracked(*suffixes: str) -> list[Path]:
    """The checkout's files (new ones too, not the ignored ones) ending with `suffixes`."""
    command = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    try:
        names = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True,
                               timeout=60).stdout.split()
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")
    return [REPO / n for n in names if n.endswith(suffixes) and (REPO / n).is_file()]


def hits(pattern: str, files: list[Path]) -> list[str]:
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(pattern, line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    return found


def test_the_installer_is_run_with_python3_everywhere():
    """Messages, model entries, docs and tests name one command: `python3 installer.py`."""
    assert hits(r"(?<![\w/.-])python installer\.py", tracked(*TEXT)) == []


def test_commands_in_the_docs_use_python3():
    assert hits(r"(?<![\w/.-])python (tools/|tests/|-m )", tracked(".md")) == []


def test_the_docs_name_no_development_machine_paths():
    assert hits(r"(?<![\w$])/work/", tracked(".md")) == []


def test_every_page_the_docs_and_code_cite_exists():
    pages = {p.name for p in tracked(".md")}
    cited = hits(r"[A-Z][A-Z_]{2,}\.md", tracked(*TEXT))
    missing = [line for line in cited
               if any(name not in pages for name in re.findall(r"[A-Z][A-Z_]{2,}\.md", line))]
    assert missing == []
