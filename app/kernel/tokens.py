"""Signed short-lived tokens (JWT, HS256): access tokens for REST, tickets for the gateway.

The gateway verifies tickets with the same key and no database round trip; the claims it reads
are documented in docs/protocol.md.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import jwt

from app.kernel.domain import ROLES, Actor

ALGORITHM = "HS256"
# Verified access tokens remembered per process (token -> actor, expiry): a client sends the
# same token with every request, and decoding and checking the signature each time is a
# noticeable share of a mutation's CPU. Bounded; cleared when full.
ACTOR_CACHE_SIZE = 4096


class InvalidTokenError(Exception):
    """A token that is malformed, forged, expired or of the wrong kind."""


class TokenSigner:
    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._actors: dict[str, tuple[Actor, int]] = {}

    def issue(self, claims: dict[str, Any], *, kind: str, now: datetime, ttl_s: int) -> str:
        payload = {
            **claims,
            "typ": kind,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=ttl_s)).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str, *, kind: str) -> dict[str, Any]:
        try:
            # Only HS256 is accepted: "alg: none" and algorithm confusion are refused here.
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub", "typ"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from None
        if claims.get("typ") != kind:
            raise InvalidTokenError("wrong token type")
        return claims

    def actor(self, token: str) -> Actor:
        """The caller named by a valid access token."""
        known = self._actors.get(token)
        if known is not None:
            if time.time() < known[1]:
                return known[0]
            del self._actors[token]
        claims = self.verify(token, kind="access")
        try:
            actor = Actor(
                tenant_id=str(uuid.UUID(claims["tid"])),
                user_id=str(uuid.UUID(claims["sub"])),
                role=str(claims["role"]),
            )
        except (KeyError, ValueError, TypeError):
            raise InvalidTokenError("malformed claims") from None
        if actor.role not in ROLES:
            raise InvalidTokenError("malformed claims")
        if len(self._actors) >= ACTOR_CACHE_SIZE:
            self._actors.clear()
        self._actors[token] = (actor, int(claims["exp"]))
        return actor
