"""Making change-log ids visible to readers in order, while writers commit side by side.

A reader resumes "after N" (the mirror, the sync feed, the CRM's events, a live stream's
last event id), so no id may become visible after a larger one was read. Ids come from a
sequence before commit, so two writers that commit in the other order would break that.
Writers no longer take turns for it; readers are bounded instead, the way logical
replication and outbox relays bound theirs by the oldest transaction still running:
``change_log_head.visible_through`` (the head) is the newest id every reader may read up to,
and every id up to it is committed or never will be.

Moving the head (PostgreSQL). Before its first id, a writer takes, shared until commit, an
advisory key made of the next id the sequence will give out (``enter_change_log``): a
lower bound of every id it will take. Shared keys never make writers wait for each other.
The publisher reads, in one statement, the sequence's newest id and then ``pg_locks``. A
writer given an id up to that newest one had taken its key before, so it has finished
(committed or rolled back) or is listed with a bound no larger than its ids; a writer not
listed yet takes only larger ids. So every id below the smallest listed bound, and up to
the newest one, is settled: the head moves to the newest row there. Moving it is one
statement under the publisher's own advisory lock (never held by a writer), which also
raises the feed versions of the rows it passes: no writer touches a row every writer
touches.

Who moves it: every writer right after its own commit, until the head passes its own ids
(so the ids in its answer are readable at once, and a slow writer only delays those that
took ids after it); and every worker's mirror whenever it reads the log (woken by the
NOTIFY each writer sends at commit, or its poll), so rows of a writer that died between
commit and publishing are published by the others.

On SQLite one transaction writes at a time, so ids are committed in order; the writer moves
the head in its own transaction, through the same :func:`publish_through`.

Why bound readers rather than number rows at publication (an outbox's second table): ids
stay known inside the writer's transaction, so what it stores beside the change (a sync
receipt's ``change_id``, an audit entry's event id) is the public id, and no row is written
twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from weakref import WeakKeyDictionary

from server.changes import queries as change_queries
from server.changes.audience import scopes_of
from server.db.engine import after_commit, current_engine, single_writer, write_transaction

log = logging.getLogger("tinedy.changes")

OWN_WAIT_SECONDS = 30.0
"""How long a writer waits after its commit for the head to pass its ids; past that it
answers anyway and the mirrors publish them when the writers before them finish."""
FIRST_RETRY_SECONDS = 0.001
LONGEST_RETRY_SECONDS = 0.02

_settled: WeakKeyDictionary[Any, int] = WeakKeyDictionary()
"""Per engine, ids up to here are settled (the newest may have been rolled back, so the head
stays below): spares a look at ``pg_locks`` while no new id was given out."""


async def publish_own(newest: int) -> None:
    """Within the writer's transaction that appended up to id ``newest``: make them visible
    (SQLite: now, in this transaction; PostgreSQL: right after commit)."""
    if single_writer():
        await publish_through(newest)
    else:
        after_commit(lambda: _publish_after_commit(newest))


async def _publish_after_commit(newest: int) -> None:
    await publish_until(newest)


async def publish_until(target: int) -> int:
    """Move the head until it passes ``target`` (an id this worker committed); returns it."""
    deadline = time.monotonic() + OWN_WAIT_SECONDS
    delay = FIRST_RETRY_SECONDS
    while True:
        head = await publish_visible(target)
        if head >= target:
            return head
        if time.monotonic() > deadline:
            log.warning("change %d is not visible yet: a writer before it is still running", target)
            return head
        await asyncio.sleep(delay)
        delay = min(delay * 2, LONGEST_RETRY_SECONDS)


async def publish_visible(target: int | None = None) -> int:
    """Move the head as far as it may go now; returns it. Stops early once it passes
    ``target``."""
    if single_writer():
        return await change_queries.visible_through()
    engine = current_engine()
    settled = _settled.get(engine, 0)
    head, allocated, lowest = await change_queries.publish_state(settled, target)
    if allocated <= max(head, settled) or (target is not None and head >= target):
        return head
    through = allocated if lowest is None else min(allocated, lowest - 1)
    if through <= head:
        return head
    head = await publish_through(through)
    _settled[engine] = max(settled, through)
    return head


async def publish_through(through: int) -> int:
    """Move the head to the newest row up to ``through`` (every id up to it is settled),
    raising the feed versions of the rows it passes; returns the head."""
    if not single_writer():  # the same as below, in one statement
        return await change_queries.publish_up_to(through)
    async with write_transaction():
        head = await change_queries.visible_through()
        if through <= head:
            return head
        # The newest row, not the newest id: ids rolled back past it stay out of answers.
        through = await change_queries.newest_id_through(through)
        if through <= head:
            return head
        rows = await change_queries.version_rows(head, through)
        await change_queries.raise_feed_versions(versions_of(rows))
        await change_queries.move_head(through)
    return through


def versions_of(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The newest id among ``rows`` (job changes, oldest first) of each scope they concern."""
    versions: dict[str, int] = {}
    for row in rows:
        for scope in scopes_of([row]):
            versions[scope] = int(row["id"])
    return versions
