"""The privacy notice a cleaner reads once: its version, the retention settings' real numbers,
and one acknowledgement per person and version, kept in ``privacy_acknowledgement``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from server.context import AppContext
from server.db.tables import PrivacyAcknowledgement
from server.privacy_notice.schemas import PrivacyNoticeOut
from server.privacy_notice.service import NOTICE_VERSION
from tests.answers import parse_answer
from tests.problems import assert_problem
from tests.world import World, add_staff, bearer

NOTICE_URL = "/api/mobile/privacy-notice"
ACKNOWLEDGE_URL = f"{NOTICE_URL}/acknowledgement"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"location_retention_days": 45}


async def rows_of(user_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await PrivacyAcknowledgement.select().where(PrivacyAcknowledgement.user_id == user_id).run()
    )
    return rows


async def test_a_new_cleaner_is_shown_the_notice_with_the_servers_retention(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    answer = await client.get(NOTICE_URL, headers=bearer(ctx.signer, staff))
    assert answer.status_code == 200, answer.text
    notice = parse_answer(PrivacyNoticeOut, answer.json())
    assert notice.version == NOTICE_VERSION
    assert notice.acknowledged_at is None
    assert notice.retention.check_in_location_days == 45
    assert notice.retention.photo_location_days == 45


async def test_an_acknowledgement_is_recorded_once_per_person_and_version(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    phone, tablet = bearer(ctx.signer, staff), bearer(ctx.signer, staff)
    body = {"version": NOTICE_VERSION, "locale": "en"}
    first = await client.post(ACKNOWLEDGE_URL, json=body, headers=phone)
    assert first.status_code == 201, first.text
    acknowledged = parse_answer(PrivacyNoticeOut, first.json()).acknowledged_at
    assert acknowledged is not None
    again = await client.post(ACKNOWLEDGE_URL, json={"version": NOTICE_VERSION}, headers=tablet)
    assert again.status_code == 201, again.text
    assert parse_answer(PrivacyNoticeOut, again.json()).acknowledged_at == acknowledged
    [row] = await rows_of(staff["id"])
    assert (row["notice_version"], row["locale"]) == (NOTICE_VERSION, "en")
    assert row["device_id"] is not None
    shown = await client.get(NOTICE_URL, headers=phone)
    assert parse_answer(PrivacyNoticeOut, shown.json()).acknowledged_at == acknowledged


async def test_an_older_notice_cannot_be_acknowledged(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    headers = bearer(ctx.signer, staff)
    stale = await client.post(ACKNOWLEDGE_URL, json={"version": "2001-01-01"}, headers=headers)
    assert_problem(stale, 409, "stale_notice")
    assert await rows_of(staff["id"]) == []
    shown = await client.get(NOTICE_URL, headers=headers)
    assert shown.json()["acknowledgedAt"] is None


async def test_one_persons_acknowledgement_is_not_anothers(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    reader, other = await add_staff(world), await add_staff(world)
    body = {"version": NOTICE_VERSION}
    await client.post(ACKNOWLEDGE_URL, json=body, headers=bearer(ctx.signer, reader))
    shown = await client.get(NOTICE_URL, headers=bearer(ctx.signer, other))
    assert shown.json()["acknowledgedAt"] is None


async def test_the_notice_needs_a_signed_in_person(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(NOTICE_URL), 401, "unauthorized")
