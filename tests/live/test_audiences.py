"""The hub's fan-out by audience, in-process: streams that hear the same events share one
encoding of each, written straight to their connections while those keep up, and grouping
never widens what a stream hears (a job's former assignee, a revoked session among its
person's other devices, a person who moved team)."""

from __future__ import annotations

from typing import Any

from server.core.access import Principal, Role
from server.jobs.service import job_summaries
from server.live.events import Event
from server.live.hub import LiveHub, Subscriber

SOUTH, NORTH = "b-south", "b-north"
TEAM, OTHER_TEAM = "t-south-1", "t-south-2"
ME, BEFORE = "u-assignee", "u-previous"
JOB = {"id": "j-south-1", "title": "Deep clean", "priority": "normal", "assigneeIds": [ME]}


class Connection:
    """What a stream's connection was handed directly; ``busy`` refuses, as a connection
    with unsent bytes does."""

    def __init__(self) -> None:
        self.written: list[Event] = []
        self.busy = False

    def sink(self, event: Event) -> bool:
        if self.busy:
            return False
        self.written.append(event)
        return True


def job_row(change_id: int, kind: str = "job.updated", left: str | None = None) -> dict[str, Any]:
    """A south job's change; its crew is ``ME``, taken from ``left`` by this change."""
    return {
        "id": change_id,
        "kind": kind,
        "job_id": JOB["id"],
        "branch_id": SOUTH,
        "assignee_id": ME,
        "previous_assignee_id": left,
        "device_id": None,
        "payload": {
            "crew": [ME],
            **({"left": [left]} if left else {}),
            "job": JOB,
            "fields": {"notes": "x"},
        },
    }


def team_update(change_id: int, team: str) -> dict[str, Any]:
    return {
        "id": change_id,
        "kind": "team.update",
        "job_id": None,
        "branch_id": SOUTH,
        "assignee_id": None,
        "previous_assignee_id": None,
        "device_id": None,
        "payload": {"teamId": team, "message": f"message {change_id}"},
    }


def revoked(change_id: int, device: str) -> dict[str, Any]:
    return {
        "id": change_id,
        "kind": "session.revoked",
        "job_id": None,
        "branch_id": None,
        "assignee_id": None,
        "previous_assignee_id": None,
        "device_id": device,
        "payload": {},
    }


def live(hub: LiveHub, principal: Principal) -> tuple[Subscriber, Connection]:
    """A stream that has caught up: the hub writes to its connection."""
    subscriber, connection = hub.subscribe(principal), Connection()
    subscriber.sink = connection.sink
    return subscriber, connection


async def test_streams_of_one_audience_share_each_event_s_bytes() -> None:
    hub = LiveHub(job_summaries, queue_limit=8)
    office = [
        live(hub, Principal(f"u-office-{n}", f"d-office-{n}", Role.DISPATCHER, SOUTH, None))
        for n in range(3)
    ]
    admin = live(hub, Principal("u-admin", "d-admin", Role.ADMIN, None, None))
    crew = [live(hub, Principal(ME, f"d-me-{n}", Role.STAFF, SOUTH, TEAM)) for n in range(2)]
    bystander = live(hub, Principal("u-other", "d-other", Role.STAFF, SOUTH, TEAM))
    north = live(hub, Principal("u-north", "d-north", Role.DISPATCHER, NORTH, None))
    assert hub.audiences == 5, "the branch's dispatchers are one audience, ME's phones one"

    await hub.publish([job_row(1)])

    heard = [c.written for _, c in [*office, admin, *crew]]
    assert all(len(events) == 1 for events in heard)
    first = heard[0][0]
    assert all(events[0] is first for events in heard), "encoded once, handed to every stream"
    assert first.sse_chunk is first.sse_chunk and first.ws_message is first.ws_message
    assert bystander[1].written == [] and north[1].written == []
    assert all(s.waiting == 0 for s, _ in [*office, admin, *crew]), "no task had to wake"


async def test_a_job_s_former_assignee_hears_only_that_it_left_them() -> None:
    hub = LiveHub(job_summaries, queue_limit=8)
    former = [
        live(hub, Principal(BEFORE, f"d-before-{n}", Role.STAFF, SOUTH, TEAM)) for n in (1, 2)
    ]
    taker = live(hub, Principal(ME, "d-me", Role.STAFF, SOUTH, TEAM))

    await hub.publish([job_row(1, "job.assigned", left=BEFORE)])

    for _, connection in former:
        [event] = connection.written
        assert event.name == "job-unassigned"
        assert b"Deep clean" not in event.sse and b"removed" in event.sse
    [event] = taker[1].written
    assert event.name == "job-assigned" and b"Deep clean" in event.sse


async def test_a_revoked_session_ends_its_own_streams_not_its_person_s_others() -> None:
    hub = LiveHub(job_summaries, queue_limit=8)
    revoked_phone = live(hub, Principal(ME, "d-lost", Role.STAFF, SOUTH, TEAM))
    kept_phone = live(hub, Principal(ME, "d-kept", Role.STAFF, SOUTH, TEAM))

    await hub.publish([revoked(1, "d-lost"), job_row(2)])

    assert revoked_phone[0].ended == "session_revoked"
    assert revoked_phone[1].written == [], "nothing after the revocation"
    assert kept_phone[0].ended is None
    assert [e.id for e in kept_phone[1].written] == [2]


async def test_one_who_moved_team_hears_the_new_team_only() -> None:
    hub = LiveHub(job_summaries, queue_limit=8)
    before, _ = live(hub, Principal(ME, "d-me", Role.STAFF, SOUTH, TEAM))
    hub.unsubscribe(before)  # ended by the move; the phone reconnects with a new token
    assert hub.audiences == 0, "an audience with no stream is forgotten"
    _, after = live(hub, Principal(ME, "d-me", Role.STAFF, SOUTH, OTHER_TEAM))

    await hub.publish([team_update(1, TEAM), team_update(2, OTHER_TEAM)])

    assert [e.id for e in after.written] == [2]


async def test_a_busy_connection_gets_its_events_in_order_then_directly_again() -> None:
    hub = LiveHub(job_summaries, queue_limit=8)
    subscriber, connection = live(hub, Principal(ME, "d-me", Role.STAFF, SOUTH, TEAM))

    connection.busy = True
    await hub.publish([team_update(1, TEAM)])
    connection.busy = False
    await hub.publish([team_update(2, TEAM)])
    assert connection.written == [], "behind what waits, not around it"
    taken = [subscriber.take(), subscriber.take()]
    assert [e.id for e in taken if e is not None] == [1, 2]

    await hub.publish([team_update(3, TEAM)])
    assert [e.id for e in connection.written] == [3]


async def test_a_connection_that_stays_busy_is_dropped() -> None:
    hub = LiveHub(job_summaries, queue_limit=8)
    subscriber, connection = live(hub, Principal(ME, "d-me", Role.STAFF, SOUTH, TEAM))
    connection.busy = True

    await hub.publish([team_update(n, TEAM) for n in range(1, 20)])

    assert subscriber.ended == "too_slow" and subscriber.waiting == 0
    connection.busy = False
    await hub.publish([team_update(20, TEAM)])
    assert connection.written == [], "an ended stream is written nothing more"
