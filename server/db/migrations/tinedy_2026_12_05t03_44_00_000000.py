"""A person acknowledges each version of the privacy notice once: a unique index, so two
devices acknowledging at the same moment write one row.

Plain SQL that PostgreSQL and SQLite both accept, so the same migration runs on either.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-05T03:44:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one privacy acknowledgement per person and notice version"

STATEMENTS = (
    "CREATE UNIQUE INDEX privacy_acknowledgement_once ON privacy_acknowledgement"
    " (user_id, notice_version)",
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
