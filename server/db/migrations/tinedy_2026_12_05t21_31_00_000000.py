"""The change log's head starts at its newest id: every row written so far was committed
under the old one-writer-at-a-time lock, so all of it is visible.

Plain SQL that PostgreSQL and SQLite both accept, so the same migration runs on either.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-05T21:31:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "change_log_head starts at the newest change"

STATEMENTS = (
    "INSERT INTO change_log_head (id, visible_through)"
    " SELECT 1, COALESCE(MAX(id), 0) FROM change_log",
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tinedy", description=DESCRIPTION)

    async def run_statements() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run_statements)
    return manager
