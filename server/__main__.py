"""Command line: ``python -m server run|migrate|seed-demo|process-photos|send-pushes|
send-webhooks|purge-locations|compact-changes|purge-audit|create-api-key|revoke-api-key|
list-api-keys|import`` (also installed as the ``tinedy-field`` script)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial

from server.config import Settings
from server.http.request_log import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve HTTP on HOST:PORT with WORKERS processes")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser(
        "process-photos",
        help="process queued photos until stopped (run also starts PHOTO_PROCESSING_WORKERS)",
    )
    commands.add_parser(
        "send-pushes", help="send Web Push until stopped (run also starts PUSH_SENDERS)"
    )
    commands.add_parser(
        "send-webhooks", help="deliver webhooks until stopped (run also starts WEBHOOK_SENDERS)"
    )
    seed = commands.add_parser("seed-demo", help="load the demo data (DEMO=1 only)")
    seed.add_argument("--today", type=date.fromisoformat, help="anchor day (default: today)")
    commands.add_parser(
        "compact-changes",
        help="drop change history older than CHANGE_LOG_RETENTION_DAYS "
        "(the schedule runs it daily)",
    )
    commands.add_parser(
        "purge-locations",
        help="forget check-in and photo coordinates older than LOCATION_RETENTION_DAYS "
        "(the schedule runs it daily)",
    )
    commands.add_parser(
        "purge-audit",
        help="drop audit events older than AUDIT_RETENTION_DAYS (the schedule runs it daily)",
    )
    create_key = commands.add_parser(
        "create-api-key", help="make an API key for the office CRM and print it (once)"
    )
    create_key.add_argument("--name", required=True, help="whose key it is, e.g. office-crm")
    create_key.add_argument(
        "--scope",
        action="append",
        required=True,
        help="people:write, jobs:write, jobs:read, events:read, webhooks:manage or all; repeat",
    )
    revoke_key = commands.add_parser("revoke-api-key", help="revoke an API key at once")
    revoke_key.add_argument("key", help="the key's id or its printed prefix (tk_...)")
    commands.add_parser("list-api-keys", help="list API keys: names, scopes, last use")
    load = commands.add_parser(
        "import", help="load branches, teams, staff, customers and jobs from a CSV or NDJSON file"
    )
    load.add_argument("file", help="an .ndjson/.jsonl export, or a .csv of one kind")
    load.add_argument("--kind", help="what a CSV's rows are (default: its 'kind' column)")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "migrate":
        asyncio.run(_with_engine(settings, _migrate))
    elif args.command == "process-photos":
        from server.photos.worker import run_photo_processor

        run_photo_processor(settings)
    elif args.command == "send-pushes":
        from server.push.worker import run_push_sender

        run_push_sender(settings)
    elif args.command == "send-webhooks":
        from server.webhooks.worker import run_webhook_sender

        run_webhook_sender(settings)
    elif args.command == "create-api-key":
        return asyncio.run(_with_engine_answer(settings, partial(_create_key, args)))
    elif args.command == "revoke-api-key":
        return asyncio.run(_with_engine_answer(settings, partial(_revoke_key, args.key)))
    elif args.command == "list-api-keys":
        asyncio.run(_with_engine(settings, _list_keys))
    elif args.command == "import":
        from server.integration.imports import import_file

        return asyncio.run(
            _with_engine_answer(settings, partial(import_file, args.file, args.kind))
        )
    elif args.command in RETENTION_SUMMARIES:
        asyncio.run(_with_engine(settings, partial(_run_retention, args.command, settings)))
    elif args.command == "seed-demo":
        if not settings.demo:
            print("seed-demo loads demo accounts: set DEMO=1 to allow it.", file=sys.stderr)
            return 2
        asyncio.run(_with_engine(settings, partial(_seed, today=args.today)))
    else:
        try:
            asyncio.run(_with_engine(settings, _nothing))
        except Exception as exc:
            print(f"The database {settings.database_label} is unreachable: {exc}", file=sys.stderr)
            return 1
        serve(settings)
    return 0


async def _with_engine(settings: Settings, work: Callable[[], Awaitable[object]]) -> None:
    from server.db.engine import engine_for

    async with engine_for(settings):
        await work()


async def _with_engine_answer(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    """Run ``work`` with the database open; its answer is the exit status."""
    from server.db.engine import engine_for

    async with engine_for(settings):
        return await work()


async def _create_key(args: argparse.Namespace) -> int:
    from server.integration.keys import create_api_key

    try:
        made = await create_api_key(args.name, args.scope)
    except ValueError as exc:
        print(f"create-api-key: {exc}", file=sys.stderr)
        return 2
    print(made.key)
    record = made.record
    print(
        f"API key {record['name']} ({record['id']}), scopes {' '.join(record['scopes'])}: "
        "shown once, store it now.",
        file=sys.stderr,
    )
    return 0


async def _revoke_key(key: str) -> int:
    from server.integration.keys import revoke_api_key

    revoked = await revoke_api_key(key)
    print(f"Revoked {revoked} key{'s' if revoked != 1 else ''}.")
    return 0 if revoked else 1


async def _list_keys() -> None:
    from server.integration.keys import list_api_keys

    for key in await list_api_keys():
        state = f"revoked {key['revokedAt']}" if key["revokedAt"] else "active"
        print(
            f"{key['id']}  {key['prefix']}...  {key['name']}  [{' '.join(key['scopes'])}]  "
            f"{state}  last used {key['lastUsedAt'] or 'never'}"
        )


async def _nothing() -> None:
    """Opening the engine is the check: it fails when the database does not answer."""


async def _migrate() -> None:
    from server.db.migrate import apply_migrations

    await apply_migrations()


RETENTION_SUMMARIES = {
    "compact-changes": "Dropped {dropped} change-log rows; cursors before {horizon} must reload.",
    "purge-locations": "Purged where {purged} check-ins and photos were, "
    "for those over {settings.location_retention_days} days old.",
    "purge-audit": "Dropped {dropped} audit events, "
    "those over {settings.audit_retention_days} days old.",
}


async def _run_retention(name: str, settings: Settings) -> None:
    """The schedule's job, run now; its success is recorded as the schedule's would be."""
    from server.ops.retention import run_by_hand
    from server.photos.storage.factory import object_store_for

    store = object_store_for(settings)
    try:
        result = await run_by_hand(name, settings, store)
    finally:
        await store.close()
    print(RETENTION_SUMMARIES[name].format(settings=settings, **result))


async def _seed(today: date | None) -> None:
    from server.auth.passwords import DEMO_PASSWORD
    from server.seed import seed_demo

    summary = await seed_demo(today or date.today())
    print(summary)
    print(f"Demo logins (password {DEMO_PASSWORD}): admin@demo.local, dispatcher@demo.local,")
    print("  staff1@demo.local ... staff20@demo.local")


def serve(settings: Settings) -> None:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from server.app import logged_app
    from server.http.worker_manager import end_the_start_up_wait_on_shutdown

    if settings.metrics_dir is not None:
        # prometheus-client reads this at import, in each worker it spawns.
        shutil.rmtree(settings.metrics_dir, ignore_errors=True)
        settings.metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.metrics_dir.resolve())
    from cdn.build import build

    build(settings.app_shell_dir)  # nothing to do when the sources did not change
    if settings.demo:
        print(f"Demo on http://{settings.host}:{settings.port}  (password demo1234)")
        print("  admin@demo.local, dispatcher@demo.local, staff1@demo.local ... staff20@demo.local")
    end_the_start_up_wait_on_shutdown()
    loader = AppLoader(factory=partial(logged_app, settings))  # each worker builds its own
    app = loader.load()
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        motd=False,
    )
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    raise SystemExit(main())
