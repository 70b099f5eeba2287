"""The notice's version moves with its words: a cleaner who acknowledged one text is shown a
changed one again."""

from __future__ import annotations

import hashlib
import json

from server.privacy_notice.service import NOTICE_VERSION
from server.pwa.translations import NOTICE

TEXTS = {"2026-12-05": "14933bfffbb7a0167f07d2c16e8ac708738e1329b040636428f43cf2f63a4f63"}
"""Each notice version and the SHA-256 of its words: a new text needs a new version here and
in ``NOTICE_VERSION``."""


def test_the_notice_version_moves_with_its_text() -> None:
    words = json.dumps(NOTICE, sort_keys=True, ensure_ascii=False).encode()
    assert TEXTS.get(NOTICE_VERSION) == hashlib.sha256(words).hexdigest(), (
        "the notice's words changed: bump NOTICE_VERSION and record the new text's hash here"
    )


def test_the_notice_says_the_same_things_in_thai_and_english() -> None:
    assert NOTICE["th"].keys() == NOTICE["en"].keys()
    for locale in NOTICE.values():
        assert "{checkInLocationDays}" in locale["howLong"]
        assert "{photoLocationDays}" in locale["howLong"]
