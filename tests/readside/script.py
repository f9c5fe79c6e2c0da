"""Drives the real command handlers like a client would, and dumps read models for comparison."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from app.eventstore.uow import CommandMeta
from app.kernel.domain import Actor
from app.kernel.messagebus import MessageBus
from app.projects import commands as pc
from app.readmodels import PROJECTORS
from app.tasks import commands as tc
from app.tenants import commands as uc


class Script:
    def __init__(self, bus: MessageBus) -> None:
        self.bus = bus
        self.head = 0

    async def run(self, command: Any, actor: Actor | None = None) -> dict[str, Any]:
        meta = CommandMeta(actor_id=actor.user_id if actor else None)
        _, body = await self.bus.handle(command, meta=meta)
        self.head = max(self.head, body.get("position", 0))
        return body

    async def tenant(self, name: str = "Acme", owner: str = "Olivia") -> Actor:
        email = f"{owner.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        body = await self.run(uc.SignUp(name, owner, email, "correct horse"))
        return Actor(body["tenant_id"], body["user_id"], "owner")

    async def invite(self, admin: Actor, name: str, role: str = "member") -> Actor:
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        body = await self.run(uc.InviteUser(admin, email, name, role, "correct horse"), admin)
        return Actor(admin.tenant_id, body["id"], role)

    async def project(self, actor: Actor, name: str, budget_cents: int = 100_000) -> str:
        body = await self.run(pc.CreateProject(actor, name, "", budget_cents), actor)
        return str(body["id"])

    async def task(self, actor: Actor, project_id: str, title: str) -> str:
        return str((await self.run(tc.CreateTask(actor, project_id, title), actor))["id"])

    async def story(self) -> dict[str, Any]:
        """A small, busy tenant: members come and go, tasks move, people and projects rename."""
        owner = await self.tenant("Acme", "Olivia")
        ann = await self.invite(owner, "Ann")
        bob = await self.invite(owner, "Bob", "admin")
        apollo = await self.project(owner, "Apollo")
        zeus = await self.project(bob, "Zeus", 50_000)
        for user in (ann, bob):
            await self.run(pc.AddProjectMember(owner, apollo, user.user_id), owner)
        tasks = [await self.task(ann, apollo, f"Task {i}") for i in range(6)]
        await self.run(tc.AssignTask(owner, tasks[0], ann.user_id), owner)
        await self.run(tc.AssignTask(owner, tasks[1], bob.user_id), owner)
        await self.run(tc.MoveTask(ann, tasks[0], "in_progress"), ann)
        await self.run(tc.MoveTask(ann, tasks[0], "done"), ann)
        await self.run(tc.MoveTask(ann, tasks[1], "done"), ann)
        await self.run(tc.MoveTask(ann, tasks[2], "done"), ann)
        await self.run(tc.ArchiveTask(owner, tasks[2]), owner)
        await self.run(tc.EditTask(ann, tasks[3], title="Task three, renamed"), ann)
        await self.run(tc.AssignTask(owner, tasks[1], None), owner)
        await self.run(pc.RecordProjectSpend(owner, apollo, 25_000, "licences"), owner)
        await self.run(pc.ChangeProjectBudget(owner, apollo, 200_000), owner)
        await self.run(pc.UpdateProject(owner, apollo, name="Apollo 11"), owner)
        await self.run(uc.UpdateUser(owner, ann.user_id, name="Ann Lee"), owner)
        await self.run(pc.ChangeProjectStatus(bob, zeus, "on_hold"), bob)
        await self.task(bob, zeus, "Zeus task")
        await self.run(pc.RemoveProjectMember(owner, apollo, bob.user_id), owner)
        await self.run(uc.UpdateUser(bob, bob.user_id, name="Robert"), bob)
        return {
            "owner": owner,
            "ann": ann,
            "bob": bob,
            "apollo": apollo,
            "zeus": zeus,
            "tasks": tasks,
        }

    async def departures(self) -> dict[str, Any]:
        """Issue 16's rules on a tenant of its own: project roles, a plan change, a user who
        leaves a project and one who is deactivated (their tasks unassigned), and an archived
        project giving its slot back."""
        owner = await self.tenant("Hermes Inc", "Hana")
        ivo, cara = await self.invite(owner, "Ivo"), await self.invite(owner, "Cara")
        apollo = await self.project(owner, "Apollo")
        hermes = await self.project(cara, "Hermes")
        for user in (ivo, cara):
            await self.run(pc.AddProjectMember(owner, apollo, user.user_id), owner)
        tasks = [await self.task(owner, apollo, f"Task {i}") for i in range(3)]
        await self.run(tc.AssignTask(owner, tasks[0], ivo.user_id), owner)
        await self.run(tc.AssignTask(owner, tasks[1], cara.user_id), owner)
        await self.run(tc.AssignTask(owner, tasks[2], cara.user_id), owner)
        await self.run(pc.ChangeProjectMemberRole(owner, apollo, ivo.user_id, "manager"), owner)
        await self.run(uc.ChangePlan(owner, "team"), owner)
        await self.run(pc.RemoveProjectMember(ivo, apollo, ivo.user_id), ivo)
        await self.run(uc.DeactivateUser(owner, cara.user_id), owner)
        await self.run(pc.ChangeProjectStatus(owner, hermes, "cancelled"), owner)
        await self.run(pc.ChangeProjectStatus(owner, hermes, "archived"), owner)
        return {"owner": owner, "apollo": apollo, "hermes": hermes, "tasks": tasks}

    async def task_fields(self) -> dict[str, Any]:
        """Issue 16 s.7 on a tenant of its own: due dates set, moved and cleared, priorities,
        comments added, edited and deleted, a comment author renamed, a commented task archived."""
        owner = await self.tenant("Fields Ltd", "Fay")
        gus = await self.invite(owner, "Gus")
        apollo = await self.project(owner, "Apollo")
        await self.run(pc.AddProjectMember(owner, apollo, gus.user_id), owner)
        past = datetime(2026, 1, 2, 8, 0, tzinfo=UTC)
        later = datetime(2199, 6, 1, 12, 0, tzinfo=UTC)
        late = str((await self.run(tc.CreateTask(owner, apollo, "Late", due_at=past), owner))["id"])
        soon = await self.task(owner, apollo, "Soon")
        gone = await self.task(owner, apollo, "Gone")
        await self.run(
            tc.EditTask(owner, soon, priority="high", due_at=later, set_due_at=True), owner
        )
        await self.run(tc.EditTask(owner, gone, due_at=past, set_due_at=True), owner)
        await self.run(tc.AssignTask(owner, soon, gus.user_id), owner)
        first = await self.run(tc.AddTaskComment(gus, late, "first"), gus)
        second = await self.run(tc.AddTaskComment(owner, late, "second"), owner)
        await self.run(tc.AddTaskComment(gus, gone, "on a task that goes"), gus)
        await self.run(tc.EditTaskComment(gus, late, first["id"], "first, edited"), gus)
        await self.run(tc.DeleteTaskComment(owner, late, second["id"]), owner)
        await self.run(uc.UpdateUser(owner, gus.user_id, name="Gustav"), owner)
        await self.run(tc.EditTask(owner, soon, due_at=None, set_due_at=True), owner)
        await self.run(tc.EditTask(owner, soon, due_at=later, set_due_at=True), owner)
        await self.run(tc.ArchiveTask(owner, gone), owner)
        await self.run(tc.MoveTask(owner, soon, "done"), owner)
        return {"owner": owner, "gus": gus, "apollo": apollo, "late": late, "soon": soon}


async def dump(engine: AsyncEngine) -> dict[str, Any]:
    """Every read-model table and checkpoint, as sorted rows: equal dumps mean equal models."""
    out: dict[str, Any] = {}
    async with engine.connect() as connection:
        for cls in PROJECTORS:
            for table in cls.tables:
                rows = await connection.execute(sa.select(table))
                out[table.name] = sorted(repr(tuple(r)) for r in rows)
        checkpoints = await connection.execute(
            sa.text("SELECT name, position FROM projection_checkpoint ORDER BY name")
        )
        out["checkpoints"] = [tuple(r) for r in checkpoints]
    return out
