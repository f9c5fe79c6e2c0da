"""Authentication: anything but a valid, unexpired HS256 access token of ours is a 401."""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings
from typing import Any

import httpx
import jwt
import pytest

from tests.integration.api_helpers import assert_problem, create_project
from tests.support import SECRET, sign_up


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(owner: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "sub": owner["user_id"],
        "tid": owner["tenant_id"],
        "role": "owner",
        "typ": "access",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def hs512(payload: dict[str, Any]) -> str:
    with warnings.catch_warnings():
        # Our test key is short for SHA-512; the token only has to be well-formed.
        warnings.simplefilter("ignore")
        return jwt.encode(payload, SECRET, "HS512")


def forged_tokens(owner: dict[str, Any]) -> dict[str, str]:
    now = int(time.time())
    good = claims(owner)
    return {
        "expired": jwt.encode(claims(owner, iat=now - 3600, exp=now - 60), SECRET, "HS256"),
        "wrong key": jwt.encode(good, "another-secret-key-0123456789abcdef", "HS256"),
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(good)}.",
        "alg none, signature kept": ".".join(
            [b64({"alg": "none", "typ": "JWT"}), *owner["access_token"].split(".")[1:]]
        ),
        "HS512": hs512(good),
        "wrong kind": jwt.encode(claims(owner, typ="ticket"), SECRET, "HS256"),
        "no exp": jwt.encode(claims(owner, exp=None), SECRET, "HS256"),
        "no sub": jwt.encode(claims(owner, sub=None), SECRET, "HS256"),
        "bad tenant": jwt.encode(claims(owner, tid="not-a-uuid"), SECRET, "HS256"),
        "unknown role": jwt.encode(claims(owner, role="root"), SECRET, "HS256"),
        "tampered payload": ".".join(
            [
                owner["access_token"].split(".")[0],
                b64({**good, "role": "owner", "tid": str(uuid.uuid4())}),
                owner["access_token"].split(".")[2],
            ]
        ),
        "garbage": "not.a.token",
        "empty segments": "..",
    }


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer"],
)
async def test_a_missing_or_malformed_authorization_header_is_401(
    client: httpx.AsyncClient, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, path in [("GET", "/me"), ("GET", "/users"), ("POST", "/projects")]:
        response = await client.request(method, path, json={"name": "A"}, headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_every_forged_expired_or_foreign_token_is_401_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    owner = await sign_up(client)
    pid = await create_project(client, owner)
    for name, token in forged_tokens(owner).items():
        headers = {"Authorization": f"Bearer {token}"}
        for method, path, body in [
            ("GET", "/me", None),
            ("GET", f"/projects/{pid}", None),
            ("PATCH", f"/projects/{pid}", {"name": "Forged"}),
        ]:
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, f"{name}: {method} {path}: {response.text}"
            assert response.json()["code"] == "invalid_token"
    got = await client.get(f"/projects/{pid}", headers=owner["headers"])
    assert got.json()["version"] == 2 and got.json()["name"] == "Apollo"


async def test_a_token_of_our_own_key_is_accepted_as_a_control(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    token = jwt.encode(claims(owner), SECRET, "HS256")
    me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["id"] == owner["user_id"]


async def test_an_unauthenticated_request_is_refused_before_its_body_is_read(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/projects", content=b"not json")
    assert_problem(response, 401, "unauthorized")


async def test_a_deactivated_users_token_no_longer_logs_in(client: httpx.AsyncClient) -> None:
    owner = await sign_up(client)
    created = await client.post(
        "/users",
        json={"email": "gone@example.com", "name": "Gone", "password": "long enough"},
        headers=owner["headers"],
    )
    await client.delete(f"/users/{created.json()['id']}", headers=owner["headers"])
    login = await client.post(
        "/auth/login", json={"email": "gone@example.com", "password": "long enough"}
    )
    assert_problem(login, 401, "bad_credentials")
