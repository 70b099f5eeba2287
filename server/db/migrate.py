"""Apply Piccolo migrations to the bound engine.

Migrations are additive (new tables, columns, indexes) because SQLite cannot alter columns:
new ones are generated on PostgreSQL with ``piccolo migrations new tinedy --auto`` and must
only add. ``tests/db/test_schema.py`` proves both engines end with the same schema.
"""

from __future__ import annotations

from piccolo.apps.migrations.commands.forwards import ForwardsMigrationManager

from server.db.piccolo_app import APP_CONFIG


class MigrationFailed(RuntimeError):
    pass


async def apply_migrations() -> None:
    manager = ForwardsMigrationManager(app_name=APP_CONFIG.app_name)
    await manager.create_migration_table()
    result = await manager.run_migrations(APP_CONFIG)
    if not result.success:
        raise MigrationFailed(result.message)
