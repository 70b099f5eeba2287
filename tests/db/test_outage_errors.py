"""What a lost database becomes: 503 database_unavailable with Retry-After, whichever way the
driver says it; an OSError from anything else stays a 500."""

from __future__ import annotations

import asyncpg
import pytest

from server.errors import DatabaseUnavailable, as_api_error
from tests.servers import free_port


async def test_a_refused_connection_is_a_503_with_retry_after() -> None:
    with pytest.raises(OSError) as refused:
        await asyncpg.connect(f"postgres://postgres@127.0.0.1:{free_port()}/postgres", timeout=5)
    error = as_api_error(refused.value)
    assert isinstance(error, DatabaseUnavailable)
    assert (error.status, error.code) == (503, "database_unavailable")
    assert int(error.headers["Retry-After"]) > 0


def test_an_os_error_outside_the_driver_is_not_blamed_on_the_database() -> None:
    with pytest.raises(OSError) as missing:
        open("/nonexistent/tinedy/file")  # noqa: SIM115
    assert as_api_error(missing.value).status == 500
