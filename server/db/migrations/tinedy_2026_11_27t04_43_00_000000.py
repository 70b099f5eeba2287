"""Indexes for Web Push: one delivery per notification and subscription, the delivery queue's
next claim, a notification's deliveries, and scheduled notifications coming due.

Plain SQL that PostgreSQL and SQLite both accept, so the same migration runs on either.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-27T04:43:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "push delivery indexes"

INDEXES = (
    "CREATE UNIQUE INDEX push_delivery_once ON push_delivery (notification_id, subscription_id)",
    "CREATE INDEX push_delivery_queue ON push_delivery (state, next_attempt_at)",
    "CREATE INDEX push_delivery_subscription ON push_delivery (subscription_id)",
    "CREATE INDEX notification_due ON notification (status, send_at)",
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
