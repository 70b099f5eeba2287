"""``/api/integration/v1``: branches, teams, staff and customers by the CRM's own ids."""

from __future__ import annotations

from sanic import Blueprint

people_routes = Blueprint("integration_people", url_prefix="/api/integration/v1")
