"""One source per vocabulary: the names the app shares with the server (live events, statuses,
cache and lock names, translations) are the server's, rendered into the app by the build
(``vocabulary.js``, ``translations.js``, which the service worker reads too); the app's
sources hold no copy, and the app listens to every event the server can send."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from server.core.access import Principal, Role
from server.live.events import NAMES, event_name
from server.live.stream import reset
from server.pwa import translations, vocabulary
from tests.conftest import APP_SHELL

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "cdn" / "src").glob("*.js")), ROOT / "sw_templates" / "sw.js.j2"]
ME, SOMEONE, BRANCH, TEAM = "u-me", "u-other", "b-south", "t-south"


def built(module: str = "vocabulary.js") -> dict[str, Any]:
    """The vocabulary (or the translations) as the app reads it: the object its module holds
    in the page's one script."""
    manifest = json.loads((APP_SHELL / "asset-manifest.json").read_text())
    script = (APP_SHELL / manifest["assets"]["app.js"]["path"].lstrip("/")).read_text()
    held = script[script.index(f"modules[{json.dumps(module)}] = ") :]
    words: dict[str, Any] = json.JSONDecoder().raw_decode(held[held.index("freeze(") + 7 :])[0]
    return words


def every_event_sent() -> set[str]:
    """Every name ``event_name`` gives, for every role, every kind of change (and one it does
    not know), whoever the job's people are and whatever its priority; and the stream's own."""
    principals = [
        Principal(ME, "d", role, BRANCH, TEAM if role is Role.STAFF else None) for role in Role
    ]
    kinds = [*NAMES, "job.some_new_kind"]
    people = [(ME, None), (SOMEONE, ME), (None, ME), (SOMEONE, None)]
    urgency = [({}, None), ({}, "urgent"), ({"fields": {"priority": "urgent"}}, "urgent")]
    sent = {reset(1, "history_compacted").name}
    for principal, kind, (assignee, previous), (fields, priority) in itertools.product(
        principals, kinds, people, urgency
    ):
        row = {
            "kind": kind,
            "job_id": "j-1",
            "assignee_id": assignee,
            "previous_assignee_id": previous,
            "branch_id": BRANCH,
            "payload": {"teamId": TEAM, **fields},
        }
        name = event_name(principal, row, priority)
        if name is not None:
            sent.add(name)
    return sent


def test_the_app_listens_to_every_event_the_server_sends() -> None:
    sent = every_event_sent()
    assert "job-created" in sent and "job-unassigned" in sent  # the table reaches them
    assert sent <= set(built()["events"])


def test_the_app_is_built_from_the_servers_vocabulary_and_translations() -> None:
    assert built() == json.loads(json.dumps(vocabulary.for_app()))
    assert built("translations.js") == translations.for_app()


def shared_words() -> list[str]:
    """The words the app's sources must not spell out: they read them from the vocabulary."""
    words = vocabulary.for_app()
    named = [
        *words["events"],
        words["closing"],
        *words["caches"].values(),
        *words["locks"].values(),
        words["syncTag"],
        *words["storage"].values(),
    ]
    for texts in translations.for_app().values():
        keys = {key for locale in texts.values() for key in locale}
        named += [text for locale in texts.values() for text in locale.values() if text not in keys]
    return sorted(set(named))


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_the_apps_sources_hold_no_copy_of_the_vocabulary(source: Path) -> None:
    code = source.read_text()
    copies = [word for word in shared_words() if re.search(f"[\"'`]{re.escape(word)}", code)]
    assert copies == []
    assert vocabulary.FAMILY not in code


def test_the_service_worker_is_rendered_from_one_config_object() -> None:
    template = (ROOT / "sw_templates" / "sw.js.j2").read_text()
    expressions = re.findall(r"{{.*?}}|{%.*?%}", template)
    assert expressions == ["{{ config.worker | tojson }}", "{{ config | tojson }}"]
