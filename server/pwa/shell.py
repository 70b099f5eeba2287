"""The installable app as each worker serves it: the built shell and hashed assets (loaded
once, with their precompressed variants), and the web manifest and service worker rendered
from their templates per locale and role, each rendering kept once.

A service worker is rendered per strategy set (role family and locale), never per user:
browsers reinstall a worker whenever its bytes change, so the same set must always render
the same bytes, and nothing user-specific (ids, jobs) may be baked in.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from server.core.access import family_of
from server.http.files import Representation
from server.http.negotiation import IDENTITY
from server.pwa.translations import MANIFEST as TEXT

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
PRIVATE_REVALIDATE = "private, no-cache"
NAVIGATION_TIMEOUT_MS = 3000
DATA_TIMEOUT_MS = 4000
LOCALES = ("th", "en")

# The strategy table each service worker renders: first match wins.
ROUTES: dict[str, list[dict[str, Any]]] = {
    "field": [
        {"prefix": "/static/", "strategy": "cache-first", "cache": "shell"},
        {"prefix": "/api/mobile/jobs/", "strategy": "network-first", "timeoutMs": DATA_TIMEOUT_MS},
        {"prefix": "/api/mobile/jobs", "strategy": "stale-while-revalidate"},
    ],
    "office": [
        {"prefix": "/static/", "strategy": "cache-first", "cache": "shell"},
        {"prefix": "/api/mobile/jobs", "strategy": "network-first", "timeoutMs": DATA_TIMEOUT_MS},
    ],
}


def locale_from(accept_language: str) -> str:
    """Thai unless the visitor's browser prefers English."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith(LOCALES):
            return tag[:2]
    return "th"


@dataclass(frozen=True, eq=False)  # compared (and cached) by identity: one per worker
class AppShell:
    version: str
    assets: dict[str, dict[str, Any]]
    shell: Representation
    files: dict[str, Representation]
    templates: Environment

    @classmethod
    def load(cls, dist: Path, templates_root: Path) -> AppShell:
        """Read a build of ``cdn/`` (run ``python -m cdn.build`` first)."""
        manifest_path = dist / "asset-manifest.json"
        if not manifest_path.exists():
            raise FileNotFoundError(f"no app shell build in {dist}: run python -m cdn.build")
        manifest = json.loads(manifest_path.read_text())
        files = {
            asset["path"].removeprefix("/static/"): _built(dist / asset["path"].lstrip("/"))
            for asset in manifest["assets"].values()
        }
        templates = Environment(
            loader=FileSystemLoader(
                [templates_root / "manifest_templates", templates_root / "sw_templates"]
            ),
            undefined=StrictUndefined,
            autoescape=False,  # JSON and JavaScript: every value goes through tojson
            keep_trailing_newline=True,
        )
        shell = _built(dist / "index.html", cache_control=REVALIDATE)
        return cls(manifest["version"], manifest["assets"], shell, files, templates)

    def asset(self, logical: str) -> str:
        return str(self.assets[logical]["path"])

    def web_manifest(self, locale: str, role: str | None) -> Representation:
        return _cached_manifest(self, locale, role)

    def service_worker(self, locale: str, role: str | None) -> Representation:
        return _cached_worker(self, locale, family_of(role))

    def render_manifest(self, locale: str, role: str | None) -> bytes:
        text = TEXT[locale]
        icons = [
            {
                "src": self.asset(f"icon-{size}{suffix}.png"),
                "sizes": f"{size}x{size}",
                "purpose": "maskable" if suffix else "any",
            }
            for suffix in ("", "-maskable")
            for size in (192, 512)
        ]
        screenshots = [
            {
                "src": self.asset("screenshot-narrow.png"),
                "sizes": "540x1170",
                "form_factor": "narrow",
                "label": text["list"],
            },
            {
                "src": self.asset("screenshot-wide.png"),
                "sizes": "1280x720",
                "form_factor": "wide",
                "label": text["list"],
            },
        ]
        icon = self.asset("icon-192.png")
        if family_of(role) == "field":
            shortcuts = [
                {"name": text["today"], "url": "/#today", "icon": icon},
                {"name": text["check_in"], "url": "/#checkin", "icon": icon},
                {"name": text["sync"], "url": "/#sync", "icon": icon},
            ]
        else:
            shortcuts = [{"name": text["board"], "url": "/#board", "icon": icon}]
        return (
            self.templates.get_template("manifest.webmanifest.j2")
            .render(
                text=text, locale=locale, icons=icons, screenshots=screenshots, shortcuts=shortcuts
            )
            .encode()
        )

    def worker_config(self, locale: str, family: str) -> dict[str, Any]:
        """The one object a service worker reads: its strategy set's routes and words, and this
        build's files (the names it shares with the app are in the app's vocabulary.js)."""
        return {
            "strategySet": f"{family}-{locale}",
            "version": f"{self.version}-{family}-{locale}",
            "precache": ["/", *sorted(a["path"] for a in self.assets.values())],
            "routes": ROUTES[family],
            "offlineText": TEXT[locale]["offline"],
            "navigationTimeoutMs": NAVIGATION_TIMEOUT_MS,
            "icon": self.asset("icon-192.png"),
            "worker": self.asset("worker.js"),
        }

    def render_worker(self, locale: str, family: str) -> bytes:
        return (
            self.templates.get_template("sw.js.j2")
            .render(config=self.worker_config(locale, family))
            .encode()
        )


@cache
def _cached_manifest(shell: AppShell, locale: str, role: str | None) -> Representation:
    return Representation.compressed(
        shell.render_manifest(locale, role),
        "application/manifest+json",
        PRIVATE_REVALIDATE,
        "Accept-Encoding, Accept-Language, Cookie",
    )


@cache
def _cached_worker(shell: AppShell, locale: str, family: str) -> Representation:
    return Representation.compressed(
        shell.render_worker(locale, family),
        "text/javascript; charset=utf-8",
        REVALIDATE,
        "Accept-Encoding, Accept-Language, Cookie",
    )


def _built(path: Path, cache_control: str = IMMUTABLE) -> Representation:
    """A built file with the variants the build wrote beside it."""
    variants = {IDENTITY: path.read_bytes()}
    for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
        variant = path.with_name(path.name + suffix)
        if variant.exists():
            variants[encoding] = variant.read_bytes()
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith("javascript"):
        content_type += "; charset=utf-8"
    return Representation(content_type, cache_control, variants)
