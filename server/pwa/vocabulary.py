"""The names the app and the server share, each written once, here or in the module that owns
it, and rendered into the app: ``python -m cdn.build`` writes :func:`for_app` into the
``vocabulary.js`` module that the app's other modules, the service worker's included, read.

=================  ==========================================================================
roles' screens     server/core/access.py: ``family_of`` (field or office screens per role)
live events        server/live/events.py: ``EVENT_NAMES`` (the app redraws on each), ``CLOSING``
job statuses       server/core/schemas.py: ``JobStatus``; the board's columns are all but
                   cancelled
field steps        server/jobs/states.py: ``FIELD_STEPS``, and what a problem, an arrival and
                   a finish mean for the app (``ON_HOLD``, ``ARRIVAL_MOVES``,
                   ``PROBLEM_REPORTABLE``, ``ASSIGNABLE``, ``FINISHED``, ``can_reopen``);
                   server/jobs/schemas.py: ``MAX_CREW``
problem reasons    server/core/schemas.py: ``ProblemReason``, in the order to offer them
priorities         server/core/inputs.py: ``Priority``
translations       server/pwa/translations.py: the screens, the statuses, the manifest (the
                   app's ``translations.js``)
problem codes      server/errors.py: the codes whose answer the app tells apart from a failure
                   (a wrong current password is not a lost session)
passwords          server/auth: the invite and reset links' page (``LINK_PATH``) and a new
                   password's lengths (``SetPasswordRequest``)
caches, locks,     here: the Cache Storage names, the Web Locks, the Background Sync tag, the
storage, messages  IndexedDB and localStorage names, the worker's messages to its pages
vault, share       here: the offline vault's PIN rules, the share target's limits
privacy notice     server/privacy_notice/service.py: ``NOTICE_VERSION``
=================  ==========================================================================
"""

from __future__ import annotations

from typing import Any, Final, get_args

from server.auth.password_links import LINK_PATH
from server.auth.schemas import SetPasswordRequest
from server.core.access import Role, family_of
from server.core.inputs import Priority
from server.core.schemas import JobStatus, ProblemReason
from server.errors import InvalidCredentials, PasswordLinkInvalid, StaleNotice
from server.jobs.schemas import MAX_CREW
from server.jobs.states import (
    ARRIVAL_MOVES,
    ASSIGNABLE,
    FIELD_STEPS,
    FINISHED,
    ON_HOLD,
    PROBLEM_REPORTABLE,
    can_reopen,
    status_after_check_in,
)
from server.live.events import CLOSING, EVENT_NAMES
from server.privacy_notice.service import NOTICE_VERSION

FAMILY: Final = "tinedy-"
"""Every cache of the app's is named so; a worker deletes those of its family it does not keep."""
CACHES: Final = {
    "shell": FAMILY + "shell-",  # then the build's version: a new build brings a new cache
    "data": FAMILY + "data",  # sealed job data; outlives deploys
    "shareInbox": FAMILY + "share-inbox",  # photos shared from the camera app, not yet placed
}
LOCKS: Final = {
    "refresh": FAMILY + "refresh",
    "outbox": FAMILY + "outbox",
    "photos": FAMILY + "photos",
    "receipts": FAMILY + "receipts",
}
MODULES: Final = FAMILY + "modules"
"""The page's modules, kept on ``globalThis`` under this name so the office's script (the
dispatch board, fetched only by dispatchers and admins) joins the same ones."""
SYNC_TAG: Final = FAMILY + "outbox"
"""The Background Sync tag on which the worker sends what waits (outbox, photos, receipts)."""
STORAGE: Final = {"vault": FAMILY + "vault", "user": FAMILY + "user", "notice": FAMILY + "notice"}
MESSAGES: Final = {
    "sent": "sent",  # the worker sent what waited
    "pushed": "pushed",  # a push came and the worker fetched the news
    "refreshed": "refreshed",  # a kept answer the page showed has changed
    "open": "open",  # a notification was tapped: show its URL
    "key": "key",  # (page to worker) the vault's key, a non-extractable CryptoKey, in memory
    "wipe": "wipe",  # (page to worker) signing out: forget the key
}
"""The ``type`` of each message between the service worker and its pages."""
VAULT: Final = {
    "pinLength": {"min": 6, "max": 12},
    "iterations": 600_000,  # PBKDF2-HMAC-SHA-256, OWASP's 2023 figure (SECURITY.md, finding 7)
    "tries": 5,  # wrong PINs in a row that erase the vault
    "maxAgeHours": 48,  # kept job data is shown offline this long after the server's key
}
"""The offline vault's rules (cdn/src/seal.js, vault.js): its PIN, the PIN's key derivation,
the lockout, and how long after the server last issued the key kept data may be shown."""
SHARE: Final = {"files": 10, "bytes": 60 * 1_048_576}
"""The most a share from another app may bring to the worker's share inbox (files, bytes)."""
PAGES: Final = {"setPassword": LINK_PATH}
"""Paths that open the app's page (as ``/`` does) on a screen of their own: the invite and
reset links the CRM sends are ``/set-password#token=...``."""
_NEW_PASSWORD: Final = SetPasswordRequest.model_json_schema()["properties"]["password"]
PASSWORD_LENGTH: Final = {"min": _NEW_PASSWORD["minLength"], "max": _NEW_PASSWORD["maxLength"]}
"""The lengths a new password may have, as the server checks them (the app checks first)."""
PROBLEMS: Final = {
    "wrongPassword": InvalidCredentials.code,  # a 401 that is an answer, not a lost session
    "passwordLink": PasswordLinkInvalid.code,
    "staleNotice": StaleNotice.code,  # the privacy notice changed while it was shown
}

STATUSES: Final = get_args(JobStatus)
BOARD: Final = tuple(status for status in STATUSES if status != "cancelled")


def for_app() -> dict[str, Any]:
    """What ``vocabulary.js`` holds: the same bytes for the same server, so the build that
    writes it is repeatable (its name carries its hash)."""
    return {
        "events": sorted(EVENT_NAMES),
        "closing": CLOSING,
        "statuses": list(STATUSES),
        "board": list(BOARD),
        "steps": dict(FIELD_STEPS),
        "onHold": ON_HOLD,
        "arrival": {
            "from": sorted(ARRIVAL_MOVES),
            "to": status_after_check_in(sorted(ARRIVAL_MOVES)[0], "in"),
        },
        "reportable": sorted(PROBLEM_REPORTABLE),
        "assignable": [status for status in STATUSES if status in ASSIGNABLE],
        "finished": sorted(FINISHED),
        "reopenable": [status for status in STATUSES if can_reopen(status)],
        "largestCrew": MAX_CREW,
        "reasons": list(get_args(ProblemReason)),
        "priorities": list(get_args(Priority)),
        "caches": CACHES,
        "family": FAMILY,
        "locks": LOCKS,
        "syncTag": SYNC_TAG,
        "modules": MODULES,
        "storage": STORAGE,
        "messages": MESSAGES,
        "pages": PAGES,
        "passwordLength": PASSWORD_LENGTH,
        "problems": PROBLEMS,
        "families": {role.value: family_of(role) for role in Role},
        "vault": VAULT,
        "share": SHARE,
        "noticeVersion": NOTICE_VERSION,
    }
