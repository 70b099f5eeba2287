"""The audit trail becomes append-only in the database itself, not by convention alone.

Triggers refuse any UPDATE of ``audit_event``, and any DELETE of an event that is not older
than the one row of ``audit_purge_horizon``. The retention purge moves that horizon forward
first, in a transaction of its own, then deletes what lies before it. The horizon only moves
forward, and never later than 29 days ago: the shortest retention ``AUDIT_RETENTION_DAYS``
allows (30 days, the setting's floor in server/config.py) less a day, so that a server whose
clock runs ahead of the database's still purges at 30 days, and a statement that moves it
cannot clear a recent trail either. SQLite's REPLACE deletes the row it replaces without
firing delete triggers, so an insert of an id already there is refused as a change.
TRUNCATE, which skips row triggers on PostgreSQL, is refused there too.

The two engines speak different trigger languages, so this migration branches on the
engine: plpgsql functions raising an exception on PostgreSQL, ``RAISE(ABORT, ...)`` on
SQLite. SQLite keeps a time as text (Piccolo writes UTC as ``YYYY-MM-DD HH:MM:SS[.f]+00:00``)
and compares it as text, as the purge's own DELETE does: its horizon must have that shape,
or a string that sorts late (``'23:59'``) could open the whole trail.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-06T01:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit trail append-only: triggers, and the purge horizon's row"

CHANGED = "audit_event is append-only: an event is never changed"
DELETED = "audit_event is append-only: only the retention purge deletes, before its horizon"
ONE_ROW = "audit_purge_horizon holds one row, moved only by the retention purge"
BACKWARDS = "audit_purge_horizon only moves forward"
TOO_LATE = "audit_purge_horizon may not pass the shortest retention (29 days ago)"

POSTGRES = (
    "INSERT INTO audit_purge_horizon (id, purged_before) VALUES (1, '1970-01-01 00:00:00+00')",
    """CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0];
    END $$""",
    """CREATE FUNCTION audit_event_before_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM audit_purge_horizon WHERE OLD.occurred_at < purged_before
        ) THEN
            RAISE EXCEPTION '%', TG_ARGV[0];
        END IF;
        RETURN OLD;
    END $$""",
    f"""CREATE FUNCTION audit_purge_horizon_before_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.id <> OLD.id THEN
            RAISE EXCEPTION '{ONE_ROW}';
        END IF;
        IF NEW.purged_before < OLD.purged_before THEN
            RAISE EXCEPTION '{BACKWARDS}';
        END IF;
        IF NEW.purged_before > clock_timestamp() - interval '29 days' THEN
            RAISE EXCEPTION '{TOO_LATE}';
        END IF;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event"
    f" FOR EACH ROW EXECUTE FUNCTION audit_refuse('{CHANGED}')",
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event"
    f" FOR EACH ROW EXECUTE FUNCTION audit_event_before_delete('{DELETED}')",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event"
    f" FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse('{DELETED}')",
    "CREATE TRIGGER audit_purge_horizon_forward BEFORE UPDATE ON audit_purge_horizon"
    " FOR EACH ROW EXECUTE FUNCTION audit_purge_horizon_before_update()",
    "CREATE TRIGGER audit_purge_horizon_one_row BEFORE INSERT OR DELETE ON audit_purge_horizon"
    f" FOR EACH ROW EXECUTE FUNCTION audit_refuse('{ONE_ROW}')",
    "CREATE TRIGGER audit_purge_horizon_no_truncate BEFORE TRUNCATE ON audit_purge_horizon"
    f" FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse('{ONE_ROW}')",
)

UTC_TEXT = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]*+00:00"

SQLITE = (
    "INSERT INTO audit_purge_horizon (id, purged_before) VALUES (1, '1970-01-01 00:00:00+00:00')",
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event"
    f" BEGIN SELECT RAISE(ABORT, '{CHANGED}'); END",
    "CREATE TRIGGER audit_event_no_replace BEFORE INSERT ON audit_event"
    " WHEN EXISTS (SELECT 1 FROM audit_event WHERE id = NEW.id)"
    f" BEGIN SELECT RAISE(ABORT, '{CHANGED}'); END",
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event"
    " WHEN NOT EXISTS ("
    "SELECT 1 FROM audit_purge_horizon WHERE OLD.occurred_at < purged_before)"
    f" BEGIN SELECT RAISE(ABORT, '{DELETED}'); END",
    "CREATE TRIGGER audit_purge_horizon_one_row BEFORE UPDATE OF id ON audit_purge_horizon"
    f" WHEN NEW.id IS NOT OLD.id BEGIN SELECT RAISE(ABORT, '{ONE_ROW}'); END",
    "CREATE TRIGGER audit_purge_horizon_forward BEFORE UPDATE ON audit_purge_horizon"
    " WHEN NEW.purged_before < OLD.purged_before"
    f" BEGIN SELECT RAISE(ABORT, '{BACKWARDS}'); END",
    "CREATE TRIGGER audit_purge_horizon_not_late BEFORE UPDATE ON audit_purge_horizon"
    f" WHEN typeof(NEW.purged_before) <> 'text' OR NEW.purged_before NOT GLOB '{UTC_TEXT}'"
    " OR julianday(NEW.purged_before) IS NULL"
    " OR julianday(NEW.purged_before) > julianday('now', '-29 days')"
    f" BEGIN SELECT RAISE(ABORT, '{TOO_LATE}'); END",
    "CREATE TRIGGER audit_purge_horizon_no_insert BEFORE INSERT ON audit_purge_horizon"
    f" BEGIN SELECT RAISE(ABORT, '{ONE_ROW}'); END",
    "CREATE TRIGGER audit_purge_horizon_no_delete BEFORE DELETE ON audit_purge_horizon"
    f" BEGIN SELECT RAISE(ABORT, '{ONE_ROW}'); END",
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="tinedy", description=DESCRIPTION)

    async def install_triggers() -> None:
        from piccolo.engine import engine_finder

        engine = engine_finder()
        assert engine is not None
        statements = SQLITE if engine.engine_type == "sqlite" else POSTGRES
        for statement in statements:
            await engine.run_ddl(statement)

    manager.add_raw(install_triggers)
    return manager
