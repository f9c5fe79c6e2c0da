"""The driver errors that make a session unusable (the API answers them 503)."""

from __future__ import annotations

import asyncio

import asyncpg  # type: ignore[import-untyped]

# Errors that mean "the database is not there", answered 503 by the API.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    # "another operation is in progress": a session left mid-protocol by a killed backend or
    # a cancelled request; unusable, so it is dropped, and the request is a 503, not a bug.
    asyncpg.exceptions.InternalClientError,
)

# A session that failed this way, or was interrupted mid-statement, never goes back to the pool.
BROKEN: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, asyncio.CancelledError)
