"""A lost database connection is a 503 however it is wrapped; a bug stays a 500."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError

from app.main import _is_database_outage


def _raised_while_handling(inner: BaseException, outer: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException:
            raise outer from None
    except BaseException as caught:
        return caught


def test_a_terminated_backend_is_an_outage_even_wrapped_in_another_error() -> None:
    terminated = asyncpg.exceptions.AdminShutdownError("terminating connection")
    assert _is_database_outage(terminated)
    assert _is_database_outage(_raised_while_handling(terminated, RuntimeError("while saving")))


def test_a_sqlalchemy_error_around_a_lost_connection_is_an_outage() -> None:
    lost = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
    wrapped = DBAPIError("SELECT 1", {}, lost, connection_invalidated=False)
    assert _is_database_outage(wrapped)


def test_an_ordinary_bug_is_not_an_outage() -> None:
    assert not _is_database_outage(_raised_while_handling(KeyError("x"), ValueError("bug")))
    assert not _is_database_outage(DBAPIError("SELECT 1", {}, ValueError("bad"), False))
