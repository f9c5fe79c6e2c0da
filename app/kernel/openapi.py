"""The OpenAPI 3.1 document, generated from the endpoints' declared wire models."""

from __future__ import annotations

import re
from typing import Any

import pydantic
from pydantic.json_schema import models_json_schema

from app.kernel.problems import TITLES
from app.kernel.web import Endpoint

REF = "#/components/schemas/{model}"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable machine-readable error code"},
        "field": {"type": "string", "description": "The offending field, for validation errors"},
    },
    "additionalProperties": True,
}


def _parameters(endpoint: Endpoint, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    if endpoint.query is not None:
        query_schema = endpoint.query.model_json_schema(ref_template=REF, mode="validation")
        required = set(query_schema.get("required", []))
        for name, prop in query_schema.get("properties", {}).items():
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    if endpoint.method in ("PATCH", "PUT", "POST", "DELETE") and endpoint.auth:
        params.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": 'Expected version, e.g. "3"',
            }
        )
    if endpoint.method == "POST" and endpoint.auth:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
            }
        )
    return params


def build_openapi(endpoints: list[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    models: list[tuple[type[pydantic.BaseModel], Any]] = []
    for e in endpoints:
        if e.body is not None:
            models.append((e.body, "validation"))
        if e.response is not None:
            models.append((e.response, "serialization"))
    _, top = models_json_schema(models, ref_template=REF) if models else ({}, {})
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, Any] = {}
    for e in endpoints:
        operation: dict[str, Any] = {
            "operationId": e.func.__name__,
            "summary": e.summary,
            "tags": [e.tag],
            "parameters": _parameters(e, schemas),
            "responses": _responses(e),
        }
        if e.description:
            operation["description"] = e.description
        if e.auth:
            operation["security"] = [{"bearer": []}]
        if e.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model=e.body.__name__)}}
                },
            }
        paths.setdefault(e.path, {})[e.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _responses(e: Endpoint) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK"}
    if e.media_type != "application/json":
        ok["content"] = {e.media_type: {"schema": {"type": "string"}}}
    elif e.response is not None:
        ok["content"] = {
            "application/json": {"schema": {"$ref": REF.format(model=e.response.__name__)}}
        }
    responses: dict[str, Any] = {str(e.status): ok}
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    codes = set(e.errors) | {400, 413, 415, 503} | ({401} if e.auth else set())
    if e.body is not None or e.query is not None:
        codes.add(422)
    for status in sorted(codes):
        responses[str(status)] = {"description": TITLES.get(status, "Error"), "content": problem}
    return responses
