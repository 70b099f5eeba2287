"""The database engine, chosen by configuration and bound to every table at start-up.

Handlers never see an engine: services open transactions with :func:`write_transaction` (or
:func:`read_transaction`, for long reads that must not hold writers back), and
queries run through the tables, which :func:`bind_engine` points at SQLite or PostgreSQL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from piccolo.apps.migrations.tables import Migration
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.table import Table

from server.config import Settings
from server.db.tables import ALL_TABLES
from server.db.timing import TimedPostgresEngine, TimedSQLiteEngine

# Held shared by every transaction appending to the change log (see enter_change_log).
CHANGE_LOG_LOCK_KEY = 0x7A1E_D1
# Plus this: held shared with the next id a writer may take (see enter_change_log).
CHANGE_ID_LOCK_BASE = 1 << 62
# Taken by whoever moves the change log's head, so one publisher writes it at a time.
CHANGE_HEAD_LOCK_KEY = 0x7A1E_D2

log = logging.getLogger("tinedy.db")

_bound: Engine[Any] | None = None


class _ReleasingTransaction(PostgresTransaction):
    """Piccolo's transaction, except that it waits for a pooled connection no longer than
    a statement may run, and that a lost connection cannot leak it.

    Piccolo's releases the connection and leaves the context only when BEGIN, COMMIT and
    ROLLBACK all succeed. When the database goes away mid-transaction they fail, the pool
    slot is never returned, and the dead transaction stays current for the next request
    served on the same keep-alive connection (Sanic runs them in one task): every later
    query there fails until the client reconnects.
    """

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()
        try:
            self.transaction = self.connection.transaction()
            await self.begin()  # type: ignore[no-untyped-call]
        except BaseException:
            await self._give_back()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception is None:
                if not self._committed and not self._rolled_back:
                    await self.commit()  # type: ignore[no-untyped-call]
            elif not self._rolled_back and not self.connection.is_closed():
                await self.rollback()  # type: ignore[no-untyped-call]
        finally:
            try:
                await self._give_back()
            finally:
                self.engine.current_transaction.reset(self.context)
        return exception is None

    async def get_connection(self) -> Any:
        if self.engine.pool:
            return await self.engine.pool.acquire(timeout=self.engine.config["command_timeout"])
        return await self.engine.get_new_connection()

    async def _give_back(self) -> None:
        if self.engine.pool:
            await self.engine.pool.release(self.connection)
        else:
            await self.connection.close()


class _PostgresEngine(TimedPostgresEngine):
    """Piccolo's engine with :class:`_ReleasingTransaction`, and the same bounded wait for a
    pooled connection outside transactions."""

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return _ReleasingTransaction(engine=self, allow_nested=allow_nested)

    async def _run_in_pool(self, query: str, args: Sequence[Any] | None = None) -> Any:
        if self.pool is None:
            raise ValueError("A pool isn't currently running.")
        async with self.pool.acquire(timeout=self.config["command_timeout"]) as connection:
            return await connection.fetch(query, *(args or ()))


def create_engine(settings: Settings) -> Engine[Any]:
    if settings.is_postgres:
        # Bounded waits (a new connection; a statement, or a turn at the pool): with the
        # database gone, a request fails in seconds instead of hanging.
        config = {
            "dsn": settings.database_url,
            "timeout": settings.db_connect_timeout_seconds,
            "command_timeout": settings.db_command_timeout_seconds,
        }
        return _PostgresEngine(config=config)
    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return TimedSQLiteEngine(path=str(settings.sqlite_path), timeout=settings.sqlite_busy_timeout)


def bind_engine(engine: Engine[Any]) -> None:
    """Point our tables and Piccolo's migration table at ``engine``."""
    global _bound
    _bound = engine
    tables: tuple[type[Table], ...] = (*ALL_TABLES, Migration)
    for table in tables:
        table._meta.db = engine


def current_engine() -> Engine[Any]:
    if _bound is None:
        raise RuntimeError("no database engine bound: call bind_engine() first")
    return _bound


async def open_engine(engine: Engine[Any], settings: Settings) -> None:
    """Fail loudly when the database is unreachable; start the pool on PostgreSQL."""
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(
            min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
    else:
        await engine.run_ddl("PRAGMA journal_mode=WAL")
    await engine.run_ddl("SELECT 1")


async def close_engine(engine: Engine[Any]) -> None:
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()


@asynccontextmanager
async def engine_for(settings: Settings) -> AsyncIterator[Engine[Any]]:
    """Open, bind and, on leaving, close the engine for ``settings`` (a command, a test),
    then bind again whatever engine was bound before."""
    previous = _bound
    engine = create_engine(settings)
    bind_engine(engine)
    try:
        await open_engine(engine, settings)
        yield engine
    finally:
        await close_engine(engine)
        if previous is not None:
            bind_engine(previous)


_after_commit: ContextVar[list[Callable[[], Awaitable[None]]] | None] = ContextVar(
    "tinedy_after_commit", default=None
)


@asynccontextmanager
async def write_transaction() -> AsyncIterator[Any]:
    """A transaction that may read, then write; once the outermost one commits, whatever
    :func:`after_commit` asked for runs (a failure there is logged: the commit stands).

    SQLite allows one writer: its transaction takes the write lock up front (IMMEDIATE), or a
    read-then-write transaction fails with "database is locked" when another writer races it.
    """
    engine = current_engine()
    if engine.current_transaction.get() is not None:
        async with engine.transaction() as txn:  # nested: the outer one commits
            yield txn
        return
    pending: list[Callable[[], Awaitable[None]]] = []
    token = _after_commit.set(pending)
    try:
        if isinstance(engine, SQLiteEngine):
            async with engine.transaction(transaction_type=TransactionType.immediate) as txn:
                yield txn
        else:
            async with engine.transaction() as txn:
                yield txn
    finally:
        _after_commit.reset(token)
    for action in pending:
        try:
            await action()
        except Exception:
            log.exception("an action after a commit failed")


SNAPSHOT_READS = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


@asynccontextmanager
async def read_transaction() -> AsyncIterator[Any]:
    """A transaction that only reads, all from one snapshot, holding no lock a writer waits
    for: a deferred one on SQLite (WAL: writers go on committing, its reads still see the
    moment its first read began), ``REPEATABLE READ`` and ``READ ONLY`` on PostgreSQL.
    Within another transaction it is part of that one."""
    engine = current_engine()
    if engine.current_transaction.get() is not None:
        async with engine.transaction() as txn:
            yield txn
    elif isinstance(engine, SQLiteEngine):
        async with engine.transaction(transaction_type=TransactionType.deferred) as txn:
            yield txn
    else:
        async with engine.transaction() as txn:
            await txn.connection.execute(SNAPSHOT_READS)
            yield txn


def after_commit(action: Callable[[], Awaitable[None]]) -> None:
    """Within a write transaction: run ``action`` once the outermost transaction commits
    (never if it rolls back). Outside :func:`write_transaction` it never runs."""
    pending = _after_commit.get()
    if pending is not None:
        pending.append(action)


def single_writer() -> bool:
    """Whether the bound engine lets one transaction write at a time (SQLite)."""
    return current_engine().engine_type != "postgres"


async def enter_change_log() -> None:
    """Within a write transaction, before appending to the change log (PostgreSQL): hold,
    until commit, the change-log key shared and the next id the sequence will give out
    (``CHANGE_ID_LOCK_BASE`` plus it) shared, so the publisher knows no id this transaction
    takes is smaller (server/changes/publish.py); and wake every worker's mirror at commit
    (one NOTIFY per transaction, however many rows it appends). Writers never wait for each
    other here: shared holders do not conflict, and only a drill or maintenance takes the
    key exclusively, to hold every writer back.
    """
    if not single_writer():
        await current_engine().run_ddl(
            f"SELECT pg_advisory_xact_lock_shared({CHANGE_LOG_LOCK_KEY}),"
            f" pg_advisory_xact_lock_shared({CHANGE_ID_LOCK_BASE} +"
            " (SELECT last_value + is_called::int FROM change_log_id_seq)),"
            f" pg_notify('{CHANGES_CHANNEL}', '')"
        )


CHANGES_CHANNEL = "tinedy_changes"
"""The PostgreSQL NOTIFY channel on which a write wakes every worker's change-log mirror
(server/changes/listen.py listens on it)."""


def _current_transaction() -> Any:
    transaction = current_engine().current_transaction.get()
    if transaction is None:
        raise RuntimeError("bulk statements run inside a transaction")
    return transaction


def _for_engine(statement: str) -> str:
    """``$1`` placeholders as the bound engine reads them (SQLite: ``?1``)."""
    if current_engine().engine_type == "postgres":
        return statement
    return re.sub(r"\$(\d+)", r"?\1", statement)


async def insert_returning_ids(statement: str, args: list[Any]) -> list[int]:
    """Within a transaction: run an ``INSERT ... RETURNING id`` built by hand (see
    :func:`execute_many` for why); the ids, in the order the rows were given."""
    connection = _current_transaction().connection
    if current_engine().engine_type == "postgres":
        return sorted(int(record[0]) for record in await connection.fetch(statement, *args))
    async with connection.execute(_for_engine(statement), args) as cursor:
        rows = await cursor.fetchall()
    return sorted(int(row["id"] if isinstance(row, dict) else row[0]) for row in rows)


async def execute_many(statement: str, rows: list[tuple[Any, ...]]) -> None:
    """Within a transaction: run one statement for each of ``rows`` in a single round of the
    driver (asyncpg's or sqlite3's ``executemany``). Piccolo builds a query per row, which
    costs more than the database's work for the bulk writes of a sync batch.

    ``statement`` uses PostgreSQL's ``$1`` placeholders; SQLite reads them as ``?1``.
    """
    await _current_transaction().connection.executemany(_for_engine(statement), rows)
