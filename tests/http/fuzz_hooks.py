"""Schemathesis hooks for ``test_openapi_fuzz.py`` (loaded by its command line through
``SCHEMATHESIS_HOOKS``): in half the generated cases, the path ids and the body's references
(at any depth: a sync batch's ``jobId``s too) become real ones from ``FUZZ_KNOWN_IDS`` (a JSON
object of name -> ids), so the fuzzer reaches the code behind the lookups rather than a 404
every time."""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

KNOWN_IDS: dict[str, list[str]] = json.loads(os.environ.get("FUZZ_KNOWN_IDS", "{}"))


def with_real_ids(value: Any, pick: int) -> Any:
    """``value`` with each known reference replaced by real id number ``pick`` (modulo)."""
    if isinstance(value, list):
        return [with_real_ids(item, pick) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: KNOWN_IDS[key][pick % len(KNOWN_IDS[key])]
        if key in KNOWN_IDS
        else with_real_ids(item, pick)
        for key, item in value.items()
    }


def sometimes_real(value: Any) -> st.SearchStrategy[Any]:
    real = st.integers(min_value=0, max_value=999).map(lambda pick: with_real_ids(value, pick))
    return st.one_of(st.just(value), real)


@schemathesis.hook
def flatmap_path_parameters(_context: Any, path_parameters: Any) -> Any:
    return sometimes_real(path_parameters)


@schemathesis.hook
def flatmap_body(_context: Any, body: Any) -> Any:
    return sometimes_real(body)
