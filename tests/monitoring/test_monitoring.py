"""The Grafana dashboard and the Prometheus alert rules in monitoring/ name only metrics the
server really exposes: a real server on loopback (with its photo processor and push sender
beside it) does a day's kinds of work, and its /metrics, parsed as Prometheus parses it, has
every name each rule expression and each panel query uses. promtool checks the rules' syntax
and runs their unit tests (monitoring/prometheus/rules_test.yml)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from server.cluster.processes import stop
from tests.photos.camera import camera_photo
from tests.push.push_service import PushService
from tests.requirements import require_tool
from tests.servers import ROOT, STOP_SECONDS, sign_in, start_instance, wait_for
from tests.world import World, add_jobs, add_staff

PROMETHEUS = ROOT / "monitoring" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "rules_test.yml"
DASHBOARD = ROOT / "monitoring" / "grafana" / "tinedy.json"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"
METRIC_NAME = re.compile(r"\btinedy_[a-z0-9_]+\b")
PROMETHEUS_OWN = {"up"}  # what Prometheus records about each scrape itself


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def panel_queries() -> dict[str, str]:
    """Every query of the dashboard (panels and variables), by where it is."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = {
        f"{panel['title']} {target['refId']}": target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    }
    for variable in dashboard["templating"]["list"]:
        queries[f"variable {variable['name']}"] = variable["query"]["query"]
    return queries


def names_in(expression: str) -> set[str]:
    found = set(METRIC_NAME.findall(expression))
    return found | {name for name in PROMETHEUS_OWN if re.search(rf"\b{name}\{{", expression)}


def exposed_names(text: str) -> set[str]:
    """Sample names as Prometheus stores them (a histogram's ``_bucket``, ``_sum``, ``_count``;
    a counter's ``_total``)."""
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


async def do_a_days_work(client: httpx.AsyncClient, world: World, push: PushService) -> None:
    """A sync with a conflict, a photo processed, a push sent, and a throttled sign-in."""
    staff = await add_staff(world)
    job, cancelled = await add_jobs(staff, 2)
    phone = await sign_in(client, staff)
    office = await sign_in(client, world.dispatcher)
    await sync_with_a_conflict(client, phone, office, job["id"], cancelled["id"])
    await process_a_photo(client, phone, job["id"])
    subscription = push.new_subscription()
    assert (await client.post(SUBSCRIBE, json=subscription, headers=phone)).status_code == 201
    message = {"userIds": [staff["id"]], "title": "ประชุมทีม"}
    assert (await client.post(NOTIFY, json=message, headers=office)).status_code == 202
    await push.wait_for(1)
    await sign_in_until_throttled(client, (await add_staff(world))["email"])


SYNC = "/api/mobile/sync"
SUBSCRIBE = "/api/mobile/push/subscriptions"
NOTIFY = "/api/mobile/notifications/send"


async def sync_with_a_conflict(
    client: httpx.AsyncClient,
    phone: dict[str, str],
    office: dict[str, str],
    job_id: str,
    cancelled_id: str,
) -> None:
    versions = {}
    for job in (job_id, cancelled_id):
        answer = await client.get(f"/api/mobile/jobs/{job}", headers=phone)
        versions[job] = answer.json()["job"]["version"]
    edit = await client.patch(
        f"/api/dispatch/jobs/{cancelled_id}", json={"status": "cancelled"}, headers=office
    )
    assert edit.status_code == 200, edit.text
    now = datetime.now(UTC).isoformat()
    updates = [
        {
            "mutationId": str(uuid.uuid4()),
            "jobId": job,
            "baseVersion": versions[job],
            "clientTimestamp": now,
            "status": "en_route",
        }
        for job in (job_id, cancelled_id)
    ]
    batch = {"deviceId": "phone-1", "deviceTime": now, "pendingUpdates": updates}
    answer = await client.post(SYNC, json=batch, headers=phone)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["conflicts"]) == 1, answer.text


async def process_a_photo(client: httpx.AsyncClient, phone: dict[str, str], job_id: str) -> None:
    asked = await client.post(
        f"/api/mobile/jobs/{job_id}/photos/upload-url",
        json={"kind": "before", "contentType": "image/jpeg"},
        headers=phone,
    )
    assert asked.status_code == 201, asked.text
    grant = asked.json()
    body = camera_photo("JPEG", (320, 240))
    jpeg = {"Content-Type": "image/jpeg"}
    sent = await client.put(grant["uploadUrl"], content=body, headers=jpeg)
    assert sent.status_code == 202, sent.text

    async def ready() -> bool:
        detail = (await client.get(f"/api/mobile/jobs/{job_id}", headers=phone)).json()
        return any(p["status"] == "ready" for p in detail["photos"])

    await wait_for(ready, "the photo to be processed", 30)


async def sign_in_until_throttled(client: httpx.AsyncClient, email: str) -> None:
    for _ in range(10):
        wrong = {"email": email, "password": "not the password"}
        if (await client.post("/api/mobile/auth/login", json=wrong)).status_code == 429:
            return
    raise AssertionError("ten wrong passwords were never throttled")


def counted(text: str) -> dict[tuple[str, str], float]:
    """Each sample's value by its name and labels as Prometheus writes them."""
    return {
        (sample.name, ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def work_seen(push_origin: str) -> list[tuple[str, str]]:
    """Samples the day's work must have moved, the background processes' among them: their
    counts reach /metrics through the shared files."""
    return [
        ("tinedy_sync_mutations_total", "kind=update,outcome=applied"),
        ("tinedy_sync_conflicts_total", "code=job_cancelled"),
        ("tinedy_photo_results_total", "result=ready"),
        ("tinedy_push_results_total", f"push_service={push_origin},result=accepted"),
        ("tinedy_throttled_requests_total", "route_class=sign_in_failures"),
    ]


async def scraped_after(client: httpx.AsyncClient, needed: list[tuple[str, str]]) -> str:
    """/metrics once every ``needed`` sample counts at least one (bounded wait)."""
    text = ""
    for _ in range(100):
        text = (await client.get("/metrics")).text
        if all(counted(text).get(sample, 0) >= 1 for sample in needed):
            return text
        await asyncio.sleep(0.1)
    missing = [sample for sample in needed if counted(text).get(sample, 0) < 1]
    raise AssertionError(f"the day's work is not counted on /metrics: {missing}")


async def test_every_rule_and_panel_names_metrics_the_server_exposes(
    database_url: str, world: World, tmp_path: Path, push_service: PushService
) -> None:
    settings = {
        "PUSH_SENDERS": "1",
        "PUSH_SERVICE_HOSTS": push_service.origin,
        "PUSH_POLL_SECONDS": "0.05",
        "PHOTO_PROCESSING_WORKERS": "1",
        "LOGIN_FAILURES_PER_ACCOUNT": "2 per 15 minutes",
    }
    process, base = await start_instance(
        database_url, tmp_path / "app", tmp_path / "app.log", settings
    )
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await do_a_days_work(client, world, push_service)
            text = await scraped_after(client, work_seen(push_service.origin))
    finally:
        stop([process], timeout=STOP_SECONDS)
    exposed = exposed_names(text) | PROMETHEUS_OWN
    queries = {f"rule {rule['alert']}": rule["expr"] for rule in rules()} | panel_queries()
    missing = {
        where: sorted(names_in(query) - exposed)
        for where, query in queries.items()
        if names_in(query) - exposed
    }
    assert missing == {}, f"not on /metrics: {missing}"
    assert all(names_in(query) for query in queries.values()), "each query names a metric"
    families = {family.name for family in text_string_to_metric_families(text)}
    documented = OPERATIONS_DOC.read_text()
    assert [f for f in sorted(families) if f"`{f}" not in documented] == [], "in the docs"


def promtool() -> str:
    return require_tool("promtool", "apt-get install prometheus (Debian's package ships it)")


def test_promtool_accepts_the_rules() -> None:
    checked = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_unit_tests_fire_every_rule() -> None:
    tested = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROMETHEUS,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    }
    assert fired == {rule["alert"] for rule in rules()}
