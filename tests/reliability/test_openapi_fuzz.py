"""Schemathesis against /openapi.json of a real `collabspace serve` on a fresh database.

Every operation, authenticated as a real user (the owner of a tenant with a project and a
task), with generated valid and invalid input: no 5xx, and no response that violates the
schema the document declares. CI runs a few examples per operation; `-m slow` runs many.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.reliability.load import seed
from tests.reliability.stack import Stack, running_stack

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Stack, dict[str, Any]]]:
    """The stack runs on its own event loop in a thread: schemathesis calls are synchronous."""
    ready: dict[str, Any] = {}
    started, done = threading.Event(), threading.Event()

    async def main() -> None:
        async with running_stack(0) as stack:
            owner, pids, tids = await seed(stack, projects=1)
            async with httpx.AsyncClient(base_url=stack.api_url) as http:
                invited = await http.post(
                    "/users",
                    headers=owner["headers"],
                    json={
                        "email": "fuzzed@example.com",
                        "name": "Fuzzed",
                        "password": "long enough",
                    },
                )
                comment = await http.post(
                    f"/tasks/{tids[0]}/comments", headers=owner["headers"], json={"body": "hi"}
                )
            owner["ids"] = {
                "project_id": pids[0],
                "task_id": tids[0],
                "user_id": invited.json()["id"],
                "comment_id": comment.json()["id"],
            }
            ready.update(stack=stack, owner=owner)
            started.set()
            await asyncio.get_running_loop().run_in_executor(None, done.wait)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert started.wait(60), "the API did not start"
    yield ready["stack"], ready["owner"]
    done.set()
    thread.join(60)


def strategies(operation: Any, ids: dict[str, str]) -> list[Any]:
    """Valid input aimed at real resources, valid input at random ids, and invalid input."""
    names = {p.name for p in operation.path_parameters}
    pinned = {k: v for k, v in ids.items() if k in names}
    return [
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned or None),
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]


def fuzz(stack: Stack, owner: dict[str, Any], examples: int) -> tuple[int, list[str]]:
    """Run every operation's strategies through hypothesis: (cases sent, failures)."""
    schema = schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")
    failures: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = st.one_of(strategies(operation, owner["ids"]))

        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            nonlocal sent
            sent += 1
            case.call_and_validate(headers=owner["headers"], checks=CHECKS, timeout=10)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 -- collected, reported together below
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    return sent, failures


def test_no_operation_answers_5xx_or_breaks_its_schema(
    served: tuple[Stack, dict[str, Any]],
) -> None:
    sent, failures = fuzz(*served, examples=12)
    assert sent > 200, sent
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_many_more_examples_per_operation(served: tuple[Stack, dict[str, Any]]) -> None:
    _, failures = fuzz(*served, examples=300)
    assert not failures, "\n\n".join(failures)
