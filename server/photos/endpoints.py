"""Job photos: upload URLs, the signed upload itself (to the app, or with an S3 store to the
bucket and then its completion here), a direct multipart upload, and the stored photos behind
signed, expiring, content-addressed URLs (``/media/...``, redirected to the bucket with S3).

The photo routes' body limit is ``PHOTO_MAX_BYTES`` (``server/http/body_limits.py`` names
them), held from ``Content-Length`` before a byte of the body is read. An upload URL is read
before the body too (its ``permit``): a forged or lapsed one is refused at once, and the
device and person it names spend their own ``uploads`` budgets, not their network's."""

from __future__ import annotations

import time

from pydantic import BaseModel
from sanic import Blueprint, HTTPResponse, Request, redirect

from server.context import app_context
from server.core.access import Principal
from server.core.schemas import Problem
from server.errors import InvalidRequest, PhotoNotFound, UnsupportedMediaType
from server.http.endpoint import endpoint
from server.http.json_io import json_response, read_json, validate
from server.jobs.service import parse_job_id
from server.photos import service as photo_service
from server.photos.links import MEDIA_PATH, UPLOAD_PATH, UploadGrant
from server.photos.schemas import PhotoAccepted, PhotoUploadUrl
from server.photos.service import COMPLETE_SUFFIX, DirectUpload, UploadRequest
from server.photos.storage.factory import direct_uploads

photo_routes = Blueprint("photos")
MEDIA_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "heic": "image/heic",
    "avif": "image/avif",
}
UPLOAD_ANSWERS: dict[int, type[BaseModel] | None] = {
    202: PhotoAccepted,
    401: Problem,
    403: Problem,
    404: Problem,
    409: Problem,
    413: Problem,
    415: Problem,
    422: Problem,
}


@photo_routes.post("/api/mobile/jobs/<job_id:str>/photos/upload-url")
@endpoint(
    "A single-use upload URL for one photo of the job: bound to the job, the caller, the "
    "declared type and the size limit; expires after PHOTO_UPLOAD_URL_SECONDS. With "
    "PHOTO_STORE=s3 it is the bucket's presigned PUT, and completeUrl follows it.",
    body=UploadRequest,
    responses={201: PhotoUploadUrl, 401: Problem, 404: Problem, 415: Problem, 422: Problem},
)
async def upload_url(request: Request, principal: Principal, job_id: str) -> HTTPResponse:
    ctx = app_context(request)
    settings = ctx.settings
    answer = await photo_service.request_upload(
        principal,
        parse_job_id(job_id),
        read_json(request, UploadRequest),
        ctx.photo_links,
        settings.photo_max_bytes,
        settings.photo_upload_url_seconds,
        direct_uploads(ctx.photo_store),
    )
    return json_response(answer, status=201)


def upload_grant(request: Request) -> UploadGrant:
    """The upload URL's grant, checked before the body is read: one HMAC, no database."""
    token = request.match_info["token"]
    return app_context(request).photo_links.read_upload(token, time.time())


@photo_routes.put(UPLOAD_PATH + "<token:str>")
@endpoint(
    "Send the photo's bytes to its upload URL (no other credentials). A retry with the same "
    "bytes answers as the first did; the same bytes already on the job are stored once.",
    roles=None,
    permit=upload_grant,
    responses=UPLOAD_ANSWERS,
)
async def put_upload(request: Request, grant: UploadGrant, token: str) -> HTTPResponse:
    ctx = app_context(request)
    answer = await photo_service.receive_upload(
        grant, request.body or b"", request.headers.get("content-type"), ctx.photo_store
    )
    return json_response(answer, status=202)


@photo_routes.post(UPLOAD_PATH + "<token:str>" + COMPLETE_SUFFIX)
@endpoint(
    "With PHOTO_STORE=s3, after the bucket took the bytes: check what landed (size, type by "
    "its first bytes, declared pixels), then queue it; answers as the PUT to the app's own "
    "upload URL does. Without a bucket, the photo's status once its bytes were PUT.",
    roles=None,
    permit=upload_grant,
    responses=UPLOAD_ANSWERS,
)
async def complete_upload(request: Request, grant: UploadGrant, token: str) -> HTTPResponse:
    ctx = app_context(request)
    direct = direct_uploads(ctx.photo_store)
    if direct is None:
        answer = await photo_service.upload_status(grant)
    else:
        answer = await photo_service.complete_upload(grant, direct)
    return json_response(answer, status=202)


@photo_routes.post("/api/mobile/jobs/<job_id:str>/photos")
@endpoint(
    "Upload a photo in one step: multipart/form-data with `file` (its part's type declared), "
    "optionally `kind` (before, after, other; default other) and `photoId` (a UUID).",
    responses=UPLOAD_ANSWERS,
)
async def post_photo(request: Request, principal: Principal, job_id: str) -> HTTPResponse:
    ctx = app_context(request)
    job_id = parse_job_id(job_id)
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UnsupportedMediaType("Send the photo as multipart/form-data, in the field file.")
    try:
        upload = request.files.get("file") if request.files else None
        fields = {
            key: request.form.get(key) if request.form else None for key in ("kind", "photoId")
        }
    except (KeyError, ValueError) as exc:  # no boundary, a body cut short
        raise InvalidRequest("The multipart form cannot be read.") from exc
    if upload is None:
        raise UnsupportedMediaType("The form has no file field.")
    form = validate(DirectUpload, {k: v for k, v in fields.items() if v is not None})
    answer = await photo_service.upload_directly(
        principal,
        job_id,
        form,
        upload.body,
        upload.type,
        ctx.photo_store,
        ctx.settings.photo_max_bytes,
    )
    return json_response(answer, status=202)


@photo_routes.get(MEDIA_PATH + "<key:path>")
@endpoint(
    "A stored photo or variant by its signed, expiring URL; immutable, so a CDN may keep it "
    "until the URL expires.",
    roles=None,
    responses={200: None, 302: None, 403: Problem, 404: Problem},
)
async def media(request: Request, key: str) -> HTTPResponse:
    ctx = app_context(request)
    now = time.time()
    expires = request.args.get("exp", "")
    ctx.photo_links.check_media(key, expires, request.args.get("sig", ""), now)
    etag = '"' + key.rsplit("/", 1)[-1].split(".")[0] + '"'
    cache = f"public, max-age={max(0, int(expires) - int(now))}, immutable"
    headers = {"Cache-Control": cache, "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if etag in request.headers.get("if-none-match", "").replace("W/", "").split(", "):
        return HTTPResponse(status=304, headers=headers)
    elsewhere = await ctx.photo_store.download_url(key, max(1, int(expires) - int(now)), cache)
    if elsewhere is not None:  # from the bucket itself: no photo byte through the app
        return redirect(elsewhere, headers={"Cache-Control": "private, max-age=60"}, status=302)
    body = await ctx.photo_store.get(key)
    if body is None:
        raise PhotoNotFound()
    media_type = MEDIA_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")
    return HTTPResponse(body, headers=headers, content_type=media_type)
