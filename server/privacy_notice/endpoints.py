"""``/api/mobile/privacy-notice``: the notice a cleaner reads once, and their acknowledgement."""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request

from server.context import app_context
from server.core.access import ANY_ROLE, Principal
from server.core.schemas import Problem
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_json
from server.privacy_notice import service as notice_service
from server.privacy_notice.schemas import NoticeAcknowledgementIn, PrivacyNoticeOut

privacy_notice_routes = Blueprint("privacy_notice", url_prefix="/api/mobile/privacy-notice")


@privacy_notice_routes.get("")
@endpoint(
    "The privacy notice's current version, whether the caller acknowledged it, and how long "
    "locations and photos' places are kept (days).",
    roles=ANY_ROLE,
    responses={200: PrivacyNoticeOut, 401: Problem},
)
async def get_privacy_notice(request: Request, principal: Principal) -> HTTPResponse:
    settings = app_context(request).settings
    return json_response(await notice_service.notice(principal, settings))


@privacy_notice_routes.post("/acknowledgement")
@endpoint(
    "Record that the caller read this version of the notice (201; again: the first stands); "
    "another version is 409 stale_notice.",
    roles=ANY_ROLE,
    body=NoticeAcknowledgementIn,
    responses={201: PrivacyNoticeOut, 401: Problem, 409: Problem, 422: Problem},
)
async def acknowledge_privacy_notice(request: Request, principal: Principal) -> HTTPResponse:
    body = read_json(request, NoticeAcknowledgementIn)
    settings = app_context(request).settings
    answer = await notice_service.acknowledge(principal, body.version, body.locale, settings)
    return json_response(answer, status=201)
