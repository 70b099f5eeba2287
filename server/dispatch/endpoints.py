"""``/api/dispatch``: a dispatcher's writes to their branch's jobs, and their view of the
phones in the field. Admins may act on every branch; staff are refused (403)."""

from __future__ import annotations

from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request

from server.checkins.schemas import CheckInList
from server.core.access import OFFICE_ROLES, Principal
from server.core.answers import Answer
from server.core.inputs import as_uuid
from server.core.schemas import Problem
from server.devices import service as device_service
from server.devices.schemas import DevicesList
from server.dispatch import directory
from server.dispatch import service as dispatch_service
from server.dispatch import team_updates as team_update_service
from server.dispatch.schemas import CustomerList, CustomerSearch, StaffList, TeamUpdateAccepted
from server.dispatch.service import AssignJob, JobEdits, NewJob, Reopen
from server.dispatch.team_updates import TeamUpdate
from server.errors import DeviceNotFound
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_json, read_query, send_json_get
from server.http.request_log import request_id_of
from server.jobs.schemas import JobDetail
from server.jobs.service import parse_job_id

dispatch_routes = Blueprint("dispatch", url_prefix="/api/dispatch")
WRITE_ANSWERS: dict[int, type[BaseModel] | None] = {
    200: JobDetail,
    401: Problem,
    403: Problem,
    404: Problem,
    409: Problem,
    422: Problem,
}


@dispatch_routes.post("/jobs")
@endpoint(
    "Create a job for a customer of the branch; pending, or assigned when an assignee is given.",
    roles=OFFICE_ROLES,
    body=NewJob,
    responses={201: JobDetail, 401: Problem, 403: Problem, 422: Problem},
)
async def create_job(request: Request, principal: Principal) -> HTTPResponse:
    new = read_json(request, NewJob)
    return json_response(
        await dispatch_service.create_job(principal, new, request_id_of(request)), status=201
    )


@dispatch_routes.post("/jobs/<job_id:str>/assign")
@endpoint(
    "Give a job not finished its crew (active staff of its branch, lead first): "
    "`assigneeIds`, or `assigneeId` for one. A new lead starts it again from assigned.",
    roles=OFFICE_ROLES,
    body=AssignJob,
    responses=WRITE_ANSWERS,
)
async def assign_job(request: Request, principal: Principal, job_id: str) -> HTTPResponse:
    job_id = parse_job_id(job_id)
    assign = read_json(request, AssignJob)
    answer = await dispatch_service.assign_job(principal, job_id, assign, request_id_of(request))
    return json_response(answer)


@dispatch_routes.patch("/jobs/<job_id:str>")
@endpoint(
    "Re-prioritise, reschedule, annotate, give its own address, resume (status assigned, "
    "from on_hold) or cancel a job.",
    roles=OFFICE_ROLES,
    body=JobEdits,
    responses=WRITE_ANSWERS,
)
async def edit_job(request: Request, principal: Principal, job_id: str) -> HTTPResponse:
    job_id = parse_job_id(job_id)
    edits = read_json(request, JobEdits)
    answer = await dispatch_service.edit_job(principal, job_id, edits, request_id_of(request))
    return json_response(answer)


@dispatch_routes.post("/jobs/<job_id:str>/reopen")
@endpoint(
    "Reopen a job completed by mistake: back to in_progress for its crew, with a reason.",
    roles=OFFICE_ROLES,
    body=Reopen,
    responses=WRITE_ANSWERS,
)
async def reopen_job(request: Request, principal: Principal, job_id: str) -> HTTPResponse:
    job_id = parse_job_id(job_id)
    reopen = read_json(request, Reopen)
    answer = await dispatch_service.reopen_job(principal, job_id, reopen, request_id_of(request))
    return json_response(answer)


@dispatch_routes.get("/staff")
@endpoint(
    "The branch's field staff: names for the board and whom a crew can be made of.",
    roles=OFFICE_ROLES,
    responses={200: StaffList, 304: None, 401: Problem, 403: Problem},
)
async def list_staff(request: Request, principal: Principal) -> HTTPResponse:
    return await send_json_get(request, await directory.branch_staff(principal))


@dispatch_routes.get("/customers")
@endpoint(
    "The branch's customers whose name contains `q`, for a new job.",
    roles=OFFICE_ROLES,
    query=CustomerSearch,
    responses={200: CustomerList, 304: None, 401: Problem, 403: Problem, 422: Problem},
)
async def list_customers(request: Request, principal: Principal) -> HTTPResponse:
    search = read_query(request, CustomerSearch)
    answer = await directory.branch_customers(principal, search.q, search.limit)
    return await send_json_get(request, answer)


@dispatch_routes.get("/devices")
@endpoint(
    "Each signed-in device of the branch's staff: last contact, clock skew, refused changes.",
    roles=OFFICE_ROLES,
    responses={200: DevicesList, 304: None, 401: Problem, 403: Problem},
)
async def list_devices(request: Request, principal: Principal) -> HTTPResponse:
    return await send_json_get(request, await device_service.device_overview(principal))


@dispatch_routes.delete("/devices/<device_id:str>")
@endpoint(
    "Sign a lost or handed-on phone out: its session, tokens and offline key stop working.",
    roles=OFFICE_ROLES,
    responses={204: None, 401: Problem, 403: Problem, 404: Problem},
)
async def revoke_device(request: Request, principal: Principal, device_id: str) -> HTTPResponse:
    device = as_uuid(device_id)
    if device is None:
        raise DeviceNotFound()
    await device_service.revoke_device(principal, device, request_id_of(request))
    return Answer(status=204)


@dispatch_routes.get("/jobs/<job_id:str>/checkins")
@endpoint(
    "A job's check-ins with where they were made (until purged), for dispatchers and admins.",
    roles=OFFICE_ROLES,
    responses={200: CheckInList, 304: None, 401: Problem, 403: Problem, 404: Problem},
)
async def list_check_ins(request: Request, principal: Principal, job_id: str) -> HTTPResponse:
    job_id = parse_job_id(job_id)
    return await send_json_get(request, await dispatch_service.job_check_ins(principal, job_id))


@dispatch_routes.post("/team-updates")
@endpoint(
    "Send a message to a team of the branch; it reaches their phones as a team-update event.",
    roles=OFFICE_ROLES,
    body=TeamUpdate,
    responses={202: TeamUpdateAccepted, 401: Problem, 403: Problem, 404: Problem, 422: Problem},
)
async def send_team_update(request: Request, principal: Principal) -> HTTPResponse:
    update = read_json(request, TeamUpdate)
    sent = await team_update_service.send_team_update(principal, update, request_id_of(request))
    return json_response(sent, 202)
