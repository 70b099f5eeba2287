"""The layout, read from the imports: one package per domain, no import cycles, and layers
that point one way, so a newcomer can trust a name to say where a thing lives.

- ``core`` (and ``errors``, ``config``) know nothing of the domains; ``db`` knows ``core``;
  ``http`` plumbing knows both.
- The domains stand in :data:`DOMAINS` order: each one's rules (everything but its
  ``endpoints``) may use the domains before it, never one after it.
- Inside a domain, ``queries`` and ``schemas`` use no ``service``; only the wiring and the
  domain's own routes import its routes. Routes (``endpoints``) sit on top and may call any
  domain's service.
- Only ``queries`` modules (and ``db``) touch the tables.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[1] / "server"
FOUNDATION = ["core", "errors", "config", "db", "http"]
DOMAINS = [
    "people",
    "changes",
    "audit",
    "auth",
    "jobs",
    "checkins",
    "photos",
    "sync",
    "devices",
    "dispatch",
    "push",
    "live",
    "privacy_notice",
    "pwa",
    "integration",
    "webhooks",
    "alerts",
    "privacy",
    "ops",
]
WIRING = {"app", "context", "seed", "__main__", "cluster"}
"""What assembles the product (the factory, its typed context, the CLI and the demo)."""
ROUTE_MODULES = {
    "endpoints",
    "notification_endpoints",
    "people_endpoints",
    "job_endpoints",
    "event_endpoints",
}
LOWER_FILES = {"queries", "export_queries", "subscription_queries", "report_queries", "schemas"}
ORDER = FOUNDATION + DOMAINS


@cache
def modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(SERVER.parent).with_suffix("").parts): path
        for path in SERVER.rglob("*.py")
        if "migrations" not in path.parts
    }


@cache
def imports_of(module: str) -> frozenset[str]:
    """The project modules ``module`` imports (``from server.x import y`` names y when it is
    a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(modules()[module].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("server"):
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if f"{node.module}.{alias.name}" in modules()
            )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("server"))
    return frozenset(m for m in found if m in modules())


def package(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def is_route(module: str) -> bool:
    return module.rsplit(".", 1)[-1] in ROUTE_MODULES


def edges() -> Iterator[tuple[str, str]]:
    for module in modules():
        for target in imports_of(module):
            yield module, target


def test_every_package_has_its_place_in_the_layers() -> None:
    packages = {package(m) for m in modules() if m.count(".") >= 1}
    assert packages - {"__init__"} <= set(ORDER) | WIRING


def test_no_module_imports_itself_back() -> None:
    graph = {m: imports_of(m) for m in modules()}
    visiting: set[str] = set()
    done: set[str] = set()
    cycles: list[str] = []

    def visit(module: str, path: list[str]) -> None:
        visiting.add(module)
        for target in graph[module]:
            if target in visiting:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in done:
                visit(target, [*path, target])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module, [module])
    assert cycles == []


def test_rules_use_only_the_layers_below() -> None:
    upward = [
        f"{module} -> {target}"
        for module, target in edges()
        if package(module) in ORDER
        and not is_route(module)
        and package(target) in ORDER
        and ORDER.index(package(target)) > ORDER.index(package(module))
    ]
    assert upward == []


def test_foundation_and_domains_never_reach_the_wiring() -> None:
    assert [
        f"{m} -> {t}"
        for m, t in edges()
        if package(m) in ORDER and package(t) in WIRING and not is_route(m)
    ] == []


@pytest.mark.parametrize("kind", ["routes", "rules"])
def test_inside_a_domain_layers_point_down(kind: str) -> None:
    def layer(module: str) -> int:
        name = module.rsplit(".", 1)[-1]
        return 2 if is_route(module) else 0 if name in LOWER_FILES else 1

    wrong = [
        f"{module} -> {target}"
        for module, target in edges()
        if (
            kind == "routes"
            and is_route(target)
            and package(module) not in WIRING
            and (not is_route(module) or package(module) != package(target))
        )
        or (
            kind == "rules"
            and layer(module) == 0
            and layer(target) == 1
            and package(target) in DOMAINS
        )
    ]
    assert wrong == []


def test_only_queries_touch_the_tables() -> None:
    touching = sorted(
        module
        for module, target in edges()
        if target == "server.db.tables"
        and package(module) != "db"
        and module.rsplit(".", 1)[-1] not in LOWER_FILES - {"schemas"}
    )
    assert touching == []


def test_routes_are_declared_only_in_endpoints_modules() -> None:
    declaring = sorted(
        module
        for module, path in modules().items()
        if "Blueprint(" in path.read_text() and not is_route(module)
    )
    assert declaring == []
