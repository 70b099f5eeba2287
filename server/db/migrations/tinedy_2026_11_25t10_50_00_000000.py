"""Composite indexes for the jobs feed, the change log and checklists.

Plain SQL that PostgreSQL and SQLite both accept, so the same migration runs on either.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-25T10:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "feed and change-log indexes"

INDEXES = (
    # Staff feed: one assignee's live jobs in schedule order (the keyset).
    "CREATE INDEX job_assignee_feed ON job (assignee, scheduled_at, id) "
    "WHERE deleted_at IS NULL",
    # Dispatcher feed: one branch's live jobs in schedule order.
    "CREATE INDEX job_branch_feed ON job (branch, scheduled_at, id) WHERE deleted_at IS NULL",
    # Admin feed: every live job in schedule order.
    "CREATE INDEX job_feed ON job (scheduled_at, id) WHERE deleted_at IS NULL",
    "CREATE INDEX checklist_item_job ON checklist_item (job, position)",
    # Sync and live updates: "what changed for this person / branch after N".
    "CREATE INDEX change_log_assignee ON change_log (assignee_id, id)",
    "CREATE INDEX change_log_previous_assignee ON change_log (previous_assignee_id, id)",
    "CREATE INDEX change_log_branch ON change_log (branch_id, id)",
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tinedy", description=DESCRIPTION)

    async def create_indexes() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        for statement in INDEXES:
            await engine.run_ddl(statement)

    manager.add_raw(create_indexes)
    return manager
