"""SECURITY.md cannot drift: every test it names exists, every test of this folder is named
there, and each of the ten OWASP API risks has its section."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "SECURITY.md").read_text()
NAMED = set(re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", DOC))


def defined_tests(path: Path) -> set[str]:
    return set(re.findall(r"^(?:async )?def (test_\w+)\(", path.read_text(), re.MULTILINE))


def test_every_test_named_here_exists() -> None:
    missing = [
        f"{file}::{name}"
        for file, name in sorted(NAMED)
        if not (ROOT / file).exists() or name not in defined_tests(ROOT / file)
    ]
    assert missing == []
    assert len(NAMED) > 100


def test_every_security_test_is_named_here() -> None:
    here = Path(__file__).parent
    unnamed = [
        f"{path.relative_to(ROOT)}::{name}"
        for path in sorted(here.glob("test_*.py"))
        for name in sorted(defined_tests(path))
        if (str(path.relative_to(ROOT)), name) not in NAMED
    ]
    assert unnamed == []


def test_each_risk_has_its_section() -> None:
    sections = re.findall(r"^### (API\d+): ", DOC, re.MULTILINE)
    assert sections == [f"API{n}" for n in range(1, 11)]
    for heading in ("## Reporting a vulnerability", "## Known not to be covered"):
        assert heading in DOC
