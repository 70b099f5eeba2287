from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T01:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "scheduled_run: when each job last succeeded, and its failures since"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tinedy", description=DESCRIPTION)

    manager.add_column(
        table_class_name="ScheduledRun",
        tablename="scheduled_run",
        column_name="last_success_at",
        db_column_name="last_success_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": None,
            "null": True,
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

    manager.add_column(
        table_class_name="ScheduledRun",
        tablename="scheduled_run",
        column_name="failures",
        db_column_name="failures",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
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
