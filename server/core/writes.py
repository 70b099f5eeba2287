"""Whether the current request appended to the change log: its worker then reads the log at
once, so the answers that follow reflect the write without waiting for the next poll."""

from __future__ import annotations

from contextvars import ContextVar

_wrote: ContextVar[bool] = ContextVar("tinedy_wrote_changes", default=False)


def track_writes() -> None:
    """Start of a request: nothing written yet (see :func:`wrote_changes`)."""
    _wrote.set(False)


def note_changes_written() -> None:
    _wrote.set(True)


def wrote_changes() -> bool:
    """Whether this request appended to the change log, so its worker should read it now."""
    return _wrote.get()
