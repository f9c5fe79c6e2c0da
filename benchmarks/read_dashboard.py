"""Benchmark: the dashboard from the read model vs a join-and-aggregate over normalized tables.

Loads 1,000 projects x 100 tasks (10 tenants x 100 projects) as events, written in bulk with
COPY, projects them with a rebuild (reporting events/s), fills the normalized tables a system
without CQRS would have from the same data, then times both dashboard queries in one run.

    .venv/bin/python benchmarks/read_dashboard.py [--admin-url URL] [--queries 3000] [--keep]

Not a test: it prints figures for docs/read-side.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate, readmodels  # noqa: E402
from app.eventstore.postgres import PgPool  # noqa: E402
from app.kernel.db import make_engine  # noqa: E402
from app.kernel.domain import Actor  # noqa: E402
from app.projects.views import DOCUMENT_SQL, dashboard_document  # noqa: E402

TENANTS, USERS, PROJECTS, TASKS = 10, 10, 100, 100
EVENT_COLUMNS = [
    "position",
    "stream_id",
    "version",
    "tenant_id",
    "project_id",
    "type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
]


class Generator:
    """Realistic event streams, plus the normalized rows a CRUD system would hold."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.records: list[tuple[Any, ...]] = []
        self.versions: dict[str, int] = {}
        self.clock = datetime(2026, 1, 1, tzinfo=UTC)
        self.users: dict[str, tuple[str, str]] = {}  # id -> (tenant, name)
        self.projects: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.members: list[tuple[str, str]] = []
        self.activity: list[tuple[Any, ...]] = []
        self.admins: dict[str, str] = {}

    def emit(
        self, stream: str, tenant: str, project: str | None, type_: str, actor: str, **data: Any
    ) -> None:
        version = self.versions.get(stream, 0) + 1
        self.versions[stream] = version
        self.clock += timedelta(milliseconds=self.rng.randint(1, 50))
        position = len(self.records) + 1
        self.records.append(
            (
                position,
                stream,
                version,
                uuid.UUID(tenant),
                None if project is None else uuid.UUID(project),
                type_,
                1,
                orjson.dumps(data).decode(),
                orjson.dumps(
                    {"actor_id": actor, "correlation_id": None, "causation_id": None}
                ).decode(),
                self.clock,
            )
        )
        if project is not None:
            self.activity.append((position, tenant, project, actor, type_, self.clock))

    def tenant(self) -> None:
        tenant = str(uuid.uuid4())
        users = [str(uuid.uuid4()) for _ in range(USERS)]
        self.admins[tenant] = users[0]
        self.emit(
            f"tenant-{tenant}",
            tenant,
            None,
            "TenantRegistered",
            users[0],
            tenant_id=tenant,
            name=f"Tenant {tenant[:4]}",
            project_limit=1000,
            owner_id=users[0],
        )
        for i, user in enumerate(users):
            name = f"User {i} of {tenant[:4]}"
            self.users[user] = (tenant, name)
            self.emit(
                f"user-{user}",
                tenant,
                None,
                "UserRegistered",
                users[0],
                user_id=user,
                tenant_id=tenant,
                email=f"{user}@example.com",
                name=name,
                role="owner" if i == 0 else "member",
                invited_by=None if i == 0 else users[0],
            )
        for _ in range(PROJECTS):
            self.project(tenant, users)

    def project(self, tenant: str, users: list[str]) -> None:
        project, creator = str(uuid.uuid4()), self.rng.choice(users)
        self.emit(
            f"tenant-{tenant}",
            tenant,
            None,
            "TenantProjectAdded",
            creator,
            tenant_id=tenant,
            project_id=project,
        )
        stream = f"project-{project}"
        name = f"Project {project[:8]}"
        self.emit(
            stream,
            tenant,
            project,
            "ProjectCreated",
            creator,
            project_id=project,
            tenant_id=tenant,
            name=name,
            description="A benchmark project",
            budget_cents=1_000_000,
            created_by=creator,
        )
        members = [creator] + self.rng.sample([u for u in users if u != creator], 3)
        for member in members:
            self.emit(
                stream,
                tenant,
                project,
                "ProjectMemberAdded",
                creator,
                project_id=project,
                user_id=member,
            )
            self.members.append((project, member))
        self.emit(
            stream,
            tenant,
            project,
            "ProjectBudgetChanged",
            creator,
            project_id=project,
            budget_cents=2_000_000,
        )
        self.emit(
            stream,
            tenant,
            project,
            "ProjectSpendRecorded",
            creator,
            project_id=project,
            amount_cents=150_000,
            actual_spend_cents=150_000,
            note="kick-off",
        )
        self.projects[project] = {
            "tenant": tenant,
            "name": name,
            "created_by": creator,
            "created_at": self.clock,
            "spend": 150_000,
        }
        for t in range(TASKS):
            self.task(tenant, project, members, t)

    def task(self, tenant: str, project: str, members: list[str], n: int) -> None:
        task, actor = str(uuid.uuid4()), self.rng.choice(members)
        stream = f"task-{task}"
        ids = {"task_id": task, "project_id": project}
        self.emit(
            stream,
            tenant,
            project,
            "TaskCreated",
            actor,
            **ids,
            title=f"Task {n}",
            description="Do the thing",
            created_by=actor,
        )
        assignee = self.rng.choice(members)
        self.emit(stream, tenant, project, "TaskAssigned", actor, **ids, assignee_id=assignee)
        status = "todo"
        if self.rng.random() < 0.7:
            self.emit(
                stream,
                tenant,
                project,
                "TaskMoved",
                actor,
                **ids,
                from_status="todo",
                to_status="in_progress",
            )
            status = "in_progress"
            if self.rng.random() < 0.6:
                self.emit(
                    stream,
                    tenant,
                    project,
                    "TaskMoved",
                    actor,
                    **ids,
                    from_status="in_progress",
                    to_status="done",
                )
                status = "done"
        if self.rng.random() < 0.05:
            self.emit(
                stream,
                tenant,
                project,
                "TaskEdited",
                actor,
                **ids,
                title=f"Task {n}!",
                description="Do the thing, well",
            )
        self.tasks[task] = {
            "project": project,
            "tenant": tenant,
            "status": status,
            "assignee": assignee,
        }


NORMALIZED_DDL = """
CREATE TABLE n_user (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, name text NOT NULL);
CREATE TABLE n_project (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, name text NOT NULL,
  status text NOT NULL, created_by uuid NOT NULL REFERENCES n_user, budget_cents bigint NOT NULL,
  spend_cents bigint NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL);
CREATE TABLE n_project_member (project_id uuid REFERENCES n_project, user_id uuid REFERENCES n_user,
  PRIMARY KEY (project_id, user_id));
CREATE TABLE n_task (id uuid PRIMARY KEY, tenant_id uuid NOT NULL,
  project_id uuid NOT NULL REFERENCES n_project, status text NOT NULL, assignee_id uuid);
CREATE INDEX ON n_task (project_id, status);
CREATE TABLE n_activity (id bigint PRIMARY KEY, tenant_id uuid NOT NULL, project_id uuid NOT NULL,
  actor_id uuid NOT NULL, type text NOT NULL, created_at timestamptz NOT NULL);
CREATE INDEX ON n_activity (project_id, created_at DESC);
"""

# The dashboard a system without CQRS runs: join, aggregate, and look names up per request.
JOIN_QUERY = sa.text("""
SELECT p.id, p.name, p.status, p.budget_cents, p.spend_cents, p.updated_at,
       cu.name AS created_by_name,
       count(t.id) AS task_total,
       count(t.id) FILTER (WHERE t.status = 'done') AS task_done,
       (SELECT json_agg(json_build_object('user_id', m.user_id, 'name', mu.name))
          FROM n_project_member m JOIN n_user mu ON mu.id = m.user_id
         WHERE m.project_id = p.id) AS members,
       (SELECT json_agg(a) FROM (
          SELECT na.id, na.type, na.created_at, au.name AS actor_name
            FROM n_activity na JOIN n_user au ON au.id = na.actor_id
           WHERE na.project_id = p.id ORDER BY na.created_at DESC LIMIT 20) a) AS recent
  FROM n_project p
  JOIN n_user cu ON cu.id = p.created_by
  LEFT JOIN n_task t ON t.project_id = p.id
 WHERE p.tenant_id = :tenant AND p.id = :project
 GROUP BY p.id, cu.name
""")


async def load(engine: AsyncEngine, gen: Generator) -> None:
    async with engine.connect() as connection:
        raw: Any = (await connection.get_raw_connection()).driver_connection
        await raw.copy_records_to_table("event", records=gen.records, columns=EVENT_COLUMNS)
        await raw.execute("UPDATE event_head SET position = (SELECT max(position) FROM event)")
        await raw.execute(NORMALIZED_DDL)
        await raw.copy_records_to_table(
            "n_user", records=[(uuid.UUID(u), uuid.UUID(t), n) for u, (t, n) in gen.users.items()]
        )
        await raw.copy_records_to_table(
            "n_project",
            records=[
                (
                    uuid.UUID(p),
                    uuid.UUID(v["tenant"]),
                    v["name"],
                    "active",
                    uuid.UUID(v["created_by"]),
                    2_000_000,
                    v["spend"],
                    v["created_at"],
                    v["created_at"],
                )
                for p, v in gen.projects.items()
            ],
        )
        await raw.copy_records_to_table(
            "n_project_member", records=[(uuid.UUID(p), uuid.UUID(u)) for p, u in gen.members]
        )
        await raw.copy_records_to_table(
            "n_task",
            records=[
                (
                    uuid.UUID(t),
                    uuid.UUID(v["tenant"]),
                    uuid.UUID(v["project"]),
                    v["status"],
                    uuid.UUID(v["assignee"]),
                )
                for t, v in gen.tasks.items()
            ],
        )
        await raw.copy_records_to_table(
            "n_activity",
            records=[
                (pos, uuid.UUID(t), uuid.UUID(p), uuid.UUID(a), ty, at)
                for pos, t, p, a, ty, at in gen.activity
            ],
        )
        await raw.execute("ANALYZE")
        await connection.commit()


# The before-figures of migrations 0004 and 0005 (plpgsql functions that set the tenant
# themselves) are gone: migration 0006 took EXECUTE on them from the app role, which this
# benchmark reads as. Their last figures are in docs/read-side.md.


def _statements(tenant: str, project: str, admin: str) -> dict[str, tuple[str, tuple[Any, ...]]]:
    return {
        "read model": (DOCUMENT_SQL, (tenant, project, admin, True)),
        "join": (JOIN_SQL_ASYNCPG, (tenant, project)),
    }


async def server_times(pool: PgPool, gen: Generator, n: int) -> dict[str, list[float]]:
    """Execution time inside PostgreSQL (EXPLAIN (ANALYZE, TIMING OFF): no per-node clock
    reads, which inflated the join's figure before), as the app role under row-level security.
    PostgreSQL 15's EXPLAIN does not send or detoast output columns, but every statement here
    builds its answer inside the query (the read model's concatenation decompresses the
    document; the others aggregate JSON), so each figure includes making its answer."""
    rng = random.Random(13)
    out: dict[str, list[float]] = {kind: [] for kind in KINDS if kind != "floor"}
    for project in rng.choices(list(gen.projects), k=n):
        tenant = gen.projects[project]["tenant"]
        async with pool.autocommit() as raw:
            for kind, (sql, args) in _statements(tenant, project, gen.admins[tenant]).items():
                plan = await raw.fetchval(
                    "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql, *args
                )
                out[kind].append(orjson.loads(plan)[0]["Execution Time"])
    return out


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


JOIN_SQL_ASYNCPG = JOIN_QUERY.text.replace(":tenant", "$1").replace(":project", "$2")
KINDS = ("read model", "join", "floor")


async def time_queries(pool: PgPool, gen: Generator, n: int) -> dict[str, list[float]]:
    """End to end, through one client path (a pooled asyncpg connection in autocommit, one
    prepared statement, as the app role under row-level security), rotating the order:
    "read model" is what the API runs (the kept document, sent as the bytes it reads); "join"
    the join-and-aggregate; "floor" `SELECT 1` on the same path, the round trip."""
    rng = random.Random(11)
    picks = rng.choices(list(gen.projects), k=n)
    timings: dict[str, list[float]] = {k: [] for k in KINDS}
    for i, project in enumerate(picks):
        tenant = gen.projects[project]["tenant"]
        actor = Actor(tenant, gen.admins[tenant], "owner")
        # Rotate so that all see the same cache and machine conditions.
        shift = i % len(KINDS)
        for kind in KINDS[shift:] + KINDS[:shift]:
            started = time.perf_counter()
            async with pool.autocommit() as raw:
                if kind == "read model":
                    assert await dashboard_document(raw, actor, project) is not None
                elif kind == "join":
                    assert await raw.fetchrow(JOIN_SQL_ASYNCPG, tenant, project) is not None
                else:
                    await raw.fetchval("SELECT 1")
            if i >= n // 10:  # the first tenth warms caches and prepared statements
                timings[kind].append((time.perf_counter() - started) * 1000)
    return timings


async def main(args: argparse.Namespace) -> None:
    name = f"cs_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.admin_url)
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(args.admin_url.rsplit("/", 1)[0] + "/" + name)
    try:
        await migrate.upgrade(engine)
        gen = Generator()
        started = time.perf_counter()
        for _ in range(TENANTS):
            gen.tenant()
        print(f"generated {len(gen.records):,} events in {time.perf_counter() - started:.1f}s")
        started = time.perf_counter()
        await load(engine, gen)
        print(f"loaded events and normalized tables in {time.perf_counter() - started:.1f}s")
        total_events, total_seconds = 0, 0.0
        # As `collabspace projections rebuild` runs them: one process per core for the bulk.
        partitions = os.cpu_count() or 1
        for projection in readmodels.NAMES:
            report = await readmodels.rebuild(engine, projection, partitions=partitions)
            total_events += report.events
            total_seconds += report.seconds
            print(
                f"rebuild {projection:9s} ({report.partitions} process"
                f"{'es' if report.partitions > 1 else ''}) {report.events:,} events applied, "
                f"{report.position:,} store events replayed in {report.seconds:.2f}s "
                f"= {report.rate:,.0f} applied/s, {report.position / report.seconds:,.0f} store/s"
                f" (load average {_load()})"
            )
        print(
            f"rebuild all four: {total_events:,} event applications in {total_seconds:.2f}s "
            f"= {total_events / total_seconds:,.0f} events/s"
        )
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
            # The join's tables are the benchmark's own: let the app role read them too.
            await connection.exec_driver_sql(
                "GRANT SELECT ON n_project, n_user, n_task, n_project_member, n_activity"
                " TO collabspace_app"
            )
        app_url = engine.url.set(username="collabspace_app").render_as_string(hide_password=False)
        pool = PgPool(app_url, size=2)
        try:
            print(f"load average before timing: {_load()}")
            timings = await time_queries(pool, gen, args.queries)
            server_samples = await server_times(pool, gen, 500)
            print(f"load average after timing: {_load()}")
        finally:
            await pool.close()
        p = {k: percentiles(v) for k, v in timings.items()}
        for kind, (p50, p99) in p.items():
            print(
                f"dashboard {kind:16s} p50 {p50:.3f} ms  p99 {p99:.3f} ms "
                f"(n={len(timings[kind])}, end to end)"
            )
        others = ("join",)
        for other in others:
            print(
                f"ratio {other}/read model, end to end: p50 {p[other][0] / p['read model'][0]:.1f}x"
                f"  p99 {p[other][1] / p['read model'][1]:.1f}x"
            )
        floor = p["floor"][0]
        above = {kind: p[kind][0] - floor for kind in KINDS}
        print(
            f"above the floor (p50 minus SELECT 1 p50): read model {above['read model']:.3f} ms, "
            f"join {above['join']:.3f} ms, ratio {above['join'] / above['read model']:.1f}x; "
            f"end to end, 10x would need the join to take {10 * p['read model'][0]:.3f} ms"
        )
        server = {k: percentiles(v) for k, v in server_samples.items()}
        for kind, (p50, p99) in server.items():
            print(
                f"server-side {kind:16s} p50 {p50:.3f} ms  p99 {p99:.3f} ms  "
                "(EXPLAIN ANALYZE, TIMING OFF)"
            )
        for other in others:
            print(
                f"server-side ratio {other}/read model: p50 "
                f"{server[other][0] / server['read model'][0]:.1f}x  "
                f"p99 {server[other][1] / server['read model'][1]:.1f}x"
            )
        async with engine.connect() as connection:
            started = time.perf_counter()
            for _ in range(500):
                await connection.scalar(sa.text("SELECT 1"))
            sa_floor = (time.perf_counter() - started) * 2
        print(f"SQLAlchemy round trip (SELECT 1 on a held connection, mean): {sa_floor:.3f} ms")
    finally:
        await engine.dispose()
        if not args.keep:
            async with admin.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--admin-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    # The API serves on uvicorn's default loop, uvloop where it is installed: time on the same.
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(parser.parse_args()))
    else:
        print("event loop: uvloop, as the API serves")
        uvloop.run(main(parser.parse_args()))
