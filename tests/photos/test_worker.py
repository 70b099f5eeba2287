"""Photo processing across real server processes: one instance takes the upload and another
processes it from a shared S3 bucket (moto on loopback) and the phone hears of it live; a
processor killed mid-photo is taken up again and the photo processed once; an upload cut off
midway keeps nothing, and its retry is one photo."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pillow_heif
import pytest
from PIL import Image

from server.db.tables import ChangeLog
from server.photos import queries as photo_queries
from tests.live_clients import open_sse, until
from tests.photos.camera import camera_exif, camera_photo
from tests.photos.moto import ACCESS_KEY, SECRET_KEY, new_bucket
from tests.servers import sign_in, start_instance
from tests.world import World, add_jobs, add_staff


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal the server's whole process group (its worker and photo processes too)."""
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], job_id: str, body: bytes, kind: str
) -> str:
    grant = await client.post(
        f"/api/mobile/jobs/{job_id}/photos/upload-url",
        json={"kind": "after", "contentType": kind},
        headers=headers,
    )
    given = grant.json()
    sent = await client.put(given["uploadUrl"], content=body, headers=given["uploadHeaders"])
    if given["completeUrl"]:  # the bytes went to the bucket: say so to the app
        assert sent.status_code == 200, sent.text
        sent = await client.post(given["completeUrl"])
    assert sent.status_code == 202, sent.text
    photo_id: str = sent.json()["photoId"]
    return photo_id


async def status_of(photo_id: str) -> dict[str, Any]:
    photo = await photo_queries.get_photo(photo_id)
    assert photo is not None
    return photo


@pytest.fixture
async def bucket_settings(moto_endpoint: str) -> dict[str, str]:
    location = await new_bucket(moto_endpoint)
    return {
        "PHOTO_STORE": "s3",
        "PHOTO_BUCKET": location.bucket,
        "PHOTO_BUCKET_ENDPOINT_URL": moto_endpoint,
        "PHOTO_BUCKET_ACCESS_KEY_ID": ACCESS_KEY,
        "PHOTO_BUCKET_SECRET_ACCESS_KEY": SECRET_KEY,
    }


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            stop(process)


async def test_one_instance_takes_the_photo_another_processes_it_and_the_phone_hears(
    database_url: str,
    world: World,
    tmp_path: Path,
    bucket_settings: dict[str, str],
    started: list[subprocess.Popen[bytes]],
) -> None:
    front, front_url = await start_instance(
        database_url,
        tmp_path / "a",
        tmp_path / "a.log",
        bucket_settings | {"PHOTO_PROCESSING_WORKERS": "0"},
    )
    started.append(front)
    back, _ = await start_instance(
        database_url,
        tmp_path / "b",
        tmp_path / "b.log",
        bucket_settings | {"PHOTO_PROCESSING_WORKERS": "1"},
    )
    started.append(back)
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    async with httpx.AsyncClient(base_url=front_url, timeout=10) as client:
        phone = await sign_in(client, staff)
        live = await open_sse(client, phone)
        photo_id = await upload(client, phone, job["id"], camera_photo("JPEG"), "image/jpeg")

        await until(
            lambda: "photo-processed" in live.names(), "the photo-processed event", seconds=30
        )
        [event] = [e for e in live.events if e.name == "photo-processed"]
        assert event.data["photo"] == {"id": photo_id, "kind": "after", "status": "ready"}
        assert event.data["job"]["id"] == job["id"]
        await live.stop()
        detail = (await client.get(f"/api/mobile/jobs/{job['id']}", headers=phone)).json()
        [photo] = detail["photos"]
        assert photo["status"] == "ready"
        served = await client.get(photo["url"], follow_redirects=True)  # to the bucket
        assert served.status_code == 200 and served.headers["content-type"] == "image/webp"
        assert served.history[0].status_code == 302
        assert Image.open(io.BytesIO(served.content)).size == (480, 640)
    assert not (tmp_path / "a" / "photos").exists(), "nothing on the front's own disk"


def slow_photo() -> bytes:
    """A 12 MP HEIC: a second or more of decoding, long enough to kill its processor."""
    pillow_heif.register_heif_opener()
    picture = Image.linear_gradient("L").resize((4032, 3024)).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="HEIF", exif=camera_exif(1).tobytes(), quality=60)
    return buffer.getvalue()


def photo_processors(server: subprocess.Popen[bytes]) -> list[int]:
    """The ``process-photos`` processes of a server (its process group)."""
    found = subprocess.run(
        ["pgrep", "-g", str(server.pid), "-f", "server process-photos"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [int(pid) for pid in found.stdout.split()]


async def test_a_processor_killed_mid_photo_is_replaced_and_the_photo_processed_once(
    database_url: str, world: World, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    settings = {"PHOTO_PROCESSING_WORKERS": "1", "PHOTO_LEASE_SECONDS": "2"}
    server, base = await start_instance(database_url, tmp_path, tmp_path / "s.log", settings)
    started.append(server)
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        phone = await sign_in(client, staff)
        photo_id = await upload(client, phone, job["id"], slow_photo(), "image/heic")
    for _ in range(400):
        if (await status_of(photo_id))["status"] == "processing":
            break
        await asyncio.sleep(0.02)
    assert (await status_of(photo_id))["status"] == "processing"
    [processor] = photo_processors(server)
    os.kill(processor, signal.SIGKILL)  # mid-photo, with no chance to clean up

    for _ in range(600):
        if (await status_of(photo_id))["status"] == "ready":
            break
        await asyncio.sleep(0.1)
    photo = await status_of(photo_id)
    assert photo["status"] == "ready"
    assert photo["attempts"] == 2, "taken up again once its lease lapsed"
    [replacement] = photo_processors(server)
    assert replacement != processor, "the dead processor was replaced"
    processed = await ChangeLog.count().where(
        (ChangeLog.job_id == job["id"]) & (ChangeLog.kind == "job.photo_processed")
    )
    assert processed == 1, "processed once"


async def test_an_upload_cut_off_keeps_nothing_and_its_retry_is_one_photo(
    database_url: str, world: World, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    process, base = await start_instance(database_url, tmp_path, tmp_path / "s.log", {})
    started.append(process)
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    body = camera_photo("JPEG", (1600, 1200))
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        phone = await sign_in(client, staff)
        grant = (
            await client.post(
                f"/api/mobile/jobs/{job['id']}/photos/upload-url",
                json={"kind": "before", "contentType": "image/jpeg"},
                headers=phone,
            )
        ).json()
        address = urlsplit(base)
        with socket.create_connection((address.hostname, address.port)) as connection:
            connection.sendall(
                f"PUT {grant['uploadUrl']} HTTP/1.1\r\nHost: {address.netloc}\r\n"
                f"Content-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body[: len(body) // 2]
            )  # and the signal drops
        await asyncio.sleep(0.5)
        assert (await status_of(grant["photoId"]))["status"] == "awaiting_upload"
        detail = (await client.get(f"/api/mobile/jobs/{job['id']}", headers=phone)).json()
        assert detail["photos"] == [], "nothing kept from half a photo"

        first = await client.put(
            grant["uploadUrl"], content=body, headers={"Content-Type": "image/jpeg"}
        )
        again = await client.put(
            grant["uploadUrl"], content=body, headers={"Content-Type": "image/jpeg"}
        )
        assert first.status_code == again.status_code == 202
        assert first.json()["photoId"] == again.json()["photoId"] == grant["photoId"]
        detail = (await client.get(f"/api/mobile/jobs/{job['id']}", headers=phone)).json()
        assert [p["id"] for p in detail["photos"]] == [grant["photoId"]]
