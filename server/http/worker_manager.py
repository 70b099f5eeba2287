"""A fix to Sanic's process manager (whose workers build the app with
:func:`server.app.logged_app`): a SIGTERM that arrives while it waits for the workers'
start-up acknowledgement must end the wait.

Sanic (25.12) answers the signal by stopping the workers and posting "stop" to its monitor
pipe, but its wait for acknowledgements takes that message, posts it back and waits on: the
workers are gone and never acknowledge, so the main process spins on its own message for
ever (sanic-org/sanic#2997; the fix upstream, #3063, is not released). A deploy or a
supervisor stopping an instance that has only just started would leave it running, burning a
core, until killed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sanic.worker.manager import WorkerManager


def end_the_start_up_wait_on_shutdown() -> None:
    """Count the workers as acknowledged once shutting down, so the manager goes on to its
    monitor loop, which reads the "stop" message and joins the workers as usual."""
    waiting_for: Callable[[Any], bool] = WorkerManager._all_workers_ack
    if getattr(waiting_for, "ends_on_shutdown", False):
        return

    def all_acknowledged_or_shutting_down(manager: Any) -> bool:
        return bool(manager._shutting_down) or waiting_for(manager)

    all_acknowledged_or_shutting_down.ends_on_shutdown = True  # type: ignore[attr-defined]
    WorkerManager._all_workers_ack = all_acknowledged_or_shutting_down  # type: ignore[method-assign]
