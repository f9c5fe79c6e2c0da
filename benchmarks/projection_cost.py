"""Benchmark: CPU per event of the live projection runner at a steady write rate.

Creates its own database, migrates it, starts a child process that runs only the
`ProjectionRunner` (the four projectors, as `collabspace serve` runs them, woken by NOTIFY),
then drives task moves and edits through the real command bus at a fixed rate (the write
benchmark's mix: 32 projects x 4 tasks, alternating MoveTask / EditTask). Over the measured
window it reads from /proc:

- the runner process's user+system CPU (the API-side cost of the projections),
- the CPU of the PostgreSQL backends serving the runner's connections (found by matching the
  child's TCP ports against pg_stat_activity.client_port),
- the CPU of every postgres process (includes the writes and other sessions: an upper bound),

and prints each per event appended. The database is dropped at the end.

    .venv/bin/python benchmarks/projection_cost.py [--rate 300] [--duration 15] [--no-runner]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import asyncpg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from write_mutations import database, postgres_cpu_seconds  # noqa: E402

NEXT_STATUS = {"todo": "in_progress", "in_progress": "done", "done": "todo"}
SECRET = "benchmark-secret-key-0123456789abcdef"


def _stat_cpu(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / ticks


def local_tcp_ports(pid: int) -> set[int]:
    """The local ports of the process's TCP sockets (its PostgreSQL connections among them)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[9] in inodes:
                    ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


async def backends_of(admin: Any, pid: int) -> list[int]:
    ports = sorted(local_tcp_ports(pid))
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])", ports
    )
    return [r["pid"] for r in rows]


# -- the child: only the projection runner ----------------------------------------------------


async def child(dsn: str, coalesce_ms: int) -> None:
    from app import readmodels
    from app.kernel.db import make_engine
    from app.readside.runner import ProjectionRunner

    engine = make_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=4)
    runner = ProjectionRunner(engine, readmodels.projectors(), coalesce_interval=coalesce_ms / 1000)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await runner.start()
    print("ready", flush=True)
    await stop.wait()
    await runner.stop()
    await engine.dispose()
    print(" ".join(f"{n}={p}" for n, p in runner.positions.items()), flush=True)


# -- the parent: setup, steady writes, measurement -------------------------------------------


async def setup(bus: Any, projects: int, tasks: int) -> list[list[dict[str, Any]]]:
    from app.eventstore.uow import CommandMeta
    from app.kernel.domain import Actor
    from app.projects import commands as pc
    from app.tasks import commands as tc
    from app.tenants import commands as uc

    _, body = await bus.handle(
        uc.SignUp("Bench", "Bench Owner", f"b-{uuid.uuid4().hex[:8]}@example.com", "pw pw pw pw"),
        meta=CommandMeta(actor_id=None),
    )
    owner = Actor(body["tenant_id"], body["user_id"], "owner")
    meta = CommandMeta(actor_id=owner.user_id)
    owned = []
    for p in range(projects):
        _, project = await bus.handle(pc.CreateProject(owner, f"P{p}", "", 100_000), meta=meta)
        mine = []
        for t in range(tasks):
            _, task = await bus.handle(tc.CreateTask(owner, project["id"], f"T{p}.{t}"), meta=meta)
            mine.append({"id": task["id"], "status": "todo", "edits": 0, "actor": owner})
        owned.append(mine)
    return owned


async def write_steadily(
    bus: Any, owned: list[list[dict[str, Any]]], rate: float, until: float, edits: bool = True
) -> int:
    """Mutations at `rate` per second in total until `until`, each client on its own tasks."""
    from app.eventstore.uow import CommandMeta
    from app.tasks import commands as tc

    start = time.perf_counter()
    slot = 0
    done = 0

    async def client(tasks: list[dict[str, Any]]) -> None:
        nonlocal slot, done
        i = 0
        while True:
            mine = slot
            slot += 1
            due = start + mine / rate
            if due >= until:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = tasks[i % len(tasks)]
            i += 1
            actor = task["actor"]
            meta = CommandMeta(actor_id=actor.user_id)
            if i % 2 or not edits:
                target = NEXT_STATUS[task["status"]]
                await bus.handle(tc.MoveTask(actor, task["id"], target), meta=meta)
                task["status"] = target
            else:
                task["edits"] += 1
                await bus.handle(
                    tc.EditTask(actor, task["id"], title=f"E{task['edits']}"), meta=meta
                )
            done += 1

    await asyncio.gather(*(client(t) for t in owned))
    return done


async def head(admin: Any) -> int:
    return int(await admin.fetchval("SELECT position FROM event_head WHERE id = 1") or 0)


async def checkpoints(admin: Any) -> dict[str, int]:
    rows = await admin.fetch("SELECT name, position FROM projection_checkpoint")
    return {r["name"]: int(r["position"]) for r in rows}


async def run(args: argparse.Namespace) -> None:
    from app.bootstrap import bootstrap
    from app.kernel.db import make_engine
    from app.migrate import upgrade
    from app.settings import Settings
    from app.tenants.passwords import Argon2Hasher

    async with database() as dsn:
        url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        engine = make_engine(url, pool_size=8)
        await upgrade(engine)
        settings = Settings.from_env(
            {"DATABASE_URL": url, "SECRET_KEY": SECRET, "DB_POOL_SIZE": "8"}
        )
        services = bootstrap(settings, engine, hasher=Argon2Hasher(fast=True))
        admin = await asyncpg.connect(dsn)
        proc: subprocess.Popen[str] | None = None
        try:
            owned = await setup(services.bus, args.clients, args.tasks)
            if not args.no_runner:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        dsn,
                        "--coalesce-ms",
                        str(args.coalesce_ms),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert proc.stdout is not None
                line = await asyncio.to_thread(proc.stdout.readline)
                assert line.strip() == "ready", line
            # Warm-up: the runner catches up with the setup and reaches its steady state.
            warm = time.perf_counter() + args.warmup
            await write_steadily(services.bus, owned, args.rate, warm, not args.moves_only)
            load_before = os.getloadavg()
            runner_pgs = await backends_of(admin, proc.pid) if proc else []
            pg_runner_before = {p: _stat_cpu(p) for p in runner_pgs}
            runner_before = _stat_cpu(proc.pid) if proc else 0.0
            pg_before = postgres_cpu_seconds()
            head_before = await head(admin)
            started = time.perf_counter()
            until = started + args.duration
            written = await write_steadily(
                services.bus, owned, args.rate, until, not args.moves_only
            )
            written_at = time.perf_counter()
            # Let the runner finish the last coalesced batch before reading its CPU.
            target = await head(admin)
            lag_deadline = time.perf_counter() + 60
            while proc and min((await checkpoints(admin)).values()) < target:
                if time.perf_counter() > lag_deadline:
                    raise RuntimeError("the runner did not catch up within 60 s")
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - started
            lag = time.perf_counter() - written_at
            events = target - head_before
            runner_cpu = _stat_cpu(proc.pid) - runner_before if proc else 0.0
            runner_pgs_after = await backends_of(admin, proc.pid) if proc else []
            pg_runner = sum(
                _stat_cpu(p) - pg_runner_before.get(p, 0.0)
                for p in set(runner_pgs) | set(runner_pgs_after)
                if os.path.exists(f"/proc/{p}")
            )
            pg_cpu = postgres_cpu_seconds() - pg_before
            load_after = os.getloadavg()
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                out, _ = await asyncio.to_thread(proc.communicate, None, 20)
                print(f"runner stopped at {out.strip()}")
            await admin.close()
            await services.close()
            await engine.dispose()
    per = 1000 / max(events, 1)
    print(
        f"rate target={args.rate}/s achieved={written / (elapsed - lag):.0f}/s "
        f"events={events} in {elapsed:.1f}s (runner done {lag:.2f}s after the last write) "
        f"coalesce={args.coalesce_ms} ms "
        f"runner backends={len(set(runner_pgs) | set(runner_pgs_after))}"
    )
    print(
        f"runner process CPU {runner_cpu * per:.3f} ms/event, "
        f"its postgres backends {pg_runner * per:.3f} ms/event, "
        f"together {(runner_cpu + pg_runner) * per:.3f} ms/event"
    )
    print(
        f"all postgres CPU {pg_cpu * per:.3f} ms/event (writes included; upper bound) "
        f"load average {load_before[0]:.2f} -> {load_after[0]:.2f} on {os.cpu_count()} CPUs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="mutations per second")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=32, help="projects, one writer each")
    parser.add_argument("--tasks", type=int, default=4, help="tasks per project")
    parser.add_argument("--coalesce-ms", type=int, default=50)
    parser.add_argument(
        "--moves-only",
        action="store_true",
        help="no edits (an edit renames the task, which rewrites its activity entries)",
    )
    parser.add_argument("--no-runner", action="store_true", help="writes only (diagnostic)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child, args.coalesce_ms))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
