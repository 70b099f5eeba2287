"""The rules of Web Push as plain functions: which job change is worth a push and to whom,
when quiet hours end, what each push service answer means, and the payload's size."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from server.core.clock import BANGKOK
from server.push.plans import held_until, job_pushes, opted_out
from server.push.worker import Answer, payload_of, settle

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 22:00 in Bangkok
LATER = NOW + timedelta(hours=1)
ME, OTHER, OFFICE = (str(uuid.uuid4()) for _ in range(3))


def change(kind: str, **columns: Any) -> dict[str, Any]:
    return {
        "id": 7,
        "kind": kind,
        "job_id": "j",
        "assignee_id": ME,
        "actor_id": OFFICE,
        "payload": {"fields": columns.pop("fields", [])},
        **columns,
    }


@pytest.mark.parametrize(
    ("row", "job", "wanted"),
    [
        (change("job.assigned"), {"priority": "normal"}, [("assigned", ME)]),
        (change("job.assigned"), {"priority": "urgent"}, [("urgent", ME)]),
        (
            change("job.assigned", previous_assignee_id=OTHER),
            {"priority": "normal"},
            [("assigned", ME), ("reassigned", OTHER)],
        ),
        (change("job.created"), {"priority": "normal"}, [("assigned", ME)]),
        (change("job.created", assignee_id=None), {"priority": "normal"}, []),
        (change("job.cancelled", fields=["status"]), {"status": "cancelled"}, [("cancelled", ME)]),
        (change("job.rescheduled", fields=["scheduled_at"]), {}, [("rescheduled", ME)]),
        (
            change("job.reprioritised", fields=["priority"]),
            {"priority": "urgent"},
            [("urgent", ME)],
        ),
        (change("job.reprioritised", fields=["priority"]), {"priority": "high"}, []),
        (change("job.updated", fields=["notes"]), {}, []),
        (change("job.status_changed", actor_id=ME, fields=["status"]), {}, []),
        (change("job.assigned", actor_id=ME), {"priority": "normal"}, []),
        (change("job.assigned"), {"priority": "urgent", "status": "completed"}, []),
    ],
)
def test_which_change_rings_whose_phone(
    row: dict[str, Any], job: dict[str, Any], wanted: list[tuple[str, str]]
) -> None:
    assert [(p.kind, p.user_id) for p in job_pushes(row, job)] == wanted


def test_a_change_to_a_job_gone_rings_nobody() -> None:
    assert job_pushes(change("job.assigned"), None) == []


@pytest.mark.parametrize(
    ("quiet", "now_local", "until_local"),
    [
        (("22:00", "07:00"), "22:00", "07:00"),  # spans midnight: ends tomorrow
        (("22:00", "07:00"), "03:30", "07:00"),  # after midnight: ends today
        (("22:00", "07:00"), "07:00", None),
        (("22:00", "07:00"), "21:59", None),
        (("12:00", "13:00"), "12:30", "13:00"),
        (("12:00", "13:00"), "13:30", None),
    ],
)
def test_quiet_hours_hold_until_their_end_in_bangkok_time(
    quiet: tuple[str, str], now_local: str, until_local: str | None
) -> None:
    hours, minutes = (int(x) for x in now_local.split(":"))
    now = datetime(2026, 11, 27, hours, minutes, tzinfo=BANGKOK)
    preference = {"quiet_from": quiet[0], "quiet_until": quiet[1]}
    held = held_until(preference, now)
    if until_local is None:
        assert held is None
    else:
        assert held is not None and held > now and held - now <= timedelta(hours=24)
        assert held.astimezone(BANGKOK).strftime("%H:%M") == until_local
    assert held_until(None, now) is None


def test_opting_out_never_silences_urgent_work_or_messages() -> None:
    everything = {"opted_out": ["assigned", "cancelled", "urgent", "message"]}
    assert opted_out(everything, "assigned") and opted_out(everything, "cancelled")
    assert not opted_out(everything, "urgent") and not opted_out(everything, "message")


def _settle(status: int | None, attempts: int = 1, retry_after: str | None = None) -> Any:
    return settle(Answer(status, retry_after), attempts, NOW, LATER, max_attempts=3, first_retry=5)


def test_each_answer_means_what_the_protocol_says() -> None:
    assert _settle(201).state == "accepted"
    gone = _settle(410)
    assert gone.state == "failed" and gone.prune
    assert _settle(404).prune
    assert _settle(413).reason == "payload too large (413)"
    assert _settle(400).state == "failed" and not _settle(400).prune
    assert _settle(307).reason == "push service redirected (307): not followed"
    assert "VAPID" in (_settle(403).reason or "")
    throttled = _settle(429, retry_after="30")
    assert throttled.state == "queued" and throttled.next_attempt_at == NOW + timedelta(seconds=30)
    dated = _settle(429, retry_after="Fri, 27 Nov 2026 15:02:00 GMT")
    assert dated.next_attempt_at == NOW + timedelta(minutes=2)
    assert _settle(429).next_attempt_at == NOW + timedelta(minutes=1)
    assert _settle(500, attempts=1).next_attempt_at == NOW + timedelta(seconds=5)
    assert _settle(503, attempts=2).next_attempt_at == NOW + timedelta(seconds=10)
    assert _settle(None, attempts=2).state == "queued"
    assert "gave up after 3 tries" in (_settle(500, attempts=3).reason or "")
    soon = NOW + timedelta(seconds=10)
    expired = settle(Answer(429, "30"), 1, NOW, soon, max_attempts=3, first_retry=5)
    assert expired.state == "failed" and "expired" in (expired.reason or "")


def test_a_payload_stays_under_3_kb_in_the_recipients_language() -> None:
    notification = {
        "id": uuid.uuid4(),
        "kind": "message",
        "url": "/",
        "urgency": "normal",
        "change_id": None,
        "job_id": None,
        "topic": None,
        "title": {"th": "ประกาศ", "en": "Notice"},
        "body": {"th": "ก" * 2000, "en": "x" * 2000},
    }
    thai = orjson.loads(payload_of(notification, {"id": uuid.uuid4(), "locale": "th"}))
    english = payload_of(notification, {"id": uuid.uuid4(), "locale": "en"})
    assert thai["title"] == "ประกาศ" and thai["body"].startswith("กก")
    assert len(payload_of(notification, {"id": uuid.uuid4(), "locale": "th"})) <= 3000
    assert orjson.loads(english)["title"] == "Notice"
