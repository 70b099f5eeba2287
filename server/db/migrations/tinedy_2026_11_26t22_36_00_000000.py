"""Indexes for offline sync: one receipt per (user, mutation), receipts and check-ins in
order, and a job's change history (for conflict detection).

Plain SQL that PostgreSQL and SQLite both accept, so the same migration runs on either.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-26T22:36:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "offline sync indexes"

INDEXES = (
    # At most once: a replayed mutation finds its stored outcome, a racing copy fails to insert.
    "CREATE UNIQUE INDEX mutation_receipt_user_mutation "
    "ON mutation_receipt (user_id, mutation_id)",
    # GET /api/mobile/sync/receipts?since=: one user's receipts in order.
    "CREATE INDEX mutation_receipt_user ON mutation_receipt (user_id, id)",
    # GET /api/dispatch/devices: one device's latest and rejected mutations.
    "CREATE INDEX mutation_receipt_device ON mutation_receipt (device_id, id)",
    "CREATE INDEX check_in_job ON check_in (job, received_at)",
    # purge-locations: check-ins past the retention period.
    "CREATE INDEX check_in_received ON check_in (received_at)",
    # Conflict detection: what changed on one job after the version a phone saw.
    "CREATE INDEX change_log_job ON change_log (job_id, id)",
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
