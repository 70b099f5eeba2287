"""Indexes for the CRM integration: each kind's external id is unique (many rows may have
none), a customer's jobs (a customer's change reaches them), one webhook delivery per endpoint
and event, and the delivery queue's next claim.

Plain SQL that PostgreSQL and SQLite both accept, so the same migration runs on either.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T20:56:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "crm integration indexes"

INDEXES = (
    "CREATE UNIQUE INDEX branch_external_id ON branch (external_id)",
    "CREATE UNIQUE INDEX team_external_id ON team (external_id)",
    "CREATE UNIQUE INDEX app_user_external_id ON app_user (external_id)",
    "CREATE UNIQUE INDEX customer_external_id ON customer (external_id)",
    "CREATE UNIQUE INDEX job_external_id ON job (external_id)",
    "CREATE INDEX job_customer ON job (customer)",
    "CREATE UNIQUE INDEX webhook_delivery_once ON webhook_delivery (endpoint_id, event_id)",
    "CREATE INDEX webhook_delivery_queue ON webhook_delivery (state, next_attempt_at)",
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
