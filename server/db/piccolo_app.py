"""The Piccolo app that owns our tables and their migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from server.db.tables import ALL_TABLES

APP_CONFIG = AppConfig(
    app_name="tinedy",
    migrations_folder_path=Path(__file__).parent / "migrations",
    table_classes=list(ALL_TABLES),
)
