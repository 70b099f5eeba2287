"""Engines that add each query's duration to the current request's ``db`` time (see
``server/core/timing.py``): two clock reads per query, nothing recorded outside a request.

Statements run on a transaction's raw connection (``engine.execute_many``) are not counted.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from server.core.timing import add_db_time

T = TypeVar("T")


async def timed(query: Awaitable[T]) -> T:
    started = time.perf_counter()
    try:
        return await query
    finally:
        add_db_time(time.perf_counter() - started)


class TimedPostgresEngine(PostgresEngine):
    async def run_querystring(self, *args: Any, **kwargs: Any) -> Any:
        return await timed(super().run_querystring(*args, **kwargs))

    async def run_ddl(self, *args: Any, **kwargs: Any) -> Any:
        return await timed(super().run_ddl(*args, **kwargs))


class TimedSQLiteEngine(SQLiteEngine):
    async def run_querystring(self, *args: Any, **kwargs: Any) -> Any:
        return await timed(super().run_querystring(*args, **kwargs))

    async def run_ddl(self, *args: Any, **kwargs: Any) -> Any:
        return await timed(super().run_ddl(*args, **kwargs))
