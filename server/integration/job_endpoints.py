"""``/api/integration/v1``: jobs by the CRM's own ids, and the bulk NDJSON import."""

from __future__ import annotations

from sanic import Blueprint

integration_job_routes = Blueprint("integration_jobs", url_prefix="/api/integration/v1")
