"""Piccolo's entry point for its own commands (``piccolo migrations new --auto``).

The server never relies on this module for its engine: it binds one at start-up. For the
Piccolo CLI, the engine comes from the same settings the server reads.
"""

from typing import Any

from piccolo.conf.apps import AppRegistry

APP_REGISTRY = AppRegistry(apps=["server.db.piccolo_app"])


def __getattr__(name: str) -> Any:
    if name != "DB":
        raise AttributeError(name)
    from server.config import Settings
    from server.db.engine import _bound, create_engine

    return _bound if _bound is not None else create_engine(Settings())
