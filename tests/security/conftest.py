from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.reliability.stack import Stack, running_stack


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    """API (with relay) + two gateway nodes + private Redis, shared by a module's tests."""
    async with running_stack(2, AUTH_TIMEOUT_SECONDS="1") as s:
        yield s
