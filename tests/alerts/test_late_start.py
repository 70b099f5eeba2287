"""Late starts, found by the planner's scan on a fixed clock: an assigned job nobody set out
for ``LATE_START_MINUTES`` after its start is late, once; rescheduled, it can be late again;
one somebody set out for, or one from days ago, is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.alerts.planner import AlertPlanner
from server.context import AppContext
from tests.alerts.conftest import Branch
from tests.world import add_jobs

START = datetime(2030, 6, 15, 1, 0, tzinfo=UTC)  # 08:00 in Bangkok; no other test's jobs


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def scan(planner: AlertPlanner, clock: FixedClock, minutes: float) -> None:
    clock.at = START + timedelta(minutes=minutes)
    await planner.work_once()


async def test_an_assigned_job_nobody_set_out_for_is_late_once(
    ctx: AppContext, branch: Branch
) -> None:
    assert ctx.settings.late_start_minutes == 20
    clock = FixedClock(START)
    planner = AlertPlanner(ctx.settings.model_copy(update={"alert_poll_seconds": 0}), clock)
    late, urgent, under_way = await add_jobs(branch.staff, 3, start=START, step=timedelta(0))
    assert (await branch.dispatcher.edit(urgent["id"], priority="urgent")).status_code == 200
    await branch.phone.sync(branch.phone.update(under_way["id"], 1, status="en_route"))

    await scan(planner, clock, 19)
    assert await branch.alerts() == []

    await scan(planner, clock, 21)
    alerts = {alert["jobId"]: alert for alert in await branch.alerts()}
    assert sorted(alerts) == sorted([late["id"], urgent["id"]])
    assert {alert["kind"] for alert in alerts.values()} == {"late_start"}
    assert (alerts[late["id"]]["urgent"], alerts[urgent["id"]]["urgent"]) == (False, True)
    assert alerts[late["id"]]["detail"] == {
        "scheduledAt": "2030-06-15T08:00:00+07:00",
        "minutesLate": 21,
        "assigneeIds": [branch.staff["id"]],
    }

    await scan(planner, clock, 45)
    assert len(await branch.alerts("all")) == 2, "not twice"


async def test_a_rescheduled_job_can_be_late_again(ctx: AppContext, branch: Branch) -> None:
    clock = FixedClock(START)
    planner = AlertPlanner(ctx.settings.model_copy(update={"alert_poll_seconds": 0}), clock)
    job = (await add_jobs(branch.staff, 1, start=START))[0]
    await scan(planner, clock, 21)
    [first] = await branch.alerts()

    later = (START + timedelta(hours=1)).isoformat()
    assert (await branch.dispatcher.edit(job["id"], scheduledDate=later)).status_code == 200
    await scan(planner, clock, 60 + 19)
    assert [alert["id"] for alert in await branch.alerts()] == [first["id"]]

    await scan(planner, clock, 60 + 21)
    second, _ = await branch.alerts()
    assert second["detail"]["scheduledAt"] == "2030-06-15T09:00:00+07:00"


async def test_the_scan_looks_back_one_day_only(ctx: AppContext, branch: Branch) -> None:
    clock = FixedClock(START)
    planner = AlertPlanner(ctx.settings.model_copy(update={"alert_poll_seconds": 0}), clock)
    await add_jobs(branch.staff, 1, start=START - timedelta(days=1, minutes=1))
    await scan(planner, clock, 0)
    assert await branch.alerts() == []
