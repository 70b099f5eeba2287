"""Baseline for the feed benchmark: Sanic serving precomputed bytes.

It answers GET / with the exact br-compressed body of the real staff first
page, so the gap between it and the real endpoint is what the application
work (auth, query, serialisation, compression) costs on this machine.

Usage: baseline_server.py BODY_FILE --port PORT [--host H] [--workers N]
"""

import argparse
from functools import partial
from pathlib import Path

from sanic import DefaultRequest, DefaultSanic, HTTPResponse, Sanic
from sanic.worker.loader import AppLoader

HEADERS = {"content-encoding": "br"}


def create_app(body_path: str) -> DefaultSanic:
    """Build the app in every worker; the factory keeps it picklable."""
    body = Path(body_path).read_bytes()
    app = Sanic("feed_baseline")

    @app.get("/")
    async def page(request: DefaultRequest) -> HTTPResponse:
        return HTTPResponse(body, headers=HEADERS, content_type="application/json")

    return app


def parse_args() -> argparse.Namespace:
    """Read the body file and listen options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("body_file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    return parser.parse_args()


def main() -> None:
    """Serve with Sanic's worker manager, like the real server."""
    args = parse_args()
    loader = AppLoader(factory=partial(create_app, args.body_file))
    app = loader.load()
    app.prepare(
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        motd=False,
    )
    Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
