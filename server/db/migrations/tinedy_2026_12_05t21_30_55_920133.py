from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt, Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-05T21:30:55:920133"
VERSION = "1.38.0"
DESCRIPTION = "change_log_head: how far readers may read the change log"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tinedy", description=DESCRIPTION)

    manager.add_table(
        class_name="ChangeLogHead",
        tablename="change_log_head",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="ChangeLogHead",
        tablename="change_log_head",
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
        table_class_name="ChangeLogHead",
        tablename="change_log_head",
        column_name="visible_through",
        db_column_name="visible_through",
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
