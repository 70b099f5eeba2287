from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-26T22:54:44:149852"
VERSION = "1.38.0"
DESCRIPTION = "change-log compaction horizon"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="tinedy", description=DESCRIPTION
    )

    manager.add_table(
        class_name="ChangeLogHorizon",
        tablename="change_log_horizon",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="ChangeLogHorizon",
        tablename="change_log_horizon",
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
        table_class_name="ChangeLogHorizon",
        tablename="change_log_horizon",
        column_name="compacted_through",
        db_column_name="compacted_through",
        column_class_name="BigInt",
        column_class=BigInt,
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
