"""Internal endpoints for gateway nodes, authenticated by a service token (`typ: "service"`).

Gateway nodes mint the token themselves with the shared SECRET_KEY (realtime/backfill.py); a
browser's access token or realtime ticket is refused (wrong `typ`). The composition root passes
the readers of the scopes contexts serve themselves (a user's inbox).
"""

from __future__ import annotations

import functools

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.kernel.problems import problem_response
from app.kernel.tokens import InvalidTokenError
from app.relay.backfill import NO_READERS, BackfillError, ScopeReaders, backfill, parse_query


async def backfill_endpoint(request: Request, readers: ScopeReaders) -> Response:
    services = request.state.services
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    try:
        if scheme.lower() != "bearer":
            raise InvalidTokenError("missing bearer token")
        services.signer.verify(token.strip(), kind="service")
    except InvalidTokenError:
        return problem_response(401, "invalid_token", "a service token is required")
    try:
        query = parse_query(dict(request.query_params), readers)
    except BackfillError as exc:
        return problem_response(400, "bad_request", str(exc))
    body = await backfill(services.engine, services.settings.channel_prefix, query, readers)
    return Response(orjson.dumps(body), media_type="application/json")


def routes(readers: ScopeReaders = NO_READERS) -> list[Route]:
    endpoint = functools.partial(backfill_endpoint, readers=readers)
    return [Route("/internal/backfill", endpoint, methods=["GET"])]
