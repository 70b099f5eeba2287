"""Secrets the server makes for itself (the secret key, the VAPID key) are private from the
first byte: never written under their own name (where, until a ``chmod``, the umask decides
who may read them), and 0600 even under a umask of 0."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from server.config import load_or_create_secret
from server.push.vapid import KEY_FILE, load_vapid_keys

_watched: list[Path] = []
_opened: list[tuple[str, Any]] = []


def _record(event: str, args: tuple[Any, ...]) -> None:
    """An audit hook (they cannot be removed): notes the files opened in a watched folder."""
    opened = event == "open" and isinstance(args[0], str | Path)
    if _watched and opened and Path(args[0]).parent in _watched:
        _opened.append((event, args))


sys.addaudithook(_record)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[list[tuple[str, Any]]]:
    """What is opened in ``tmp_path`` meanwhile, under a umask that hides nothing."""
    previous = os.umask(0)
    _watched.append(tmp_path)
    _opened.clear()
    try:
        yield _opened
    finally:
        _watched.clear()
        os.umask(previous)


MAKERS: dict[str, tuple[Callable[[Path], Any], str]] = {
    "secret key": (load_or_create_secret, "secret_key"),
    "VAPID key": (load_vapid_keys, KEY_FILE),
}


@pytest.mark.parametrize("made", MAKERS, ids=MAKERS)
def test_a_secret_file_is_private_from_its_first_byte(
    tmp_path: Path, watched: list[tuple[str, Any]], made: str
) -> None:
    make, name = MAKERS[made]
    first = make(tmp_path)
    path = tmp_path / name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written_under_its_name = [
        args
        for event, args in watched
        if event == "open" and Path(args[0]) == path and _writes(args)
    ]
    assert written_under_its_name == [], "made whole and private elsewhere, then linked"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name], "no temporary file left"
    again = make(tmp_path)
    assert again == first or getattr(again, "public_key", 0) == getattr(first, "public_key", 1)


def _writes(args: tuple[Any, ...]) -> bool:
    mode, flags = args[1], args[2]
    if isinstance(mode, str):
        return any(ch in mode for ch in "wax+")
    return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))


def test_of_two_makers_one_key_wins(tmp_path: Path) -> None:
    """A second process that finds the name taken keeps the first one's key."""
    from server.core.private_files import create_private_file

    assert create_private_file(tmp_path / "secret_key", "first") == "first"
    assert create_private_file(tmp_path / "secret_key", "second") == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]
