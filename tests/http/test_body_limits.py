"""Each route's body limit holds before the body is read: a real server on loopback answers
413 to a sign-in declaring 5 MiB while the client has sent only its first bytes, and cuts a
chunked body off once it passes the limit; a sync batch and a photo may still be larger. An
upload URL is checked before its body too: a forged or lapsed one is refused while its 5 MiB
photo is still unsent, and a valid one takes the photo."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from server.photos.links import PhotoLinks, UploadGrant
from tests.photos.camera import camera_photo
from tests.servers import SECRET, running_instances, sign_in
from tests.world import World, add_jobs, add_staff

LOGIN = "/api/mobile/auth/login"
FIVE_MIB = 5 * 1024 * 1024
FIRST_BYTES = b'{"email": "' + b"x" * 65_536


@pytest.fixture(scope="module")
async def server(
    database_url: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_instances(database_url, tmp_path_factory.mktemp("bodies"), 1) as (one,):
        yield one


async def send_head_and_read(base_url: str, head: bytes, first: bytes) -> tuple[bytes, bytes]:
    """Send a request's head and ``first`` body bytes, send nothing more, and read the answer
    (status line, rest) until the server closes the connection or 5 s pass."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + first)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65_536), 5)
        status, _, rest = answer.partition(b"\r\n")
        return status, rest
    finally:
        writer.close()


def request_head(path: str, headers: dict[str, str], method: str = "POST") -> bytes:
    fields = (f"{k}: {v}" for k, v in headers.items())
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_a_5_mib_sign_in_is_refused_before_it_is_sent(server: httpx.AsyncClient) -> None:
    head = request_head(
        LOGIN, {"Content-Type": "application/json", "Content-Length": str(FIVE_MIB)}
    )
    status, rest = await send_head_and_read(str(server.base_url), head, FIRST_BYTES)
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in headers.lower()
    assert b"x-request-id:" in headers.lower()
    assert orjson.loads(body)["code"] == "payload_too_large"


async def test_a_chunked_body_is_cut_off_past_the_limit(server: httpx.AsyncClient) -> None:
    head = request_head(LOGIN, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    chunk = b"x" * 262_144
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5))  # 1.25 MiB
    status, _ = await send_head_and_read(str(server.base_url), head, chunks)
    assert status == b"HTTP/1.1 413 Request Entity Too Large"


async def test_unknown_routes_take_the_json_limit(server: httpx.AsyncClient) -> None:
    head = request_head("/api/nowhere", {"Content-Length": str(FIVE_MIB)})
    status, _ = await send_head_and_read(str(server.base_url), head, FIRST_BYTES)
    assert status.startswith((b"HTTP/1.1 404", b"HTTP/1.1 413"))


async def test_a_sync_batch_may_be_larger_than_a_json_body(server: httpx.AsyncClient) -> None:
    """Two MiB to the sync route reaches the route (401 without a token), not a 413."""
    body = b'{"mutations": [], "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    answer = await server.post(
        "/api/mobile/sync", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 401
    head = request_head("/api/mobile/sync", {"Content-Length": str(4 * 1024 * 1024 + 1)})
    status, _ = await send_head_and_read(str(server.base_url), head, FIRST_BYTES)
    assert status == b"HTTP/1.1 413 Request Entity Too Large"


def grant(expires_at: int) -> UploadGrant:
    photo, job, person, device = "0" * 32, "1" * 32, "2" * 32, "3" * 32
    return UploadGrant(
        photo, job, person, "staff", None, "image/jpeg", FIVE_MIB, expires_at, device
    )


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/api/mobile/photos/uploads/not-a-token", "invalid_signature"),
        (PhotoLinks("not the server's key", 3600).upload_url(grant(2**40)), "invalid_signature"),
        (PhotoLinks(SECRET, 3600).upload_url(grant(int(time.time()) - 1)), "link_expired"),
    ],
    ids=["not-a-token", "forged", "lapsed"],
)
async def test_a_forged_or_lapsed_upload_url_is_refused_before_its_photo_is_sent(
    server: httpx.AsyncClient, url: str, code: str
) -> None:
    """The answer comes while 5 MiB of the photo (or 512 KiB to its completion) are unsent:
    the signature is checked before the body is read, and the connection closes."""
    for method, path, length in (("PUT", url, FIVE_MIB), ("POST", url + "/complete", 524_288)):
        head = request_head(
            path, {"Content-Type": "image/jpeg", "Content-Length": str(length)}, method
        )
        status, rest = await send_head_and_read(str(server.base_url), head, b"\xff\xd8\xff")
        assert status == b"HTTP/1.1 403 Forbidden", (method, status, rest[:300])
        headers, _, body = rest.partition(b"\r\n\r\n")
        assert b"content-type: application/problem+json" in headers.lower()
        assert b"connection: close" in headers.lower()
        assert orjson.loads(body)["code"] == code


async def test_a_valid_upload_url_takes_a_photo_larger_than_a_json_body(
    server: httpx.AsyncClient, world: World
) -> None:
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    headers = await sign_in(server, staff)
    asked = await server.post(
        f"/api/mobile/jobs/{job['id']}/photos/upload-url",
        json={"kind": "before", "contentType": "image/jpeg"},
        headers=headers,
    )
    assert asked.status_code == 201, asked.text
    photo = camera_photo("JPEG")
    photo += b"\0" * (FIVE_MIB - len(photo))  # after the image's end: still a sound JPEG
    sent = await server.put(
        asked.json()["uploadUrl"], content=photo, headers={"Content-Type": "image/jpeg"}
    )
    assert sent.status_code == 202, sent.text
    assert sent.json() == {"photoId": asked.json()["photoId"], "status": "queued"}
    assert sent.headers["ratelimit-policy"].startswith('"uploads";')
