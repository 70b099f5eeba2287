"""Where a webhook may point, and what a receiver's answer does to a delivery: plain rules."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.webhooks import plans
from server.webhooks.guard import (
    UrlRefused,
    allowed_origins,
    check_form,
    origin_of,
    refused_address,
    refused_literal,
)

LISTED = allowed_origins(("http://127.0.0.1:9000", "https://crm.office.lan"))
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "address",
    [
        *("10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254", "0.0.0.0"),
        *("100.64.0.1", "224.0.0.1", "240.0.0.1", "::1", "fe80::1", "fc00::1", "ff02::1"),
        *("::ffff:10.0.0.1", "255.255.255.255"),
    ],
)
def test_inward_addresses_are_refused(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "203.0.114.1", "2606:4700:4700::1111"])
def test_public_addresses_are_not(address: str) -> None:
    assert not refused_address(ipaddress.ip_address(address))


def test_origins_are_compared_with_their_ports_written() -> None:
    assert origin_of("https://CRM.example.com/hooks?x=1") == "https://crm.example.com:443"
    assert origin_of("http://127.0.0.1:9000/a") == "http://127.0.0.1:9000"
    assert origin_of("https://crm.office.lan/hooks") in LISTED


@pytest.mark.parametrize(
    "url",
    [
        "http://crm.example.com/hooks",  # plain http to an unlisted origin
        "http://127.0.0.1:9001/hooks",  # a listed host on another port
        "ftp://crm.example.com/hooks",
        "https://user:pw@crm.example.com/hooks",
        "https:///hooks",
        "https://crm.example.com/hooks#part",
    ],
)
def test_urls_that_may_never_be_used(url: str) -> None:
    with pytest.raises(UrlRefused):
        check_form(url, LISTED)


def test_listed_origins_may_be_plain_http_and_inward() -> None:
    assert check_form("http://127.0.0.1:9000/hooks", LISTED)[1] is True
    assert refused_literal("http://127.0.0.1:9000/hooks", LISTED) is None
    assert refused_literal("https://10.0.0.8/hooks", LISTED) is not None
    assert refused_literal("https://[::1]:8443/hooks", LISTED) is not None
    assert refused_literal("https://8.8.8.8/hooks", LISTED) is None


def test_only_a_2xx_delivers_and_failures_back_off_to_an_hour() -> None:
    retries = plans.retry_policy(5)
    assert plans.settle(plans.Answer(204), 1, NOW, retries).state == "delivered"
    failed = plans.settle(plans.Answer(500, "boom"), 1, NOW, retries)
    assert (failed.state, failed.error) == ("queued", "answered 500: boom")
    assert failed.next_attempt_at == NOW + timedelta(seconds=5)
    later = plans.settle(plans.Answer(None, "timed out"), 3, NOW, retries)
    assert later.next_attempt_at == NOW + timedelta(seconds=20)
    assert later.error == "no answer: timed out"
    last = plans.settle(plans.Answer(503), 40, NOW, retries)
    assert last.next_attempt_at == NOW + timedelta(hours=1)
    moved = plans.settle(plans.Answer(301), 1, NOW, retries)
    assert moved.state == "queued" and "not followed" in moved.error


def test_an_endpoint_is_disabled_only_after_failing_long_enough() -> None:
    after = timedelta(hours=72)
    assert not plans.disables(None, NOW, after)
    assert not plans.disables(NOW - timedelta(hours=71), NOW, after)
    assert plans.disables(NOW - timedelta(hours=72), NOW, after)


def test_a_jobs_later_events_wait_for_its_first_queued_one() -> None:
    def row(event_id: int, job: str | None, due: int, leased: int | None = None) -> dict[str, Any]:
        return {
            "id": f"d{event_id}",
            "endpoint_id": "e1",
            "job_id": job,
            "event_id": event_id,
            "next_attempt_at": NOW + timedelta(seconds=due),
            "lease_until": None if leased is None else NOW + timedelta(seconds=leased),
        }

    queue = [
        row(1, "a", 30),  # retrying later: a's later events wait
        row(2, "a", 0),
        row(3, "b", 0, leased=10),  # in flight: b's later events wait
        row(4, "b", 0),
        row(5, "c", -5),
        row(6, None, 0),  # no job: nothing to wait for
        row(7, "c", 0),
    ]
    picked, soonest = plans.claimable(queue, NOW, 10)
    assert picked == ["d5", "d6"]
    assert soonest == NOW + timedelta(seconds=10)
    assert plans.claimable(queue, NOW, 1)[0] == ["d5"]
