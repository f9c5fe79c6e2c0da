"""Settings from the environment: the embedded default, PostgreSQL, and the app role's URL."""

from __future__ import annotations

import pytest

from app.settings import Settings, SettingsError

SECRET = "a-secret-of-at-least-16-characters"


def test_no_database_url_selects_the_embedded_default_with_a_random_secret() -> None:
    first, second = Settings.from_env({}), Settings.from_env({})
    assert first.embedded and first.database_url == ""
    assert first.secret_key != second.secret_key


def test_requests_run_as_the_app_role_when_app_database_url_is_unset() -> None:
    owner = "postgres://owner:pw@db.example:5433/cs?sslmode=require"
    settings = Settings.from_env({"DATABASE_URL": owner, "SECRET_KEY": SECRET})
    assert not settings.embedded
    assert (
        settings.database_url == "postgresql+asyncpg://owner:pw@db.example:5433/cs?sslmode=require"
    )
    assert settings.request_database_url == (
        "postgresql+asyncpg://collabspace_app@db.example:5433/cs?sslmode=require"
    )


def test_an_explicit_app_database_url_is_used_as_given() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://owner@db/cs",
            "APP_DATABASE_URL": "postgresql://collabspace_app:secret@db/cs",
            "SECRET_KEY": SECRET,
        }
    )
    assert settings.request_database_url == "postgresql+asyncpg://collabspace_app:secret@db/cs"


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": "sqlite:///./var/collabspace.db", "SECRET_KEY": SECRET},
        {"DATABASE_URL": "postgresql://owner@db/cs"},
        {"APP_DATABASE_URL": "postgresql://collabspace_app@db/cs"},
    ],
    ids=["not PostgreSQL", "PostgreSQL without SECRET_KEY", "app role without DATABASE_URL"],
)
def test_misconfigurations_are_refused_at_start_up(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)
