"""Declaring endpoints once: the request/response models validate the wire and feed OpenAPI.

An endpoint is an async function taking a `Call` (parsed body, query, path, caller) and returning
a `Reply`. `Api` collects them for a context; `main.py` turns them into Starlette routes.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import orjson
import pydantic
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.eventstore.uow import CommandMeta
from app.kernel.db import scope_to_tenant, snapshot
from app.kernel.domain import Actor
from app.kernel.messagebus import Idempotency, request_hash
from app.kernel.problems import HttpProblem
from app.kernel.tokens import InvalidTokenError

B = TypeVar("B")
Q = TypeVar("Q")

MAX_BODY_BYTES = 64 * 1024
_ETAG = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')


@dataclasses.dataclass(slots=True)
class Reply:
    body: Any
    status: int = 200
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    def response(self) -> Response:
        payload = (
            self.body.model_dump(mode="json")
            if isinstance(self.body, pydantic.BaseModel)
            else self.body
        )
        return Response(orjson.dumps(payload), self.status, self.headers, "application/json")


@dataclasses.dataclass(slots=True)
class StreamReply(Reply):
    """A reply sent as it is produced (a CSV report): `body` is an async iterator of bytes."""

    media_type: str = "text/csv"

    def response(self) -> Response:
        return StreamingResponse(self.body, self.status, self.headers, self.media_type)


@dataclasses.dataclass(slots=True)
class Call(Generic[B, Q]):
    request: Request
    actor: Actor
    body: B
    query: Q

    @property
    def services(self) -> Any:
        return self.request.state.services

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def if_match(self) -> int | None:
        """The version named by If-Match, or None when the caller did not name one."""
        raw = self.request.headers.get("if-match")
        if raw is None or raw.strip() == "*":
            return None
        match = _ETAG.match(raw.strip())
        if match is None:
            raise HttpProblem(
                400, "bad_if_match", 'If-Match must be an ETag like "3"', field="If-Match"
            )
        return int(match.group(1))

    def meta(self) -> CommandMeta:
        return CommandMeta(
            actor_id=self.actor.user_id if self.actor.user_id else None,
            correlation_id=self.request.headers.get("x-request-id", "")[:100] or None,
            tenant_id=self.actor.tenant_id or None,
        )


EndpointFunc = Callable[[Call[Any, Any]], Awaitable[Reply]]


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    func: EndpointFunc
    summary: str
    body: type[pydantic.BaseModel] | None
    query: type[pydantic.BaseModel] | None
    response: type[pydantic.BaseModel] | None
    status: int
    auth: bool
    tag: str
    errors: tuple[int, ...]
    # What the operation says beyond its summary (OpenAPI `description`).
    description: str = ""
    # The success media type; anything but JSON is described as text in OpenAPI.
    media_type: str = "application/json"


class Api:
    """The endpoints of one context, declared with their wire models."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[pydantic.BaseModel] | None = None,
        query: type[pydantic.BaseModel] | None = None,
        response: type[pydantic.BaseModel] | None = None,
        status: int = 200,
        auth: bool = True,
        errors: tuple[int, ...] = (),
        description: str = "",
        media_type: str = "application/json",
    ) -> Callable[[EndpointFunc], EndpointFunc]:
        def register(func: EndpointFunc) -> EndpointFunc:
            self.endpoints.append(
                Endpoint(
                    method,
                    path,
                    func,
                    summary,
                    body,
                    query,
                    response,
                    status,
                    auth,
                    self.tag,
                    errors,
                    description,
                    media_type,
                )
            )
            return func

        return register


ANONYMOUS = Actor(tenant_id="", user_id="", role="member")


def parse_model(model: type[pydantic.BaseModel], data: Any, where: str) -> pydantic.BaseModel:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or where
        raise HttpProblem(
            422,
            "validation_error",
            f"{field}: {first['msg']}",
            field=field,
            errors=[
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors()[:20]
            ],
        ) from None


async def read_json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type and not content_type.split(";")[0].strip().endswith("json"):
        raise HttpProblem(415, "unsupported_media_type", "send application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HttpProblem(413, "body_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HttpProblem(
                413, "body_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes"
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        # Every endpoint with a body declares it required; an absent one is no silent no-op.
        raise HttpProblem(400, "missing_body", "this endpoint needs a JSON body", field="body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HttpProblem(400, "invalid_json", "the body is not valid JSON") from None


async def authenticate(request: Request) -> Actor:
    """The caller of a valid access token, as the user directory knows them now.

    The token is verified locally; then the services' `gate` (see app/tenants/gate.py) refuses a
    deactivated user and supplies the current role, so neither waits for the token to expire.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="collabspace"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise HttpProblem(
            401, "unauthorized", "a Bearer access token is required", headers=challenge
        )
    try:
        services = request.state.services
        actor: Actor = await services.gate.current(services.signer.actor(token.strip()))
    except InvalidTokenError:
        raise HttpProblem(
            401, "invalid_token", "the access token is invalid or expired", headers=challenge
        ) from None
    return actor


def handler_for(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette request handler: authenticate, parse, call, render."""

    async def handle(request: Request) -> Response:
        actor = await authenticate(request) if endpoint.auth else ANONYMOUS
        body = None
        if endpoint.body is not None:
            body = parse_model(endpoint.body, await read_json_body(request), "body")
        query = None
        if endpoint.query is not None:
            query = parse_model(endpoint.query, dict(request.query_params), "query")
        reply = await endpoint.func(Call(request, actor, body, query))
        return reply.response()

    return handle


class Wire(pydantic.BaseModel):
    """Base of every wire model: unknown fields and type coercions are refused."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True, frozen=True)

    @pydantic.field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        # PostgreSQL text and JSONB cannot hold U+0000: refused here, it would be a 500 there.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL (U+0000) characters")
        return value


class MutationResult(Wire):
    id: str
    version: int
    position: int = pydantic.Field(description="Global position of the last event written")


def path_id(call: Call[Any, Any], name: str) -> str:
    """A UUID path parameter; anything that is not a UUID names nothing, so it is not found."""
    raw = call.path(name)
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise HttpProblem(404, "not_found", f"no resource with {name} {raw[:60]!r}") from None


def idempotency_of(call: Call[Any, Any], status: int) -> Idempotency | None:
    key = call.request.headers.get("idempotency-key")
    if key is None or not call.actor.user_id:
        return None
    if not 1 <= len(key) <= 200:
        raise HttpProblem(
            400,
            "bad_idempotency_key",
            "Idempotency-Key must be 1-200 characters",
            field="Idempotency-Key",
        )
    body = call.body.model_dump(mode="json") if isinstance(call.body, pydantic.BaseModel) else None
    digest = request_hash(call.request.method, call.request.url.path, body)
    return Idempotency(call.actor.tenant_id, call.actor.user_id, key, digest, status)


async def execute(call: Call[Any, Any], command: Any, *, status: int = 200) -> Reply:
    """Send a command through the bus and answer with its id, version, position and ETag.

    Without If-Match the bus re-reads and retries a bounded number of times after a
    concurrent write; with it, a stale version is a 409 with the current version.
    """
    retry = getattr(command, "expected_version", None) is None
    stored_status, body = await call.services.bus.handle(
        command, meta=call.meta(), idempotency=idempotency_of(call, status), retry=retry
    )
    headers = {"ETag": f'"{body["version"]}"'}
    if stored_status is not None:
        headers["Idempotent-Replayed"] = "true"
    return Reply(body, stored_status or status, headers)


class QueryParams(pydantic.BaseModel):
    """Base of query-string models: values arrive as text, so they are parsed, not strict."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)


class ReadParams(QueryParams):
    min_position: int | None = pydantic.Field(
        default=None,
        ge=0,
        le=2**62,
        description="Wait briefly until the read model reflects this position (read-your-writes)",
    )


# How long a query waits for its read model to reach ?min_position= before answering anyway.
READ_YOUR_WRITES_WAIT_S = 2.0


async def wait_for_min_position(call: Call[Any, Any]) -> None:
    """Read-your-writes: give the projections a short while to reach ?min_position=."""
    wanted = getattr(call.query, "min_position", None)
    progress = getattr(getattr(call.request.state, "runtime", None), "read_progress", None)
    if wanted and progress is not None:
        await progress.wait_for(wanted, READ_YOUR_WRITES_WAIT_S)


def read_reply(call: Call[Any, Any], body: Any, position: int | None = None) -> Reply:
    """A read-model answer; it says how far behind ?min_position= it still is, if it is.

    `body` is a dict with as_of_position, or ready JSON (`orjson.Fragment`) with `position`.
    """
    wanted = getattr(call.query, "min_position", None)
    if position is None:
        position = int(body.get("as_of_position", 0))
    headers = {"X-As-Of-Position": str(position)}
    if wanted is not None and position < wanted:
        headers["X-Read-Lag"] = str(wanted - position)
    return Reply(body, headers=headers)


async def query_read_model(
    call: Call[Any, Any],
    view: Callable[..., Awaitable[dict[str, Any]]],
    *args: Any,
    **kwargs: Any,
) -> Reply:
    """Answer from a read model: `view(connection, *args)` in one snapshot, so the rows and
    `as_of_position` agree (a client subscribes from that position and misses nothing), scoped
    to the caller's tenant by row-level security.
    """
    await wait_for_min_position(call)
    async with snapshot(call.services.engine) as connection:
        await scope_to_tenant(connection, call.actor.tenant_id)
        body = await view(connection, *args, **kwargs)
    return read_reply(call, body)
