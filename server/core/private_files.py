"""Files that hold secrets (the secret key, the VAPID key), made readable by their owner only
from the first byte on.

Writing a file and then ``chmod``-ing it leaves a moment in which it is as readable as the
umask lets it be (``0644`` or worse) and half-written. Here the secret is written to a
temporary file that ``mkstemp`` creates ``0600`` whatever the umask, then linked under its
name: the name appears only once the file is whole and private. ``link`` fails when the name
exists, so of two processes starting at once one key wins and both use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def create_private_file(path: Path, text: str) -> str:
    """Keep ``text`` at ``path`` (owner read and write only); if another process made the
    file first, what that one kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_text(encoding="utf-8")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return text
