from __future__ import annotations

import httpx

from tests.support import sign_up


async def test_repeated_wrong_passwords_are_throttled_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client)
    for _ in range(5):
        wrong = await client.post("/auth/login", json={"email": owner["email"], "password": "nope"})
        assert wrong.status_code == 401
    blocked = await client.post(
        "/auth/login", json={"email": owner["email"], "password": "correct horse"}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert blocked.headers["content-type"] == "application/problem+json"
