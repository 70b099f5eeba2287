"""Answers put the same bytes on the wire as Sanic would, however often a header repeats."""

from __future__ import annotations

from typing import Any

from sanic import HTTPResponse

from server.core.answers import Answer

HEADERS: dict[str, Any] = {
    "Cache-Control": "private, no-cache",
    "ETag": '"abc-br"',
    "X-Request-ID": "f00d0001",
    "Server-Timing": "app;dur=0.12",
    "Location": "/next\r\nSet-Cookie: stolen=1",
    "X-Odd": "tab\there, nul\x00 gone",
    "Content-Length": 4008,
}


def test_every_header_is_encoded_as_sanic_encodes_it_the_first_time_and_after() -> None:
    expected = list(
        HTTPResponse(b"{}", headers=HEADERS, content_type="application/json").processed_headers
    )
    for _ in range(3):
        sent = list(
            Answer(b"{}", headers=HEADERS, content_type="application/json").processed_headers
        )
        assert sent == expected


def test_no_value_can_split_the_head_into_another_header() -> None:
    sent = dict(Answer(status=302, headers={"Location": "/a\r\nX-Evil: 1"}).processed_headers)
    assert sent[b"Location"] == b"/aX-Evil: 1"
    assert b"X-Evil" not in sent


def test_a_304_carries_no_content_type() -> None:
    sent = dict(Answer(status=304, headers={"ETag": '"v1"'}).processed_headers)
    assert b"content-type" not in sent
