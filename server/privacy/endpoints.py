"""``/api/admin/people/{id}``: a person's data under the PDPA, exported or erased; admins
only, each act audited."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.audit.service import AuditActor
from server.context import app_context
from server.core.access import ADMINS, Principal
from server.core.inputs import as_uuid
from server.core.schemas import Problem
from server.errors import PersonNotFound
from server.http.endpoint import endpoint
from server.http.json_io import json_response
from server.http.request_log import request_id_of
from server.privacy import service as privacy_service
from server.privacy.schemas import ErasureReport, PersonExport

privacy_routes = Blueprint("privacy", url_prefix="/api/admin/people")
ANSWERS = {401: Problem, 403: Problem, 404: Problem}


def _person_id(raw: str) -> str:
    person = as_uuid(raw)
    if person is None:
        raise PersonNotFound()
    return person


@privacy_routes.get("/<person_id:str>/export")
@endpoint(
    "Everything held about one person, as one JSON document (PDPA access); audited.",
    roles=ADMINS,
    responses={200: PersonExport, **ANSWERS},
)
async def export_person(request: Request, principal: Principal, person_id: str) -> HTTPResponse:
    person = _person_id(person_id)
    by = AuditActor.user(principal.user_id, request_id_of(request))
    document = await privacy_service.export_person(person, by)
    disposition = f'attachment; filename="person-{person}.json"'
    return json_response(document, headers={"Content-Disposition": disposition})


@privacy_routes.post("/<person_id:str>/erase")
@endpoint(
    "Erase one person's data (PDPA erasure): their places, devices and identity; their "
    "visits and jobs stay, naming an erased person. Audited; erasing again is harmless.",
    roles=ADMINS,
    responses={200: ErasureReport, 422: Problem, **ANSWERS},
)
async def erase_person(request: Request, principal: Principal, person_id: str) -> HTTPResponse:
    person = _person_id(person_id)
    by = AuditActor.user(principal.user_id, request_id_of(request))
    store = app_context(request).photo_store
    return json_response(await privacy_service.erase_person(person, by, store))
