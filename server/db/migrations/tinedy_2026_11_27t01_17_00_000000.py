"""Indexes for job photos: one stored photo per job and content, a job's photos in order, the
processing queue's next claim, and the evidence purge.

Plain SQL that PostgreSQL and SQLite both accept, so the same migration runs on either.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-27T01:17:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "job photo indexes"

INDEXES = (
    # The same photo uploaded twice to one job is stored once (NULL hashes, rows still
    # awaiting their bytes, do not collide).
    "CREATE UNIQUE INDEX photo_job_content ON photo (job, content_hash)",
    "CREATE INDEX photo_job ON photo (job, created_at)",
    # The processing queue: the next photo due.
    "CREATE INDEX photo_queue ON photo (status, next_attempt_at)",
    # purge-locations: photos past the retention period.
    "CREATE INDEX photo_uploaded ON photo (uploaded_at)",
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
