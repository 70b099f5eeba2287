from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzCustom
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T01:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit_purge_horizon: how far the retention purge may delete audit events"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tinedy", description=DESCRIPTION)

    manager.add_table(
        class_name="AuditPurgeHorizon",
        tablename="audit_purge_horizon",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="AuditPurgeHorizon",
        tablename="audit_purge_horizon",
        column_name="id",
        db_column_name="id",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
            "null": False,
            "primary_key": True,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="AuditPurgeHorizon",
        tablename="audit_purge_horizon",
        column_name="purged_before",
        db_column_name="purged_before",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": TimestamptzCustom(
                year=1970, month=1, day=1, hour=0, minute=0, second=0, microsecond=0
            ),
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
