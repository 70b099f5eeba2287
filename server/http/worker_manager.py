"""What Sanic's process manager gets from us: the factory each worker builds its app with
(:func:`logged_app`, which also sets up the worker's logging), and a fix: a SIGTERM that
arrives while it waits for the workers' start-up acknowledgement must end the wait.

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

from sanic import Sanic
from sanic.worker.manager import WorkerManager

from server.config import Settings
from server.http.request_log import configure_logging


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


def logged_app(settings: Settings) -> Sanic[Any, Any]:
    """The app as the main process and each worker build it (a picklable factory), with every
    log line, Sanic's own included (it sets them up as the app is made), in ``LOG_FORMAT``."""
    from server.app import create_app

    app = create_app(settings)
    configure_logging(settings.log_level, settings.log_format)
    return app
