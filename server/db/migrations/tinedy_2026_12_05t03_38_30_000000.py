"""Indexes for the audit trail, privacy acknowledgements and push subscriptions by device.

Plain SQL that PostgreSQL and SQLite both accept, so the same migration runs on either.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-05T03:38:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit, privacy and push-by-device indexes"

STATEMENTS = (
    "CREATE INDEX audit_event_time ON audit_event (occurred_at)",
    "CREATE INDEX audit_event_target ON audit_event (target_kind, target_id, id)",
    "CREATE INDEX audit_event_actor ON audit_event (actor_id, id)",
    "CREATE INDEX privacy_acknowledgement_user ON privacy_acknowledgement"
    " (user_id, notice_version)",
    "CREATE INDEX push_subscription_device ON push_subscription (device_id)",
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
