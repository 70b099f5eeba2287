"""The app's page at the paths that open it on a screen of its own (an invite or reset link's
``/set-password``), and its words: every one the app asks for exists in Thai and in English."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from server.http.security_headers import SHELL_POLICY
from server.pwa import translations, vocabulary

SOURCES = sorted((Path(__file__).resolve().parents[2] / "cdn" / "src").glob("*.js"))


async def test_an_invite_link_opens_the_app_shell_for_a_visitor(client: httpx.AsyncClient) -> None:
    shell = await client.get("/")
    page = await client.get(vocabulary.PAGES["setPassword"])
    assert page.status_code == 200
    assert page.content == shell.content
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["content-security-policy"] == SHELL_POLICY
    again = await client.get(
        vocabulary.PAGES["setPassword"], headers={"If-None-Match": page.headers["etag"]}
    )
    assert again.status_code == 304


def test_both_languages_have_every_word() -> None:
    for words in translations.for_app().values():
        thai, english = words["th"], words["en"]
        assert thai.keys() == english.keys()
        assert all(text.strip() for text in [*thai.values(), *english.values()])


def test_every_word_the_app_asks_for_is_translated() -> None:
    asked = {key for source in SOURCES for key in re.findall(r'\bt\("(\w+)"\)', source.read_text())}
    assert {"setPassword", "forgotSent", "wrongPassword", "noSignal"} <= asked
    assert asked - translations.SCREENS["en"].keys() == set()
