"""Every answer carries its request's id (the caller's when sane), and every log line is one
JSON object that carries the id of the request it was written in."""

from __future__ import annotations

import contextvars
import io
import logging
import re
from types import SimpleNamespace
from typing import Any, cast

import httpx
import orjson
import pytest
from sanic import Request

from server.context import AppContext
from server.http.request_log import JsonFormatter, configure_logging, give_request_id
from tests.world import World, bearer

FEED = "/api/mobile/jobs"
GENERATED = re.compile(r"[0-9a-f]{16}")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("app-7f3a.retry_2", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("id with spaces", False),
        ("../../etc", False),
        ("", False),
    ],
)
async def test_a_sane_request_id_is_kept_and_any_other_replaced(
    client: httpx.AsyncClient, ctx: AppContext, world: World, sent: str, kept: bool
) -> None:
    headers = bearer(ctx.signer, world.staff_a) | {"X-Request-ID": sent}
    answer = await client.get(FEED, headers=headers)
    assert answer.status_code == 200
    if kept:
        assert answer.headers["x-request-id"] == sent
    else:
        assert GENERATED.fullmatch(answer.headers["x-request-id"])


async def test_errors_carry_a_request_id_too(client: httpx.AsyncClient) -> None:
    unrouted = await client.get("/api/nowhere")
    unauthenticated = await client.get(FEED, headers={"X-Request-ID": "abc"})
    oversize = await client.post(
        "/api/mobile/auth/login",
        content=b"x" * (1_048_576 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert [a.status_code for a in (unrouted, unauthenticated, oversize)] == [404, 401, 413]
    assert GENERATED.fullmatch(unrouted.headers["x-request-id"])
    assert unauthenticated.headers["x-request-id"] == "abc"
    assert GENERATED.fullmatch(oversize.headers["x-request-id"])
    assert unrouted.headers["x-request-id"] != oversize.headers["x-request-id"]


def test_a_log_line_is_json_with_the_request_id_and_its_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tinedy.test_request_log")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    request = cast(
        Request, SimpleNamespace(headers={"x-request-id": "req-1"}, ctx=SimpleNamespace())
    )

    def in_a_request() -> None:
        give_request_id(request)
        logger.warning("photo %s too big", "p1", extra={"job_id": "j1", "bytes": 5})

    try:
        contextvars.copy_context().run(in_a_request)
        logger.info("outside")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    inside, outside, failed = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert request.ctx.request_id == "req-1"
    assert inside | {"time": "t"} == {
        "time": "t",
        "level": "WARNING",
        "logger": "tinedy.test_request_log",
        "message": "photo p1 too big",
        "request_id": "req-1",
        "job_id": "j1",
        "bytes": 5,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", inside["time"])
    assert "request_id" not in outside
    assert "ValueError: boom" in failed["exception"]


def test_sanic_s_own_loggers_go_through_the_same_handler() -> None:
    root = logging.getLogger()
    saved: dict[str, Any] = {"handlers": root.handlers[:], "level": root.level}
    try:
        configure_logging("INFO", "json")
        sanic_error = logging.getLogger("sanic.error")
        assert sanic_error.handlers == [] and sanic_error.propagate
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonFormatter)
    finally:
        root.handlers[:] = saved["handlers"]
        root.setLevel(saved["level"])
