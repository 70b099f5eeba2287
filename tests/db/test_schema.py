"""Both engines end with the same schema, and the feed's queries use their indexes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from server.cluster.processes import drop_database
from server.db.engine import current_engine, engine_for
from server.db.migrate import apply_migrations
from server.db.tables import Job
from server.jobs.queries import JobFilter, feed_page_query
from tests.conftest import create_postgres_database, make_settings
from tests.world import World

TYPE_FAMILIES = {
    "CHARACTER VARYING": "VARCHAR",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
    "INTEGER": "INT",
    "BIGINT": "INT",
}


def family(declared: str) -> str:
    bare = re.sub(r"\(.*\)", "", declared).strip().upper()
    return TYPE_FAMILIES.get(bare, bare)


async def sqlite_schema() -> dict[str, Any]:
    tables = await Job.raw(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    columns = set()
    for table in tables:
        for col in await Job.raw(f"PRAGMA table_info('{table['name']}')"):
            nullable = not col["notnull"] and not col["pk"]
            columns.add((table["name"], col["name"], family(col["type"]), nullable))
    indexes = set()
    for index in await Job.raw(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ):
        cols = [c["name"] for c in await Job.raw(f"PRAGMA index_info('{index['name']}')")]
        indexes.add((index["tbl_name"], index["name"], tuple(cols)))
    return {"columns": columns, "indexes": indexes}


async def postgres_schema() -> dict[str, Any]:
    columns = {
        (c["table_name"], c["column_name"], family(c["data_type"]), c["is_nullable"] == "YES")
        for c in await Job.raw(
            "SELECT table_name, column_name, data_type, is_nullable "
            "FROM information_schema.columns WHERE table_schema = 'public'"
        )
    }
    indexes = set()
    for index in await Job.raw(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'"
    ):
        cols = re.search(r"\((.*?)\)", index["indexdef"])
        assert cols is not None
        names = tuple(c.strip().strip('"') for c in cols.group(1).split(","))
        indexes.add((index["tablename"], index["indexname"], names))
    return {"columns": columns, "indexes": indexes}


async def migrated_schema(url: str, data_dir: Path) -> dict[str, Any]:
    settings = make_settings(url, data_dir)
    async with engine_for(settings):
        await apply_migrations()
        await apply_migrations()  # a second run is a no-op
        return await (postgres_schema() if settings.is_postgres else sqlite_schema())


async def test_sqlite_and_postgres_end_with_the_same_schema(tmp_path: Path) -> None:
    pg_url = await create_postgres_database("tinedy_schema")
    try:
        lite = await migrated_schema(f"sqlite:///{tmp_path / 'schema.sqlite3'}", tmp_path)
        pg = await migrated_schema(pg_url, tmp_path)
    finally:
        await drop_database(pg_url)
    assert lite["columns"] == pg["columns"]
    assert lite["indexes"] == pg["indexes"]
    assert ("job_crew", "job_crew_feed", ("member", "scheduled_at", "job")) in pg["indexes"]


FEEDS = {
    "job_crew_feed": lambda w: JobFilter(assignee_id=w.staff_a["id"]),
    # The smaller branch: in the busy one (most of the tests' jobs) walking every job in
    # time order costs about the same, and the planner may fairly pick either.
    "job_branch_feed": lambda w: JobFilter(branch_id=w.north, statuses=("assigned", "pending")),
    "job_feed": lambda w: JobFilter(),
}


@pytest.mark.parametrize("index", sorted(FEEDS))
async def test_feed_queries_walk_their_index(
    world: World, engine_kind: str, app: Any, index: str
) -> None:
    after = (datetime(2026, 11, 24, 3, 0, tzinfo=UTC), "00000000-0000-4000-8000-000000000000")
    sql = str(feed_page_query(FEEDS[index](world), after, 51))
    engine = current_engine()
    if engine_kind == "sqlite":
        plan = " ".join(row["detail"] for row in await Job.raw(f"EXPLAIN QUERY PLAN {sql}"))
    else:
        await Job.raw("ANALYZE job")  # statistics as the rows are now, not as autovacuum saw them
        async with engine.transaction():
            # The test data is tiny (and its statistics drift as other tests add rows): forbid
            # the scans that ignore index order, to see which index it would walk.
            await Job.raw("SET LOCAL enable_seqscan = off")
            await Job.raw("SET LOCAL enable_bitmapscan = off")
            await Job.raw("SET LOCAL enable_sort = off")  # a plan that sorts is the failure
            plan = " ".join(row["QUERY PLAN"] for row in await Job.raw(f"EXPLAIN {sql}"))
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort " not in plan, f"the page is sorted: {plan}"
