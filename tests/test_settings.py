"""Settings are documented, and the secret is generated once outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from server.config import Settings, load_or_create_secret
from tests.test_docs import markdown_table, plain

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_in_env_example() -> None:
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields == documented


def shown_default(value: object) -> str:
    """A default as the docs write it."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value) or "(empty)"


def test_every_setting_is_in_the_docs_table_with_its_default_and_description() -> None:
    rows = markdown_table(ROOT / "docs" / "configuration.md", ("setting", "default", "meaning"))
    documented = {plain(name): (plain(default), plain(meaning)) for name, default, meaning in rows}
    assert sorted(documented) == sorted(name.upper() for name in Settings.model_fields)
    for name, field in Settings.model_fields.items():
        default, meaning = documented[name.upper()]
        assert default == shown_default(field.default), name
        assert meaning.startswith(plain(field.description or "")), name


def test_the_readmes_settings_are_settings() -> None:
    rows = markdown_table(ROOT / "README.md", ("setting", "default", "meaning"))
    named = {name for row in rows for name in re.findall(r"`(\w+)`", row[0])}
    assert named <= {name.upper() for name in Settings.model_fields}


def test_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    assert len(first) >= 48
    assert load_or_create_secret(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_defaults_are_embedded_sqlite_and_no_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert settings.database_url == f"sqlite:///{tmp_path / 'tinedy.sqlite3'}"
    assert not settings.is_postgres
    assert settings.demo is False
    assert settings.secret_key == (tmp_path / "secret_key").read_text()
