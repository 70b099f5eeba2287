"""``/api/integration/v1``: branches, teams, staff and customers by the CRM's own ids, and
one-time password links for staff."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request

from server.audit.service import AuditActor
from server.auth.password_links import PasswordLink, link_base
from server.auth.schemas import InviteLinkOut, ResetLinkOut
from server.context import app_context
from server.core.schemas import Problem
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_json
from server.http.request_log import request_id_of
from server.integration import people as people_service
from server.integration.keys import KeyHolder, Scope
from server.integration.schemas import (
    BranchAnswer,
    BranchRecord,
    CustomerAnswer,
    CustomerRecord,
    StaffAnswer,
    StaffRecord,
    TeamAnswer,
    TeamRecord,
)
from server.integration.upserts import Upserted, entity_tag, expected_version

people_routes = Blueprint("integration_people", url_prefix="/api/integration/v1")

ERRORS: dict[int, type[BaseModel] | None] = {401: Problem, 403: Problem, 429: Problem}


def _upsert_answers(answer: type[BaseModel]) -> dict[int, type[BaseModel] | None]:
    return {200: answer, 201: answer, 412: Problem, 422: Problem, **ERRORS}


def _read_answers(answer: type[BaseModel]) -> dict[int, type[BaseModel] | None]:
    return {200: answer, 404: Problem, **ERRORS}


def _upserted(kind: str, upserted: Upserted) -> HTTPResponse:
    return json_response(
        {kind: upserted.record},
        status=upserted.http_status,
        headers={"ETag": entity_tag(upserted.record["version"])},
    )


def _read(kind: str, record: dict[str, Any]) -> HTTPResponse:
    return json_response({kind: record}, headers={"ETag": entity_tag(record["version"])})


def _if_match(request: Request) -> int | None:
    return expected_version(request.headers.get("if-match"))


@people_routes.put("/branches/<external_id:str>")
@endpoint(
    "Create or update a branch by the CRM's id.",
    scope=Scope.PEOPLE_WRITE,
    body=BranchRecord,
    responses=_upsert_answers(BranchAnswer),
)
async def put_branch(request: Request, _: KeyHolder, external_id: str) -> HTTPResponse:
    record = read_json(request, BranchRecord)
    upserted = await people_service.upsert_branch(external_id, record, _if_match(request))
    return _upserted("branch", upserted)


@people_routes.get("/branches/<external_id:str>")
@endpoint(
    "A branch by the CRM's id.", scope=Scope.PEOPLE_WRITE, responses=_read_answers(BranchAnswer)
)
async def get_branch(request: Request, _: KeyHolder, external_id: str) -> HTTPResponse:
    return _read("branch", await people_service.read_branch(external_id))


@people_routes.put("/teams/<external_id:str>")
@endpoint(
    "Create or update a team of a branch by the CRM's id.",
    scope=Scope.PEOPLE_WRITE,
    body=TeamRecord,
    responses=_upsert_answers(TeamAnswer),
)
async def put_team(request: Request, _: KeyHolder, external_id: str) -> HTTPResponse:
    record = read_json(request, TeamRecord)
    upserted = await people_service.upsert_team(external_id, record, _if_match(request))
    return _upserted("team", upserted)


@people_routes.get("/teams/<external_id:str>")
@endpoint("A team by the CRM's id.", scope=Scope.PEOPLE_WRITE, responses=_read_answers(TeamAnswer))
async def get_team(request: Request, _: KeyHolder, external_id: str) -> HTTPResponse:
    return _read("team", await people_service.read_team(external_id))


@people_routes.put("/staff/<external_id:str>")
@endpoint(
    "Create or update a staff member by the CRM's id; a new role, branch or team holds from "
    "their next request, and active: false signs them out everywhere at once.",
    scope=Scope.PEOPLE_WRITE,
    body=StaffRecord,
    responses=_upsert_answers(StaffAnswer),
)
async def put_staff(request: Request, holder: KeyHolder, external_id: str) -> HTTPResponse:
    record = read_json(request, StaffRecord)
    by = AuditActor.api_key(holder.key_id, request_id_of(request))
    upserted = await people_service.upsert_staff(external_id, record, _if_match(request), by)
    return _upserted("staff", upserted)


@people_routes.get("/staff/<external_id:str>")
@endpoint(
    "A staff member by the CRM's id.",
    scope=Scope.PEOPLE_WRITE,
    responses=_read_answers(StaffAnswer),
)
async def get_staff(request: Request, _: KeyHolder, external_id: str) -> HTTPResponse:
    return _read("staff", await people_service.read_staff(external_id))


@people_routes.put("/customers/<external_id:str>")
@endpoint(
    "Create or update a customer of a branch by the CRM's id.",
    scope=Scope.PEOPLE_WRITE,
    body=CustomerRecord,
    responses=_upsert_answers(CustomerAnswer),
)
async def put_customer(request: Request, _: KeyHolder, external_id: str) -> HTTPResponse:
    record = read_json(request, CustomerRecord)
    upserted = await people_service.upsert_customer(external_id, record, _if_match(request))
    return _upserted("customer", upserted)


@people_routes.get("/customers/<external_id:str>")
@endpoint(
    "A customer by the CRM's id.",
    scope=Scope.PEOPLE_WRITE,
    responses=_read_answers(CustomerAnswer),
)
async def get_customer(request: Request, _: KeyHolder, external_id: str) -> HTTPResponse:
    return _read("customer", await people_service.read_customer(external_id))


LinkMaker = Callable[[str, str, timedelta], Awaitable[PasswordLink]]


@people_routes.post("/staff/<external_id:str>/invite")
@endpoint(
    "A one-time link for an active staff member to set their password (the CRM sends it).",
    scope=Scope.PEOPLE_WRITE,
    responses={201: InviteLinkOut, 404: Problem, 422: Problem, **ERRORS},
)
async def invite_staff(request: Request, _: KeyHolder, external_id: str) -> HTTPResponse:
    hours = app_context(request).settings.invite_link_hours
    link = await _link(request, external_id, people_service.invite_staff, timedelta(hours=hours))
    return json_response({"inviteUrl": link.url, "expiresAt": link.expires_at}, status=201)


@people_routes.post("/staff/<external_id:str>/password-reset")
@endpoint(
    "A one-time link for an active staff member who forgot their password (the CRM sends it).",
    scope=Scope.PEOPLE_WRITE,
    responses={201: ResetLinkOut, 404: Problem, 422: Problem, **ERRORS},
)
async def reset_staff_password(request: Request, _: KeyHolder, external_id: str) -> HTTPResponse:
    minutes = app_context(request).settings.reset_link_minutes
    maker = people_service.reset_staff_password
    link = await _link(request, external_id, maker, timedelta(minutes=minutes))
    return json_response({"resetUrl": link.url, "expiresAt": link.expires_at}, status=201)


async def _link(
    request: Request, external_id: str, make: LinkMaker, lifetime: timedelta
) -> PasswordLink:
    configured = app_context(request).settings.public_origin
    base = link_base(configured, f"{request.scheme}://{request.host}")
    return await make(external_id, base, lifetime)
