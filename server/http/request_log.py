"""Logs as one JSON object a line, and the request id that ties a request's lines together.

Every request gets an id: the caller's ``X-Request-ID`` when it is sane (1 to 64 of
``A-Z a-z 0-9 . _ -``, so a proxy's or the app's id carries through), else a new one.
It is set on ``request.ctx.request_id`` (the audit trail reads it there) and in a context
variable that every log line written while the request runs carries as ``request_id``, and
it goes back in the ``X-Request-ID`` header of every answer, errors included.

A line is ``{"time", "level", "logger", "message", "request_id"?, ...fields}``: the fields
are what the call passed as ``extra=``, and ``exception`` the formatted trace. The formatter is
ours, a dozen lines over orjson (already a dependency and the fastest serialiser we have),
rather than python-json-logger: it needs nothing more. Sanic's own loggers are sent through
the same handler. No access line is written per request (``ACCESS_LOG`` is off): at the
feed's rate it would cost more than the request; the Prometheus counters and histograms per
route are the access record, and a slow or failed request logs what matters itself.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson
from sanic import Request

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
# A new id is this process's random prefix and a counter: unique across workers and
# instances, and no system call per request (an id is a label, not a secret).
_PROCESS_PREFIX = secrets.token_hex(4)
_sequence = itertools.count()
_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"


def give_request_id(request: Request) -> str:
    """Give ``request`` its id (the caller's if sane, else a new one) and make it the id of
    the log lines written from here on (the ``endpoint`` decorator calls it first thing)."""
    incoming: str | None = request.headers.get("x-request-id")
    if incoming and _SANE_ID.fullmatch(incoming):
        request_id = incoming
    else:
        request_id = f"{_PROCESS_PREFIX}{next(_sequence):08x}"
    request.ctx.request_id = request_id
    _request_id.set(request_id)
    return request_id


def request_id_of(request: Request) -> str:
    """The request's id; one is given now to a request refused before routing (404, 405)."""
    request_id: str | None = getattr(request.ctx, "request_id", None)
    return request_id if request_id is not None else give_request_id(request)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str, log_format: str) -> None:
    """Send every logger, Sanic's included, through one handler on stderr in ``log_format``
    (``json`` or ``text``). Called again after Sanic has set up its own loggers."""
    handler = logging.StreamHandler(sys.stderr)
    json_lines = log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in list(logging.root.manager.loggerDict):
        if name == "sanic" or name.startswith("sanic."):
            sanic_logger = logging.getLogger(name)
            sanic_logger.handlers.clear()
            sanic_logger.propagate = True
