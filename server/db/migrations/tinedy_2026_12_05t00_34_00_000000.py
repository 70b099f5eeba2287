"""Indexes for crews, problems, remarks and alerts; today's single assignees made crews of
one, and the log's rows written to change_member for the people they concern. A staff member's feed walks ``job_crew_feed`` now, not the job's assignee.

Plain SQL that PostgreSQL and SQLite both accept, so the same migration runs on either.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-05T00:34:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "crew, problem, remark and alert indexes"

STATEMENTS = (
    "CREATE UNIQUE INDEX job_crew_once ON job_crew (job, member)",
    "CREATE INDEX job_crew_feed ON job_crew (member, scheduled_at, job)",
    "DROP INDEX job_assignee_feed",
    "CREATE INDEX change_member_user ON change_member (user_id, change_id)",
    # Everyone a job's change concerns is in change_member, found through the index above;
    # the log's own assignee columns are no longer looked up.
    "DROP INDEX change_log_assignee",
    "DROP INDEX change_log_previous_assignee",
    "CREATE INDEX change_member_change ON change_member (change_id)",
    "CREATE INDEX job_problem_job ON job_problem (job, reported_at)",
    "CREATE INDEX job_remark_job ON job_remark (job, created_at)",
    "CREATE UNIQUE INDEX alert_once ON alert (dedup_key)",
    "CREATE INDEX alert_branch ON alert (branch_id, raised_at)",
    "INSERT INTO job_crew (job, member, position, scheduled_at)"
    " SELECT id, assignee, 0, scheduled_at FROM job WHERE assignee IS NOT NULL",
    "UPDATE job SET crew = CAST(assignee AS TEXT) WHERE assignee IS NOT NULL",
    "INSERT INTO change_member (change_id, user_id, \"left\")"
    " SELECT id, assignee_id, FALSE FROM change_log"
    " WHERE job_id IS NOT NULL AND assignee_id IS NOT NULL",
    "INSERT INTO change_member (change_id, user_id, \"left\")"
    " SELECT id, previous_assignee_id, TRUE FROM change_log WHERE job_id IS NOT NULL"
    " AND previous_assignee_id IS NOT NULL"
    " AND (assignee_id IS NULL OR assignee_id <> previous_assignee_id)",
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
